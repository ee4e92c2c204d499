"""The IMDB sentiment experiment as a tool: one frozen config, one resumable training driver.

``train(ExperimentConfig(...))`` (the settings: :mod:`lowlevel.apps.experiment.config`) runs
the tutorial's experiment with these fixes:

* validation on a split carved from the TRAINING set (``val_split``; the tutorial
  validated on the test set), the best epoch's weights kept by validation accuracy
  (``keep='best'``), and the test set evaluated ONCE, at the end, on the kept weights;
* checkpoints (``tf.train.CheckpointManager``) at every epoch end and every
  ``checkpoint_every`` steps, holding the model, the optimiser, every dropout
  ``tf.random.Generator`` and the data position, so a run killed at any moment and
  resumed (``resume=True``) ends with bit-identical weights;
* a NaN or Inf loss or clipped update is never applied and stops training, naming
  the step, without writing a checkpoint: the last good one stays intact;
* the run directory is locked while a run writes to it, a resume starts only from an
  intact checkpoint inside it (damaged newer ones are skipped and named), and a run
  that fails validation leaves no directory behind (:mod:`lowlevel.apps.experiment.rundir`).

The loop itself is :mod:`lowlevel.apps.experiment.epochs`; data splits and the model,
:mod:`~lowlevel.apps.experiment.pieces`; ``evaluate``/``predict``,
:mod:`~lowlevel.apps.experiment.inference` (all importable from here).

Data order is a pure function of ``(seed, epoch)``: the training rows of epoch ``e``
are ``np.random.default_rng([seed, 0, e]).permutation(n)``, cut into full batches by
slicing (the remainder is dropped), so a resume at step ``k`` of an epoch slices from
batch ``k``. The validation rows are ``default_rng([seed, 1]).permutation(n)[:n_val]``.

``strategy`` ``mirrored`` or ``multiworker`` trains data-parallel on the same global
batches (``lowlevel.distribute``); every worker of a multiworker run reads the whole data
set, trains its share of each batch and writes its own outputs: give each its own ``out``.

Outputs in ``out``: ``config.json`` (what ``evaluate``/``predict`` rebuild the model
from), ``checkpoints/``, ``kept/`` (the kept weights), ``metrics.json``, ``metrics.csv``,
``gradients.csv`` (per step: loss, pre-clip global norm, clipping, per-layer gradient
norms), ``curves.png``, ``tensorboard/`` (the last five: :mod:`lowlevel.apps.experiment.records`);
with ``record_gradients``, ``gradients_record.npz`` (:mod:`lowlevel.apps.experiment.recording`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import tensorflow as tf

from lowlevel import distribute
from lowlevel.apps.data import glove, imdb
from lowlevel.apps.experiment import epochs, recording, rundir
from lowlevel.apps.experiment.config import (RESUMABLE_CHANGES, ExperimentConfig, flag,
                                             flag_value, optimizer_class)
from lowlevel.apps.experiment.records import write_json
from lowlevel.train import make_train_step
# The run's pieces and its uses, importable from here as before.
from lowlevel.apps.experiment.epochs import (NonFiniteError, epoch_order,  # noqa: F401
                                             evaluate_arrays)
from lowlevel.apps.experiment.inference import (encode, evaluate, known_words,  # noqa: F401
                                                load_run, predict, predict_with_coverage)
from lowlevel.apps.experiment.pieces import (build_model, dropout_generators,  # noqa: F401
                                             load_splits, make_eval_fn)


# ----------------------------------------------------------------------------- train

def train(config: ExperimentConfig, on_step=None, log=None, quiet=False) -> dict:
    """Run (or resume) the experiment; return the ``metrics.json`` content.

    ``on_step(global_step, metrics, model)`` is called after every step (and after its
    checkpoint, if any): tests use it to inject a NaN or to simulate a kill.
    Progress goes to ``log`` (default ``sys.stderr``): phase lines and a per-step bar
    unless ``quiet``, one line per epoch always. Raises ``NonFiniteError`` when a step's
    loss or clipped update is not finite (nothing applied, nothing saved); ValueError
    for bad settings, files or run directories, before anything in ``out`` changes.
    Side effect: ``keras.utils.set_random_seed(seed)`` (Python, NumPy, TensorFlow and
    Keras global seeds), which the initial weights need.
    """
    log = sys.stderr if log is None else log
    say = (lambda text: None) if quiet else (lambda text: print(text, file=log, flush=True))
    # First: multiworker configures the collective ops before TensorFlow runs anything.
    strategy = distribute.make_strategy(config.strategy)
    out = config.out
    _check_out(config)  # before anything is read or created
    say("loading data")
    splits = load_splits(config)
    matrix = _glove_matrix(config, log)
    created = not os.path.isdir(out)
    try:
        os.makedirs(out, exist_ok=True)
        with rundir.RunLock(out, log):
            _check_out(config)  # again: another run may have written meanwhile
            return _train_in(config, strategy, splits, matrix, on_step, log, say, quiet)
    finally:
        if created and os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)  # a run that failed before writing leaves no directory behind


def _check_out(config):
    """``--out`` is a directory (or absent) that holds a run exactly when resuming."""
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"`--out` {out!r} is a file; expected a run directory.")
    holds_run = any(os.path.exists(os.path.join(out, name))
                    for name in ("config.json", "checkpoints"))
    if config.resume:
        if not holds_run:
            raise ValueError(f"`--resume`: {out!r} holds no run to resume (no config.json, "
                             "no checkpoints/); nothing was changed.")
        _check_resumable(config)
    elif holds_run:
        raise ValueError(f"`--out` {out!r} already holds a run; pass --resume to continue "
                         "it or choose another --out.")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.access(out if os.path.isdir(out) else _existing_ancestor(parent), os.W_OK):
        raise ValueError(f"`--out` {out!r} is not writable.")


def _existing_ancestor(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _glove_matrix(config, log):
    if config.glove is None:
        return None
    word_index = imdb.get_word_index(config.word_index)
    matrix, report = glove.load(config.glove, word_index, config.num_words)
    # GloVe rows are ~20x longer than Keras's initial ones (RMS 0.66 for 6B 50d
    # against 0.029), and RMSprop moves each coordinate by about `lr` per step, so
    # raw vectors fine-tune slowly; a scale < 1 shortens them, keeping directions.
    print(f"GloVe {report.source}: {report.found}/{report.words_in_vocab} vocabulary words "
          f"found ({report.coverage:.1%}), dim {report.dim}, scaled by "
          f"{config.glove_scale:g}; missing e.g. {', '.join(report.missing_examples)}",
          file=log)
    if report.found == 0:
        raise ValueError(f"`--glove` {config.glove}: none of the "
                         f"{report.words_in_vocab} vocabulary words has a vector; check "
                         "the file against `--word-index`.")
    return matrix * np.float32(config.glove_scale)


def _train_in(config, strategy, splits, matrix, on_step, log, say, quiet):
    """``train`` inside the locked run directory."""
    import keras  # seeds the Keras initialisers the weights are drawn with

    out, managed = config.out, os.path.join(config.out, "checkpoints")
    resume_from = None
    if config.resume:
        resume_from = rundir.newest_intact_checkpoint(managed, log)
        if resume_from is None:
            raise ValueError(f"`--resume`: {managed} holds no intact checkpoint to resume "
                             "from; nothing was changed. Start again in another --out.")
    say("building the model")
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():  # model and optimiser variables mirrored unless 'default'
        model = build_model(config, None if matrix is None else matrix.shape[1], matrix)
        optimizer = optimizer_class(config.optimizer)(config.lr)
    if config.strategy == "default":
        step_fn = make_train_step(model, optimizer, config.clip)
    else:
        distribute.check_batch_size(strategy, config.batch_size)
        step_fn = distribute.make_distributed_train_step(strategy, model, optimizer,
                                                         config.clip)
    progress = new_progress()  # everything a resume needs, in one checkpoint
    state = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                generators=dropout_generators(model), **progress)
    if resume_from is not None:
        state.restore(resume_from).assert_existing_objects_matched()
        print(f"resumed from {resume_from} (epoch {int(progress['epoch']) + 1}, "
              f"step {int(progress['step_in_epoch'])})", file=log)
    else:
        rundir.checked_state_paths(managed)
    manager = tf.train.CheckpointManager(state, managed, max_to_keep=3)
    if resume_from is None:
        manager.save(checkpoint_number=0)  # so that a run with a config.json can resume
        write_json(os.path.join(out, "config.json"),
                   {"config": config.to_json(),
                    "embedding_dim": int(model.embedding.embeddings.shape[1])})
    recorder = None
    if config.record_gradients:
        total_steps = config.epochs * (len(splits["train"][0]) // config.batch_size)
        recorder = recording.RunRecorder(model, config.record_gradients, total_steps, splits,
                                         out, resumed_step=int(progress["global_step"]))
    run = epochs.Run(config=config, model=model, step_fn=step_fn,
                     eval_fn=make_eval_fn(model, config.maxlen), progress=progress,
                     manager=manager, splits=splits, log=log, say=say, quiet=quiet,
                     on_step=on_step, recorder=recorder)
    return run.finish(epochs.train_epochs(run))


def new_progress() -> dict:
    """The training position and history as checkpointed variables."""
    return {
        "epoch": tf.Variable(0, dtype=tf.int64),          # epoch being trained, 0-based
        "step_in_epoch": tf.Variable(0, dtype=tf.int64),  # its steps already done
        "global_step": tf.Variable(0, dtype=tf.int64),
        "sums": tf.Variable(tf.zeros([4], tf.float64)),   # loss, accuracy, norm, clipped
        "history": tf.Variable("[]"),                     # json list of finished epochs
        "best_val_accuracy": tf.Variable(-1.0, dtype=tf.float64),
        "best_epoch": tf.Variable(0, dtype=tf.int64),
    }


def _check_resumable(config):
    """The run's own ``config.json`` must agree with ``config`` (except the fields of
    ``RESUMABLE_CHANGES``); a missing or unreadable one is an error."""
    path = os.path.join(config.out, "config.json")
    try:
        with open(path) as f:
            # A field newer than the run (e.g. `strategy`) was at its default when it ran.
            saved = ExperimentConfig.from_json(json.load(f)["config"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"`--resume`: {path} is missing or unreadable ({error}); nothing "
                         "was changed.") from None
    changed = [f"{flag(name)} {flag_value(name, getattr(saved, name))!r} -> "
               f"{flag_value(name, getattr(config, name))!r}"
               for name in (f.name for f in dataclasses.fields(config))
               if name not in RESUMABLE_CHANGES and getattr(saved, name) != getattr(config, name)]
    if changed:
        raise ValueError("`--resume` must use the run's own settings; changed: "
                         f"{'; '.join(changed)}.")
