"""The training loop of a run: steps, the NaN stop, epoch ends, the kept weights, the test.

Data order is a pure function of ``(seed, epoch)`` (``epoch_order``), so a resume at step
``k`` of an epoch slices from batch ``k`` and ends bit-identical to an uninterrupted run.
What is checked after each step is what was applied: a non-finite loss or clipped update
was not applied (``lowlevel.train.apply_if_finite``) and stops the run before any save.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from lowlevel.apps.experiment import rundir
from lowlevel.apps.experiment.records import EPOCH_FIELDS, write_outputs
from lowlevel.gradient_log import GradientLog, scalar


class NonFiniteError(RuntimeError):
    """A NaN or Inf loss or clipped update stopped training (nothing applied or saved)."""


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training rows of ``epoch`` (0-based), a pure function of ``(seed, epoch)``."""
    return np.random.default_rng([seed, 0, epoch]).permutation(n)


def evaluate_arrays(eval_fn, x, y, batch_size, bar=None, log=None) -> dict:
    """Mean loss and accuracy over all of ``x [n, maxlen]``, in order, last batch partial.

    ``bar``: a label to show a per-batch progress bar under on ``log`` (``None``: no bar).
    """
    if len(x) == 0:
        raise ValueError("nothing to evaluate: the split holds no examples.")
    loss = correct = 0.0
    starts = range(0, len(x), batch_size)
    for start in tqdm(starts, desc=bar, disable=bar is None, leave=False, unit="batch",
                      file=log):
        l, c = eval_fn(x[start:start + batch_size], y[start:start + batch_size])
        loss, correct = loss + float(l), correct + float(c)
    return {"loss": loss / len(x), "accuracy": correct / len(x)}


@dataclasses.dataclass
class Run:
    """What the loop needs; built by ``lowlevel.apps.experiment.run.train``."""

    config: Any
    model: Any
    step_fn: Callable
    eval_fn: Callable
    progress: dict          # checkpointed position: epoch, step_in_epoch, global_step, ...
    manager: Any            # tf.train.CheckpointManager of out/checkpoints
    splits: dict
    log: Any
    say: Callable
    quiet: bool
    on_step: Callable | None = None
    recorder: Any = None    # recording.RunRecorder with --record-gradients, else None

    @property
    def out(self):
        return self.config.out

    def bar(self, label):
        return None if self.quiet else label

    def finish(self, history) -> dict:
        """The kept weights, then the test set, once; ``metrics.json`` content."""
        best_epoch = int(self.progress["best_epoch"]) or None
        kept_epoch = kept_weights(self, best_epoch)
        tf.train.Checkpoint(model=self.model).write(os.path.join(self.out, "kept", "weights"))
        self.say(f"testing the weights of epoch {kept_epoch}")
        test = evaluate_arrays(self.eval_fn, *self.splits["test"], self.config.batch_size,
                               self.bar("test"), self.log)
        print(f"test (weights of epoch {kept_epoch}): loss {test['loss']:.4f} "
              f"accuracy {test['accuracy']:.4f}", file=self.log)
        return write_outputs(self.out, self.config, history, best_epoch, kept_epoch, test)


def train_epochs(run: Run) -> list:
    """Train from the checkpointed position to ``config.epochs``; the epoch history."""
    config, progress = run.config, run.progress
    x_train, _ = run.splits["train"]
    steps = len(x_train) // config.batch_size  # full batches only
    writer = tf.summary.create_file_writer(os.path.join(run.out, "tensorboard"))
    # gradients.csv: the loss, pre-clip global norm, clipped flag and each layer's norm.
    gradient_log = GradientLog([f"{layer}/{i}" for i, layer in
                                enumerate(run.model.trainable_layer_names)],
                               csv_path=os.path.join(run.out, "gradients.csv"),
                               keep_steps=int(progress["global_step"]),
                               variable_columns=False)
    history = json.loads(progress["history"].numpy().decode())
    _record(run, int(progress["global_step"]), writer)  # step 0: the initial weights
    first = True
    while int(progress["epoch"]) < config.epochs:
        if first:
            run.say("tracing the first step (a few seconds)")
            first = False
        started = time.perf_counter()
        _train_steps(run, steps, writer, gradient_log)
        history.append(_end_of_epoch(run, steps, writer, time.perf_counter() - started))
        progress["history"].assign(json.dumps(history))
        progress["epoch"].assign(len(history))
        progress["step_in_epoch"].assign(0)
        progress["sums"].assign(tf.zeros([4], tf.float64))
        run.manager.save(checkpoint_number=int(progress["global_step"]))
        write_outputs(run.out, config, history, int(progress["best_epoch"]) or None)
    writer.close()
    return history


