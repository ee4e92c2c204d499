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
import math
import os
import sys
import time

import numpy as np
import tensorflow as tf

from lowlevel import distribute
from lowlevel.apps.data import glove, imdb, synthetic
from lowlevel.apps.experiment.config import (OPTIMIZERS, RESUMABLE_CHANGES, ExperimentConfig,
                                        flag)
from lowlevel.models import SentimentClassifier
from lowlevel.apps.experiment.records import (EPOCH_FIELDS, GradientLog, clear_line, progress_bar,
                                  scalar, write_json, write_outputs)
from lowlevel.train import accuracy, binary_cross_entropy, make_train_step


class NonFiniteError(RuntimeError):
    """A NaN or Inf loss or gradient norm stopped training."""


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


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training rows of ``epoch`` (0-based), a pure function of ``(seed, epoch)``."""
    return np.random.default_rng([seed, 0, epoch]).permutation(n)


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


def evaluate_arrays(eval_fn, x, y, batch_size) -> dict:
    """Mean loss and accuracy over all of ``x [n, maxlen]``, in order, last batch partial."""
    loss = correct = 0.0
    for start in range(0, len(x), batch_size):
        l, c = eval_fn(x[start:start + batch_size], y[start:start + batch_size])
        loss, correct = loss + float(l), correct + float(c)
    return {"loss": loss / max(len(x), 1), "accuracy": correct / max(len(x), 1)}


# ----------------------------------------------------------------------------- train

def train(config: ExperimentConfig, on_step=None, log=None) -> dict:
    """Run (or resume) the experiment; return the ``metrics.json`` content.

    ``on_step(global_step, metrics, model)`` is called after every step (and after its
    checkpoint, if any): tests use it to inject a NaN or to simulate a kill.
    Progress goes to ``log`` (default ``sys.stderr``). Raises ``NonFiniteError`` on a
    NaN/Inf loss or gradient norm. Side effect: ``keras.utils.set_random_seed(seed)``
    (Python, NumPy, TensorFlow and Keras global seeds), which the initial weights need.
    """
    log = sys.stderr if log is None else log
    # First: multiworker configures the collective ops before TensorFlow runs anything.
    strategy = distribute.make_strategy(config.strategy)
    import keras  # seeds the Keras initialisers the weights are drawn with

    out = config.out
    managed = os.path.join(out, "checkpoints")
    if not config.resume and tf.train.latest_checkpoint(managed):
        raise ValueError(f"`--out` {out!r} already holds a run; pass --resume to continue it "
                         "or choose another --out.")
    if config.resume:
        _check_resumable(config)
    splits = load_splits(config)
    matrix = None
    if config.glove is not None:
        word_index = imdb.get_word_index(config.word_index)
        matrix, report = glove.load(config.glove, word_index, config.num_words)
        # GloVe rows are ~20x longer than Keras's initial ones (RMS 0.66 for 6B 50d
        # against 0.029), and RMSprop moves each coordinate by about `lr` per step, so
        # raw vectors fine-tune slowly; a scale < 1 shortens them, keeping directions.
        matrix = matrix * np.float32(config.glove_scale)
        print(f"GloVe {report.source}: {report.found}/{report.words_in_vocab} vocabulary words "
              f"found ({report.coverage:.1%}), dim {report.dim}, scaled by "
              f"{config.glove_scale:g}; missing e.g. {', '.join(report.missing_examples)}",
              file=log)
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():  # model and optimiser variables mirrored unless 'default'
        model = build_model(config, None if matrix is None else matrix.shape[1], matrix)
        optimizer = OPTIMIZERS[config.optimizer](config.lr)
    write_json(os.path.join(out, "config.json"),
                {"config": dataclasses.asdict(config),
                 "embedding_dim": int(model.embedding.embeddings.shape[1])})
    if config.strategy == "default":
        step_fn = make_train_step(model, optimizer, config.clipping())
    else:
        distribute.check_batch_size(strategy, config.batch_size)
        step_fn = distribute.make_distributed_train_step(strategy, model, optimizer,
                                                         config.clipping())
    eval_fn = make_eval_fn(model, config.maxlen)

    # Everything a resume needs, in one checkpoint.
    progress = {
        "epoch": tf.Variable(0, dtype=tf.int64),          # epoch being trained, 0-based
        "step_in_epoch": tf.Variable(0, dtype=tf.int64),  # its steps already done
        "global_step": tf.Variable(0, dtype=tf.int64),
        "sums": tf.Variable(tf.zeros([4], tf.float64)),   # loss, accuracy, norm, clipped
        "history": tf.Variable("[]"),                     # json list of finished epochs
        "best_val_accuracy": tf.Variable(-1.0, dtype=tf.float64),
        "best_epoch": tf.Variable(0, dtype=tf.int64),
    }
    state = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                generators=dropout_generators(model), **progress)
    manager = tf.train.CheckpointManager(state, managed, max_to_keep=3)
    best = tf.train.Checkpoint(model=model)
    best_prefix = os.path.join(out, "best", "weights")
    if config.resume and manager.latest_checkpoint:
        state.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"resumed from {manager.latest_checkpoint} (epoch {int(progress['epoch']) + 1}, "
              f"step {int(progress['step_in_epoch'])})", file=log)

    x_train, y_train = splits["train"]
    steps = len(x_train) // config.batch_size  # full batches only
    writer = tf.summary.create_file_writer(os.path.join(out, "tensorboard"))
    gradient_log = GradientLog(os.path.join(out, "gradients.csv"), model.trainable_layer_names,
                                keep_steps=int(progress["global_step"]))
    history = json.loads(progress["history"].numpy().decode())
    while int(progress["epoch"]) < config.epochs:
        epoch = int(progress["epoch"])
        order = epoch_order(config.seed, epoch, len(x_train))
        started = time.perf_counter()
        # Forward, backward, clip and update happen in step_fn; here: data, checks, saving.
        for k in range(int(progress["step_in_epoch"]), steps):
            rows = order[k * config.batch_size:(k + 1) * config.batch_size]
            metrics = step_fn(x_train[rows], y_train[rows])
            step = int(progress["global_step"]) + 1
            loss, norm = float(metrics["loss"]), float(metrics["global_norm"])
            if not (math.isfinite(loss) and math.isfinite(norm)):
                raise NonFiniteError(
                    f"non-finite training at step {step} (epoch {epoch + 1}, batch {k + 1}): "
                    f"loss {loss}, gradient global norm {norm}; stopped without saving, the "
                    f"last good checkpoint is {manager.latest_checkpoint}.")
            progress["global_step"].assign(step)
            progress["step_in_epoch"].assign(k + 1)
            progress["sums"].assign_add([loss, float(metrics["accuracy"]), norm,
                                         float(metrics["clipped"])])
            layer_norms = gradient_log.record(step, metrics)
            with writer.as_default(step=step):
                for key in ("loss", "accuracy", "global_norm", "clipped"):
                    scalar(f"train/{key}", metrics[key])
                for layer, layer_norm in layer_norms.items():
                    scalar(f"grad/{layer}", layer_norm)
            # (An epoch's last step is saved by the epoch-end checkpoint just below.)
            if config.checkpoint_every and step % config.checkpoint_every == 0 and k + 1 < steps:
                manager.save(checkpoint_number=step)
            progress_bar(epoch, config.epochs, k + 1, steps, progress["sums"].numpy(), log)
            if on_step is not None:
                on_step(step, metrics, model)
        # End of epoch: validate, keep the best weights, record, checkpoint.
        sums = progress["sums"].numpy() / steps
        row = {"epoch": epoch + 1, "loss": sums[0], "accuracy": sums[1],
               "val_loss": None, "val_accuracy": None,
               "global_norm_mean": sums[2], "clipped_fraction": sums[3]}
        if len(splits["val"][0]):
            val = evaluate_arrays(eval_fn, *splits["val"], config.batch_size)
            row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            if val["accuracy"] > float(progress["best_val_accuracy"]):
                progress["best_val_accuracy"].assign(val["accuracy"])
                progress["best_epoch"].assign(epoch + 1)
                best.write(best_prefix)
        row = {key: (None if v is None else float(v)) for key, v in row.items()}
        row["epoch"] = epoch + 1
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        with writer.as_default(step=int(progress["global_step"])):
            for key in ("loss", "accuracy", "val_loss", "val_accuracy", "global_norm_mean",
                        "clipped_fraction"):
                if row[key] is not None:
                    scalar(f"epoch/{key}", row[key])
        writer.flush()
        print(f"{clear_line(log)}epoch {epoch + 1}/{config.epochs}: "
              + " ".join(f"{key} {row[key]:.4f}" for key in EPOCH_FIELDS[1:]
                         if row[key] is not None) + f" ({row['seconds']:.1f} s)", file=log)
        progress["history"].assign(json.dumps(history))
        progress["epoch"].assign(epoch + 1)
        progress["step_in_epoch"].assign(0)
        progress["sums"].assign(tf.zeros([4], tf.float64))
        manager.save(checkpoint_number=int(progress["global_step"]))
        write_outputs(out, config, history, int(progress["best_epoch"]) or None)

    writer.close()
    # The kept weights, then the test set, once.
    best_epoch = int(progress["best_epoch"]) or None
    if config.keep == "best" and best_epoch is not None:
        tf.train.Checkpoint(model=model).read(best_prefix).assert_existing_objects_matched()
    kept_epoch = best_epoch if config.keep == "best" else config.epochs
    tf.train.Checkpoint(model=model).write(os.path.join(out, "kept", "weights"))
    test = evaluate_arrays(eval_fn, *splits["test"], config.batch_size)
    print(f"test (weights of epoch {kept_epoch}): loss {test['loss']:.4f} "
          f"accuracy {test['accuracy']:.4f}", file=log)
    return write_outputs(out, config, history, best_epoch, kept_epoch, test)


def _check_resumable(config):
    path = os.path.join(config.out, "config.json")
    if not os.path.isfile(path):
        return  # killed before it wrote anything: a fresh start is the resumption
    with open(path) as f:
        saved = json.load(f)["config"]
    # A field newer than the run (e.g. `strategy`) was at its default when it ran.
    saved = {**{f.name: f.default for f in dataclasses.fields(ExperimentConfig)}, **saved}
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
    with open(path) as f:
        saved = json.load(f)
    config = ExperimentConfig(**saved["config"])
    kept = os.path.join(run_dir, "kept", "weights")
    if not tf.io.gfile.exists(kept + ".index"):
        raise FileNotFoundError(f"`--run`: {run_dir!r} has no kept weights yet (the run did "
                                "not finish; resume it with `lowlevel train --resume`).")
    model = build_model(config, embedding_dim=saved["embedding_dim"])
    tf.train.Checkpoint(model=model).read(kept).assert_existing_objects_matched()
    return config, model


def evaluate(run_dir, batch_size=None) -> dict:
    """The kept weights of ``run_dir`` on the test set: ``{'loss', 'accuracy', 'examples'}``."""
    config, model = load_run(run_dir)
    x, y = load_splits(config)["test"]
    result = evaluate_arrays(make_eval_fn(model, config.maxlen), x, y,
                             batch_size or config.batch_size)
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


def predict(run_dir, texts, word_index_path=None) -> list:
    """p(positive) of each review in ``texts`` under the kept weights of ``run_dir``."""
    config, model = load_run(run_dir)
    word_index = None
    if config.data == "imdb":
        word_index = imdb.get_word_index(word_index_path or config.word_index)
    rows = np.stack([encode(config, text, word_index) for text in texts])  # [n, maxlen]
    return [float(p) for p in model.probabilities(tf.constant(rows, tf.int32)).numpy()[:, 0]]
