"""The IMDB sentiment experiment as a tool: one frozen config, one resumable training driver.

``train(ExperimentConfig(...))`` (the settings: :mod:`lowlevel.apps.experiment.config`) runs
the tutorial's experiment with three fixes:

* validation on a split carved from the TRAINING set (``val_split``; the tutorial
  validated on the test set), the best epoch's weights kept by validation accuracy
  (``keep='best'``), and the test set evaluated ONCE, at the end, on the kept weights;
* checkpoints (``tf.train.CheckpointManager``) at every epoch end and every
  ``checkpoint_every`` steps, holding the model, the optimiser, every dropout
  ``tf.random.Generator`` and the data position, so a run killed at any moment and
  resumed (``resume=True``) ends with bit-identical weights;
* a NaN or Inf loss or gradient norm stops training, naming the step, without
  writing a checkpoint: the last good one stays intact.

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
norms), ``curves.png``, ``tensorboard/`` (the last five: :mod:`lowlevel.apps.experiment.records`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import tensorflow as tf

from lowlevel import distribute
from lowlevel.apps.data import glove, imdb, synthetic
from lowlevel.apps.experiment.config import (OPTIMIZERS, RESUMABLE_CHANGES, ExperimentConfig,
                                        flag)
from lowlevel.models import SentimentClassifier
from lowlevel.apps.experiment import epochs, rundir
from lowlevel.apps.experiment.epochs import NonFiniteError, epoch_order, evaluate_arrays  # noqa: F401
from lowlevel.apps.experiment.records import write_json
from lowlevel.train import accuracy, binary_cross_entropy, make_train_step


# ------------------------------------------------------------------------------ data

def load_splits(config: ExperimentConfig):
    """``{'train': (x, y), 'val': (x, y), 'test': (x, y)}``; x ``[n, maxlen]`` int32."""
    config.check_files()
    if config.data == "synthetic":
        (x, y), (x_test, y_test) = synthetic.load(config.num_train, config.num_test,
                                                  config.num_words, config.maxlen, config.seed)
    else:
        (x, y), (x_test, y_test) = imdb.load(config.num_words, config.maxlen, config.imdb_path)
    order = np.random.default_rng([config.seed, 1]).permutation(len(x))
    n_val = int(round(config.val_split * len(x)))
    val, train = order[:n_val], order[n_val:]
    if len(train) < config.batch_size:
        raise ValueError(f"`--batch-size` must be <= the {len(train)} training examples left "
                         f"after the validation split; received {config.batch_size}.")
    return {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": (x_test, y_test)}


# ----------------------------------------------------------------------------- model

def build_model(config: ExperimentConfig, embedding_dim=None, embedding_matrix=None):
    return SentimentClassifier(
        cell=config.cell, style=config.style, num_words=config.num_words,
        embedding_dim=embedding_dim or config.embedding_dim, units=config.units,
        num_layers=config.layers, dropout=config.dropout, head_units=config.units,
        head_dropout=config.dropout, embedding_matrix=embedding_matrix,
        trainable_embedding=not config.freeze_embedding, seed=config.seed,
        implementation=config.implementation if config.style == "layer" else None)


def dropout_generators(model) -> list:
    """Every ``tf.random.Generator`` in ``model`` (its own and each cell's), in a fixed order."""
    return list(model._flatten(predicate=lambda v: isinstance(v, tf.random.Generator)))


def make_eval_fn(model, maxlen):
    """``fn(ids, labels) -> (summed loss, correct count)`` for any batch size, dropout off."""

    @tf.function(input_signature=[tf.TensorSpec([None, maxlen], tf.int32),
                                  tf.TensorSpec([None], tf.int32)])
    def fn(ids, labels):
        logits = model(ids, training=False)  # [batch, 1]
        n = tf.cast(tf.shape(ids)[0], tf.float32)
        return binary_cross_entropy(logits, labels) * n, accuracy(logits, labels) * n

    return fn


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
        optimizer = OPTIMIZERS[config.optimizer](config.lr)
    if config.strategy == "default":
        step_fn = make_train_step(model, optimizer, config.clipping())
    else:
        distribute.check_batch_size(strategy, config.batch_size)
        step_fn = distribute.make_distributed_train_step(strategy, model, optimizer,
                                                         config.clipping())
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
                   {"config": dataclasses.asdict(config),
                    "embedding_dim": int(model.embedding.embeddings.shape[1])})
    run = epochs.Run(config=config, model=model, step_fn=step_fn,
                     eval_fn=make_eval_fn(model, config.maxlen), progress=progress,
                     manager=manager, splits=splits, log=log, say=say, quiet=quiet,
                     on_step=on_step)
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
            saved = json.load(f)["config"]
        saved = {**{f.name: f.default for f in dataclasses.fields(ExperimentConfig)}, **saved}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"`--resume`: {path} is missing or unreadable ({error}); nothing "
                         "was changed.") from None
    # A field newer than the run (e.g. `strategy`) was at its default when it ran.
    changed = [f"{flag(k)} {saved.get(k)!r} -> {v!r}" for k, v in dataclasses.asdict(config).items()
               if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if changed:
        raise ValueError("`--resume` must use the run's own settings; changed: "
                         f"{'; '.join(changed)}.")


# ------------------------------------------------------------------ evaluate, predict

def load_run(run_dir):
    """``(config, model)`` of a finished run, the model holding the kept weights."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`--run`: {run_dir!r} holds no run (no config.json).")
    try:
        with open(path) as f:
            saved = json.load(f)
        config = ExperimentConfig(**saved["config"])
        embedding_dim = int(saved["embedding_dim"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"`--run`: {path} is damaged ({type(error).__name__}: {error}).") \
            from None
    kept = os.path.join(run_dir, "kept", "weights")
    if not tf.io.gfile.exists(kept + ".index"):
        raise FileNotFoundError(f"`--run`: {run_dir!r} has no kept weights yet (the run did "
                                "not finish; resume it with `lowlevel train --resume`).")
    why = rundir.damage(kept)
    if why is not None:
        raise ValueError(f"`--run`: the kept weights {kept} are damaged ({why}).")
    model = build_model(config, embedding_dim=embedding_dim)
    tf.train.Checkpoint(model=model).read(kept).assert_existing_objects_matched()
    return config, model


def evaluate(run_dir, batch_size=None, quiet=True) -> dict:
    """The kept weights of ``run_dir`` on the test set: ``{'loss', 'accuracy', 'examples'}``.

    ``batch_size`` ``None``: the run's; ``quiet=False`` shows a per-batch progress bar.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`--batch-size` must be an integer >= 1; received {batch_size!r}.")
    config, model = load_run(run_dir)
    x, y = load_splits(config)["test"]
    result = evaluate_arrays(make_eval_fn(model, config.maxlen), x, y,
                             batch_size or config.batch_size, None if quiet else "test")
    return {**result, "examples": len(x)}


def encode(config, text, word_index=None) -> np.ndarray:
    """One review as a ``[maxlen]`` row of ids.

    IMDB: Keras's tokenisation and the word index (``imdb.encode_text``). Synthetic: the
    corpus has ids, not words, so ``text`` is whitespace-separated integer ids as the
    corpus writes them (``synthetic.lexicon(num_words)`` lists the polar ids); the start
    id 1 is prepended when absent.
    """
    if config.data == "imdb":
        return imdb.encode_text(text, word_index, config.num_words, config.maxlen)
    try:
        ids = [int(token) for token in text.split()]
    except ValueError:
        raise ValueError("a synthetic-corpus run has no words: pass whitespace-separated "
                         f"integer ids (e.g. '1 70 120'); received {text!r}.") from None
    bad = [i for i in ids if not 0 <= i < config.num_words]
    if bad:
        raise ValueError(f"ids must be in [0, {config.num_words}); received {bad[:5]}.")
    if not ids or ids[0] != synthetic.START_CHAR:
        ids = [synthetic.START_CHAR] + ids
    return imdb.pad([ids], config.maxlen)[0]


def known_words(config, text, word_index) -> tuple:
    """``(known, total)`` words of ``text`` that get their own id (not the oov id)."""
    if config.data != "imdb":
        return len(text.split()), len(text.split())  # ids: all known
    words = imdb.text_to_word_sequence(text)
    known = [w for w in words
             if w in word_index and word_index[w] + 3 < config.num_words]  # index_from 3
    return len(known), len(words)


def predict_with_coverage(run_dir, texts, word_index_path=None) -> list:
    """``[{'probability', 'known', 'words'}]`` per review under the kept weights:
    p(positive) and how many of its words the model has an id for."""
    config, model = load_run(run_dir)
    word_index = None
    if config.data == "imdb":
        word_index = imdb.get_word_index(word_index_path or config.word_index)
    rows = np.stack([encode(config, text, word_index) for text in texts])  # [n, maxlen]
    probabilities = model.probabilities(tf.constant(rows, tf.int32)).numpy()[:, 0]
    return [{"probability": float(p), **dict(zip(("known", "words"),
                                                 known_words(config, text, word_index)))}
            for p, text in zip(probabilities, texts)]


def predict(run_dir, texts, word_index_path=None) -> list:
    """p(positive) of each review in ``texts`` under the kept weights of ``run_dir``."""
    return [r["probability"] for r in predict_with_coverage(run_dir, texts, word_index_path)]
