"""One per-step gradient log for every training loop: rows in memory, CSV, JSON, TensorBoard.

Per training step: the loss, the global gradient norm *before* clipping, whether
clipping acted, each layer's norm and each variable's norm. A layer's norm is the root
of the sum of its variables' squared norms::

    ‖g_layer‖ = sqrt(Σ_{v in layer} ‖g_v‖²),     ‖g‖_global = sqrt(Σ_layers ‖g_layer‖²)

Variables are named ``'<layer>/<variable>'`` (``'rnn/kernel'``); the layer is the part
before the first ``/``. TensorBoard scalars are written with ``tf.summary.write`` and
the scalar plugin's metadata, so the ``tensorboard`` package is not needed to write them.
"""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import tensorflow as tf

from lowlevel._files import atomic_write

# TensorBoard's scalar-plugin tag: the event tf.summary.scalar would write, from core TF.
_SCALAR_METADATA = tf.compat.v1.SummaryMetadata(
    plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


def scalar(tag, value) -> None:
    """Write one TensorBoard scalar under the default writer (and its step)."""
    tf.summary.write(tag, tf.cast(value, tf.float32), metadata=_SCALAR_METADATA)


class GradientLog:
    """``GradientLog(variable_names, tensorboard_dir=None, csv_path=None, keep_steps=None,
    variable_columns=True)``.

    ``record(step, loss, global_norm, norms, clipped)`` with ``norms`` one ``‖g‖_2`` per
    variable, in ``variable_names`` order. Rows are kept in ``rows``; with ``csv_path``
    each row is also appended to that file as it comes (a run that stops early keeps
    its rows), and with ``keep_steps`` an existing file keeps its whole rows up to that
    step (a resumed run redoes the rest; a row torn by a kill, or a repeated step, is
    dropped; the kept rows are rewritten through a temporary file, so a kill during the
    rewrite leaves the old file whole). In the file every field is a number (``clipped``
    1 or 0), which is how a torn row shows. With ``tensorboard_dir`` every row is
    written as scalars ``loss``, ``grad/global_norm``, ``grad/clipped``,
    ``grad/<layer>``, ``grad/<layer>/<variable>``. ``variable_columns=False`` keeps the
    per-variable norms out of the columns (the layers' stay).
    """

    def __init__(self, variable_names, tensorboard_dir=None, csv_path=None, keep_steps=None,
                 variable_columns=True):
        self.variable_names = list(variable_names)
        self.layer_names = list(dict.fromkeys(n.split("/")[0] for n in self.variable_names))
        self.variable_columns = bool(variable_columns)
        self.rows = []
        self._writer = (tf.summary.create_file_writer(str(tensorboard_dir))
                        if tensorboard_dir is not None else None)
        self._csv_path = csv_path
        if csv_path is not None:
            kept = whole_rows(csv_path, self.columns, keep_steps) if keep_steps else []
            with atomic_write(csv_path) as f:
                writer = csv.DictWriter(f, fieldnames=self.columns)
                writer.writeheader()
                writer.writerows(kept)

    @property
    def columns(self) -> list:
        variables = self.variable_names if self.variable_columns else []
        return (["step", "loss", "global_norm", "clipped"]
                + [f"norm/{n}" for n in self.layer_names]
                + [f"norm/{n}" for n in variables])

    def record(self, step, loss, global_norm, norms, clipped) -> dict:
        """Append one row; returns it (``norm/<layer>`` and ``norm/<variable>`` keys)."""
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
        if self._csv_path is not None:
            with open(self._csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns,
                               extrasaction="ignore").writerow(_as_numbers(row))
        if self._writer is not None:
            self._write_scalars(row)
        return row

    def _write_scalars(self, row):
        with self._writer.as_default(step=row["step"]):
            scalar("loss", row["loss"])
            scalar("grad/global_norm", row["global_norm"])
            scalar("grad/clipped", float(row["clipped"]))
            for key, value in row.items():
                if key.startswith("norm/"):
                    scalar("grad/" + key[len("norm/"):], value)

    def column(self, name) -> np.ndarray:
        return np.array([row[name] for row in self.rows], dtype=np.float64)

    def write_csv(self, path) -> None:
        with atomic_write(path) as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(_as_numbers(row) for row in self.rows)

    def write_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump({"columns": self.columns, "rows": self.rows}, f)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()


def _as_numbers(row) -> dict:
    """``row`` as the CSV holds it: every field a number (``clipped`` 1 or 0)."""
    return {**row, "clipped": int(bool(row["clipped"]))}


def whole_rows(path, columns, keep_steps) -> list:
    """The rows of the CSV ``path`` with every column a number and ``step <= keep_steps``,
    each step once (the first); ``[]`` when there is no file."""
    if not os.path.exists(path):
        return []
    rows, seen = [], set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                step = int(row["step"])
                [float(row[c]) for c in columns]  # a torn row has None or a cut number
            except (KeyError, TypeError, ValueError):
                continue
            if step <= keep_steps and step not in seen and None not in row:
                seen.add(step)
                rows.append(row)
    return rows
