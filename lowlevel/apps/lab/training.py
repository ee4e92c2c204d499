"""Training a :class:`~lowlevel.apps.lab.regression.SequenceRegressor` and logging its gradients.

``make_regression_step(model, optimizer, clip)`` is the tutorial's loop in phases
(forward, backward, clip, update), compiled; it reports what a gradient study needs:
the loss, the global norm *before* clipping, each variable's norm, and whether
clipping acted. :class:`GradientLog` keeps those rows and writes them to CSV, JSON
and TensorBoard. :func:`train_regressor` ties both to a task's batches.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import tensorflow as tf

from lowlevel import clipping
from lowlevel.apps.lab.regression import mean_squared_error
from lowlevel.train import Clip, clip_gradients


def make_regression_step(model, optimizer, clip: Clip = Clip(), loss_fn=mean_squared_error):
    """A compiled ``step(x, y) -> {loss, global_norm, norms, clipped}``.

    ``x [batch, time, features]``, ``y [batch, 1]``; ``norms [num_variables]`` are the
    pre-clip ``‖g‖_2`` of ``model.variables_in_order``.
    """
    variables = model.variables_in_order

    @tf.function
    def step(x, y):
        # Forward.
        with tf.GradientTape() as tape:
            loss = loss_fn(model(x), y)
        # Backward.
        grads = tape.gradient(loss, variables)
        norms = tf.stack([clipping.global_norm([g]) for g in grads])  # [num_variables]
        # Clip (norms are measured before clipping).
        grads, norm, acted = clip_gradients(grads, clip)
        # Update.
        optimizer.apply_gradients(zip(grads, variables))
        return {"loss": loss, "global_norm": norm, "norms": norms, "clipped": acted}

    return step


def variable_names(model) -> list:
    """``['rnn/kernel', 'rnn/recurrent_kernel', ..., 'head/bias']`` in step order."""
    names = []
    for layer, variables in model.layers.items():
        for v in variables:
            names.append(f"{layer}/{v.name.split('/')[-1].split(':')[0]}")
    return names


# TensorBoard's scalar plugin tag. tf.summary.scalar needs the `tensorboard` package,
# which the project does not depend on; tf.summary.write with this metadata writes the
# same event TensorBoard's scalar_v2 writes, from TensorFlow alone.
_SCALAR_METADATA = tf.compat.v1.SummaryMetadata(
    plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


def _scalar(tag, value):
    tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)


class GradientLog:
    """Per-step gradient records: loss, pre-clip global norm, per-layer norms, clipping.

    ``GradientLog(variable_names, tensorboard_dir=None)``; ``record(step, loss,
    global_norm, norms, clipped)`` with ``norms`` one ``‖g‖_2`` per variable. Layer norms
    (``'rnn'`` for ``'rnn/kernel'``, ...) are ``sqrt(sum of their variables' norms²)``.
    With ``tensorboard_dir``, every record is also written as scalars
    (``loss``, ``grad/global_norm``, ``grad/clipped``, ``grad/<layer>``,
    ``grad/<layer>/<variable>``) through ``tf.summary.create_file_writer`` (TensorBoard's scalars plugin).
    """

    def __init__(self, variable_names, tensorboard_dir=None):
        self.variable_names = list(variable_names)
        self.layer_names = list(dict.fromkeys(n.split("/")[0] for n in self.variable_names))
        self.rows = []
        self._writer = (tf.summary.create_file_writer(str(tensorboard_dir))
                        if tensorboard_dir is not None else None)

    @property
    def columns(self) -> list:
        return (["step", "loss", "global_norm", "clipped"]
                + [f"norm/{n}" for n in self.layer_names]
                + [f"norm/{n}" for n in self.variable_names])

    def record(self, step, loss, global_norm, norms, clipped) -> dict:
        norms = np.asarray(norms, dtype=np.float64).reshape(-1)
        if norms.shape[0] != len(self.variable_names):
            raise ValueError(f"`norms` must hold one norm per variable "
                             f"({len(self.variable_names)}); received {norms.shape[0]}.")
        row = {"step": int(step), "loss": float(loss), "global_norm": float(global_norm),
               "clipped": bool(clipped)}
        for layer in self.layer_names:
            squares = [norms[i] ** 2 for i, n in enumerate(self.variable_names)
                       if n.split("/")[0] == layer]
            row[f"norm/{layer}"] = math.sqrt(sum(squares))
        for name, value in zip(self.variable_names, norms):
            row[f"norm/{name}"] = float(value)
        self.rows.append(row)
        if self._writer is not None:
            with self._writer.as_default(step=int(step)):
                _scalar("loss", row["loss"])
                _scalar("grad/global_norm", row["global_norm"])
                _scalar("grad/clipped", float(row["clipped"]))
                for key, value in row.items():
                    if key.startswith("norm/"):
                        _scalar("grad/" + key[len("norm/"):], value)
        return row

    def column(self, name) -> np.ndarray:
        return np.array([row[name] for row in self.rows], dtype=np.float64)

    def write_csv(self, path) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)

    def write_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump({"columns": self.columns, "rows": self.rows}, f)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()


def train_regressor(model, optimizer, batches, steps, clip: Clip = Clip(), log=None,
                    stop_when_non_finite=True, blowup=1e6):
    """Train ``model`` for ``steps`` batches from ``batches(step) -> (x, y)``.

    Returns the :class:`GradientLog` (a new one unless ``log`` is given). Stops early
    once the loss is NaN/inf or above ``blowup`` times the first loss (diverged:
    nothing after that is informative).
    """
    log = log if log is not None else GradientLog(variable_names(model))
    train_step = make_regression_step(model, optimizer, clip)
    first = None
    for i in range(steps):
        x, y = batches(i)
        out = train_step(tf.constant(x), tf.constant(y))
        row = log.record(i, out["loss"].numpy(), out["global_norm"].numpy(),
                         out["norms"].numpy(), out["clipped"].numpy())
        first = row["loss"] if first is None else first
        if stop_when_non_finite and (not math.isfinite(row["loss"])
                                     or row["loss"] > blowup * first):
            break
    return log