def _train_steps(run, steps, writer, gradient_log):
    """The rest of the current epoch: step, NaN check, records, checkpoints."""
    config, progress = run.config, run.progress
    x_train, y_train = run.splits["train"]
    epoch = int(progress["epoch"])
    order = epoch_order(config.seed, epoch, len(x_train))
    bar = tqdm(total=steps, initial=int(progress["step_in_epoch"]), disable=run.quiet,
               desc=f"epoch {epoch + 1}/{config.epochs}", file=run.log, leave=False,
               unit="step")
    with bar:
        for k in range(int(progress["step_in_epoch"]), steps):
            rows = order[k * config.batch_size:(k + 1) * config.batch_size]
            metrics = run.step_fn(x_train[rows], y_train[rows])
            step = int(progress["global_step"]) + 1
            loss, norm = float(metrics["loss"]), float(metrics["global_norm"])
            if not (bool(metrics["applied"]) and math.isfinite(loss)):
                raise NonFiniteError(
                    f"non-finite training at step {step} (epoch {epoch + 1}, batch {k + 1}): "
                    f"loss {loss}, gradient global norm {norm}, clipped update norm "
                    f"{float(metrics['applied_norm'])}; the update was not applied and "
                    f"nothing was saved; the last good checkpoint is "
                    f"{run.manager.latest_checkpoint}.")
            progress["global_step"].assign(step)
            progress["step_in_epoch"].assign(k + 1)
            progress["sums"].assign_add([loss, float(metrics["accuracy"]), norm,
                                         float(metrics["clipped"])])
            row = gradient_log.record(step, loss, norm, metrics["variable_norms"],
                                      metrics["clipped"])
            with writer.as_default(step=step):
                for key in ("loss", "accuracy", "global_norm", "clipped"):
                    scalar(f"train/{key}", metrics[key])
                for layer in gradient_log.layer_names:
                    scalar(f"grad/{layer}", row[f"norm/{layer}"])
            _record(run, step, writer)
            # (An epoch's last step is saved by the epoch-end checkpoint.)
            if config.checkpoint_every and step % config.checkpoint_every == 0 and k + 1 < steps:
                run.manager.save(checkpoint_number=step)
            sums = progress["sums"].numpy() / (k + 1)
            bar.set_postfix(loss=f"{sums[0]:.4f}", accuracy=f"{sums[1]:.4f}", refresh=False)
            bar.update(1)
            if run.on_step is not None:
                run.on_step(step, metrics, run.model)


def _record(run, step, writer):
    """``--record-gradients``: measure the recurrent layers if ``step`` is a checkpoint."""
    if run.recorder is not None and run.recorder.wants(step):
        run.recorder.record(step, writer)


def _end_of_epoch(run, steps, writer, seconds) -> dict:
    """Validate, keep the best weights, log the epoch's row."""
    progress, epoch = run.progress, int(run.progress["epoch"])
    sums = progress["sums"].numpy() / steps
    row = {"epoch": epoch + 1, "loss": sums[0], "accuracy": sums[1],
           "val_loss": None, "val_accuracy": None,
           "global_norm_mean": sums[2], "clipped_fraction": sums[3]}
    if len(run.splits["val"][0]):
        val = evaluate_arrays(run.eval_fn, *run.splits["val"], run.config.batch_size,
                              run.bar("validation"), run.log)
        row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        if val["accuracy"] > float(progress["best_val_accuracy"]):
            progress["best_val_accuracy"].assign(val["accuracy"])
            progress["best_epoch"].assign(epoch + 1)
            tf.train.Checkpoint(model=run.model).write(_best_prefix(run))
    row = {key: (None if v is None else float(v)) for key, v in row.items()}
    row["epoch"], row["seconds"] = epoch + 1, seconds
    with writer.as_default(step=int(progress["global_step"])):
        for key in EPOCH_FIELDS[1:]:
            if row[key] is not None:
                scalar(f"epoch/{key}", row[key])
    writer.flush()
    print(f"epoch {epoch + 1}/{run.config.epochs}: "
          + " ".join(f"{key} {row[key]:.4f}" for key in EPOCH_FIELDS[1:]
                     if row[key] is not None) + f" ({row['seconds']:.1f} s)", file=run.log)
    return row


def _best_prefix(run):
    return os.path.join(run.out, "best", "weights")


def kept_weights(run, best_epoch) -> int:
    """Load the weights ``keep`` asks for into the model; the epoch they come from.

    ``best``: ``best/weights``; if that file is damaged, the epoch-end checkpoint of the
    best epoch when still on disk; else (said on the log) the last epoch's weights.
    """
    config = run.config
    if config.keep != "best" or best_epoch is None:
        return config.epochs
    why = rundir.damage(_best_prefix(run))
    if why is None:
        tf.train.Checkpoint(model=run.model).read(_best_prefix(run)).assert_existing_objects_matched()
        return best_epoch
    steps = len(run.splits["train"][0]) // config.batch_size
    fallback = os.path.join(run.out, "checkpoints", f"ckpt-{best_epoch * steps}")
    if os.path.exists(fallback + ".index") and rundir.damage(fallback) is None:
        print(f"best weights {_best_prefix(run)} are damaged ({why}); using the end-of-epoch "
              f"checkpoint {fallback} of the same epoch {best_epoch}", file=run.log)
        tf.train.Checkpoint(model=run.model).read(fallback).expect_partial()
        return best_epoch
    print(f"best weights {_best_prefix(run)} are damaged ({why}) and epoch {best_epoch}'s "
          f"checkpoint is gone; keeping the last epoch's weights instead", file=run.log)
    return config.epochs
