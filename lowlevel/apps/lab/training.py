"""Training a :class:`~lowlevel.apps.lab.regression.SequenceRegressor` and logging its gradients.

``make_regression_step(model, optimizer, clip)`` is the tutorial's loop in phases
(forward, backward, clip, update), compiled; it reports what a gradient study needs:
the loss, the global norm *before* clipping, each variable's norm, and whether
clipping acted. :class:`lowlevel.gradient_log.GradientLog` (the library's one log, re-exported here)
keeps those rows and writes them to CSV, JSON and TensorBoard. :func:`train_regressor`
ties both to a task's batches.
"""

from __future__ import annotations

import math

import tensorflow as tf

from lowlevel.gradient_log import GradientLog
from lowlevel.apps.lab.regression import mean_squared_error
from lowlevel.train import Clip, make_train_step


def make_regression_step(model, optimizer, clip: Clip = Clip(), loss_fn=mean_squared_error):
    """A compiled ``step(x, y) -> {loss, global_norm, norms, clipped, applied, ...}``:
    :func:`lowlevel.train.make_train_step` on ``model.variables_in_order``.

    ``x [batch, time, features]``, ``y [batch, 1]``; ``norms [num_variables]`` (its
    ``variable_norms``) are the pre-clip ``‖g‖_2`` of ``model.variables_in_order``; no
    variable moves when the clipped gradients are not all finite (``applied`` False).
    """
    step = make_train_step(model, optimizer, clip, loss_fn,
                           variables=model.variables_in_order, metrics={})

    def regression_step(x, y):
        report = step(x, y)
        return {**report, "norms": report["variable_norms"]}

    return regression_step


def variable_names(model) -> list:
    """``['rnn/kernel', 'rnn/recurrent_kernel', ..., 'head/bias']`` in step order."""
    names = []
    for layer, variables in model.layers.items():
        for v in variables:
            names.append(f"{layer}/{v.name.split('/')[-1].split(':')[0]}")
    return names


def train_regressor(model, optimizer, batches, steps, clip: Clip = Clip(), log=None,
                    stop_when_non_finite=True, blowup=1e6, loss_fn=mean_squared_error,
                    before_step=None):
    """Train ``model`` for ``steps`` batches from ``batches(step) -> (x, y)``.

    Returns the :class:`GradientLog` (a new one unless ``log`` is given). Stops early
    once the loss is NaN/inf, an update was skipped as non-finite, or the loss is above
    ``blowup`` times the first loss (diverged: nothing after that is informative).
    ``loss_fn(predictions, y)``: the training loss;
    ``before_step(i)``: called before step ``i`` updates the weights (e.g. a
    :class:`lowlevel.gradient_record.GradientRecorder` at its checkpoints).
    """
    log = log if log is not None else GradientLog(variable_names(model))
    train_step = make_regression_step(model, optimizer, clip, loss_fn)
    first = None
    for i in range(steps):
        if before_step is not None:
            before_step(i)
        x, y = batches(i)
        out = train_step(tf.constant(x), tf.constant(y))
        row = log.record(i, out["loss"].numpy(), out["global_norm"].numpy(),
                         out["norms"].numpy(), out["clipped"].numpy())
        first = row["loss"] if first is None else first
        if stop_when_non_finite and (not math.isfinite(row["loss"]) or not out["applied"]
                                     or row["loss"] > blowup * first):
            break
    return log
