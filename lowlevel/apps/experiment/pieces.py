"""A run's data splits and model, built from its ``ExperimentConfig``: what training,
``evaluate`` and ``predict`` share.

The validation rows are ``default_rng([seed, 1]).permutation(n)[:n_val]`` of the
training set, so a run and its resumption (and ``evaluate``) see the same split.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowlevel.apps.data import imdb, synthetic
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.models import SentimentClassifier
from lowlevel.train import accuracy, binary_cross_entropy


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
        implementation=config.implementation)


def dropout_generators(model) -> list:
    """Every ``tf.random.Generator`` in ``model`` (its own and each cell's), in a fixed order."""
    return list(model._flatten(predicate=lambda v: isinstance(v, tf.random.Generator)))


def make_eval_fn(model, maxlen):
    """``fn(ids, labels) -> (summed loss, correct count)`` for any batch size, dropout off."""

    @tf.function(input_signature=[tf.TensorSpec([None, maxlen], tf.int32),
                                  tf.TensorSpec([None], tf.int32)],
                 autograph=False)  # no control flow on tensors: nothing to convert
    def fn(ids, labels):
        logits = model(ids, training=False)  # [batch, 1]
        n = tf.cast(tf.shape(ids)[0], tf.float32)
        return binary_cross_entropy(logits, labels) * n, accuracy(logits, labels) * n

    return fn
