"""Data-parallel training with ``tf.distribute``: ``lowlevel train --strategy ...``.

``default``: no distribution (``make_train_step`` as before). ``mirrored``:
``tf.distribute.MirroredStrategy``, one replica per GPU, or per logical CPU device when
there is no GPU. ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy``, one
process per worker, cluster and task from the ``TF_CONFIG`` environment variable.

``make_distributed_train_step(strategy, model, optimizer, clip)`` returns a step with
the same contract as ``make_train_step``: ``step(ids [batch, time], labels [batch])``
takes the GLOBAL batch and returns ``{loss, accuracy, global_norm, clipped}`` of it.
Every worker passes the same global batch (the data order is a function of the seed);
replica ``r`` of ``R`` trains on rows ``[r * batch / R, (r + 1) * batch / R)``::

    loss_r  = sum_{i in replica r} bce(z_i, y_i) / batch     # tf.nn.compute_average_loss
    g       = sum_r d loss_r / d w                           # all-reduce SUM: the gradient
                                                             # of the global-batch mean
    g, norm = clip(g)                                        # on the global g, as one device
    w      <- optimizer(w, g)                                # in cross-replica context

The update runs ONCE, in cross-replica context (outside ``strategy.run``), from the
all-reduced gradient, with our unchanged optimiser: there a ``MirroredVariable`` reads as
its local copy and ``assign`` writes the new value to every copy
(``strategy.extended.update`` under the hood). Every copy starts equal and receives the
same value, so the replicas stay in sync without per-replica updates or special variable
aggregation (a replica-context ``assign`` would need ``aggregation`` set on every
variable). Each worker computes this same update on its own copy.

Variables must be created under ``strategy.scope()`` to be mirrored: the model, the
optimiser (``learning_rate``, ``iterations``) and the optimiser's slots, which
``optimizer.build(variables)`` creates eagerly (they are otherwise created lazily on
the first step, possibly outside the scope).

Sparse (``IndexedSlices``) embedding gradients stay sparse: the all-reduce gathers every
replica's slices, so the reduced gradient holds exactly the slices a single device would
have, and its global norm (which counts stored slices, as ``tf.linalg.global_norm``)
and update are the single-device ones.

Dropout: a ``tf.random.Generator`` created in the scope gives each replica its own
stream (TF folds the replica id into the key), so with dropout on, training is
deterministic but not equal to single-device training; with dropout off it is equal
within float32 reduction-order rounding (``tests/training/test_distribute.py``).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from lowlevel.compiled import function as compiled_function
from lowlevel.train import (Clip, apply_if_finite, binary_cross_entropies, clip_gradients,
                            correct, variable_norms)

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (one of ``STRATEGIES``).

    ``multiworker`` must be created before TensorFlow runs any operation in the
    process (it configures the collective ops), and needs ``TF_CONFIG``.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("`--strategy multiworker` needs the TF_CONFIG environment variable "
                             "(cluster and task of this worker, e.g. '{\"cluster\": {\"worker\": "
                             "[\"host1:port\", \"host2:port\"]}, \"task\": {\"type\": \"worker\", "
                             "\"index\": 0}}'); received none.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"`--strategy` must be one of {list(STRATEGIES)}; received {name!r}.")


def check_batch_size(strategy: tf.distribute.Strategy, batch_size: int) -> None:
    """ValueError unless the global batch splits evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"`--batch-size` must be a multiple of the {replicas} replicas of the "
                         f"strategy (each gets an equal share); received {batch_size}.")


def split_batch(strategy: tf.distribute.Strategy, *arrays):
    """Per-replica slices of global ``arrays`` (replica ``r`` gets the ``r``-th equal
    share of rows), as distributed values ``strategy.run`` accepts."""
    replicas = strategy.num_replicas_in_sync
    share = len(arrays[0]) // replicas

    def rows(context):
        r = context.replica_id_in_sync_group
        return tuple(tf.constant(a[r * share:(r + 1) * share]) for a in arrays)

    return strategy.experimental_distribute_values_from_function(rows)


def make_distributed_train_step(strategy: tf.distribute.Strategy, model, optimizer,
                                clip: Clip = Clip()):
    """``step(ids, labels) -> {loss, accuracy, global_norm, clipped, variable_norms,
    applied, applied_norm}`` over the global batch (``make_train_step``'s contract).

    ``model`` and ``optimizer`` must have been created under ``strategy.scope()``;
    this builds the optimiser's slots there. The loss is the binary cross-entropy.
    """
    variables = list(model.trainable_variables)
    with strategy.scope():
        optimizer.build(variables)

    def replica_step(ids, labels):
        global_batch = tf.shape(ids)[0] * strategy.num_replicas_in_sync  # equal shares
        # Forward, with dropout on; the loss is this replica's share of the global mean.
        with tf.GradientTape() as tape:
            logits = model(ids, training=True)  # [batch / R, 1]
            loss = tf.nn.compute_average_loss(binary_cross_entropies(logits, labels),
                                              global_batch_size=global_batch)
        # Backward, then SUM over replicas: the gradient of the global-batch mean loss.
        grads = tape.gradient(loss, variables)
        missing = [v.name for v, g in zip(variables, grads) if g is None]
        if missing:
            raise ValueError(f"every trainable variable needs a gradient to be all-reduced; "
                             f"received none for {missing}.")
        right = tf.reduce_sum(correct(logits, labels)) / tf.cast(global_batch, tf.float32)
        summed = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM,
            [loss, right] + grads)  # IndexedSlices stay sparse: their slices are gathered
        return summed

    @compiled_function  # as make_train_step compiles: same graph rewrites, same sums
    def step(distributed_ids, distributed_labels):
        summed = strategy.run(replica_step, args=(distributed_ids, distributed_labels))
        # Every replica holds the same sums; take this worker's first copy.
        loss, accuracy, *grads = [strategy.experimental_local_results(s)[0] for s in summed]
        norms = variable_norms(grads)
        # Clip the global gradient (the norm is reported before clipping).
        grads, norm, acted = clip_gradients(grads, clip)
        # Update, once, in cross-replica context (assign mirrors each new value), and
        # only if what would be applied is finite.
        applied, applied_norm = apply_if_finite(optimizer, grads, variables, loss)
        return {"loss": loss, "accuracy": accuracy, "global_norm": norm, "clipped": acted,
                "variable_norms": norms, "applied": applied, "applied_norm": applied_norm}

    def run(ids, labels):
        ids, labels = np.asarray(ids), np.asarray(labels)
        check_batch_size(strategy, len(ids))
        return step(*split_batch(strategy, ids, labels))

    return run
