"""Training the tutorial's way: ``compile`` + ``fit``, or a hand-written GradientTape step.

Clipping mirrors the tutorial's snippet (``tf.clip_by_value``, ``tf.clip_by_norm``,
``tf.clip_by_global_norm``; global-norm clipping: Pascanu et al. 2013), with one
fix: (6) the embedding's gradient is a ``tf.IndexedSlices`` whose rows repeat
when a word occurs twice in a batch. TensorFlow's clip ops measure and clip the
*rows*, not the dense gradient they sum to, so a "clipped" embedding gradient
can still exceed the threshold (two equal rows of norm n sum to 2n).
``clip_gradients`` first merges duplicate rows (``tf.unique`` +
``unsorted_segment_sum``), which keeps the gradient sparse and makes every norm
the dense one; ``merge_duplicates=False`` gives TensorFlow's own behaviour.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lowlevel_reference.config import TUTORIAL

CLIP_MODES = ("value", "norm", "global_norm")


def compile_like_tutorial(model: keras.Model, learning_rate: float = TUTORIAL.learning_rate) -> keras.Model:
    """``model.compile(RMSprop(1e-3), BinaryCrossentropy(), ['accuracy'])``; returns ``model``."""
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),  # on probabilities, as the model returns them
        metrics=["accuracy"],
    )
    return model


def train(model: keras.Model, train_ds, val_ds=None, epochs: int = TUTORIAL.epochs, **fit_kwargs):
    """``model.fit(train_ds, epochs, validation_data=val_ds)``; compiles like the tutorial if needed.

    ``train_ds`` / ``val_ds`` yield ``(ids [batch, maxlen], labels [batch])``; a
    partial last batch is fine. Returns the ``History``.
    """
    if not getattr(model, "compiled", False):
        compile_like_tutorial(model)
    if isinstance(train_ds, tf.data.Dataset):
        fit_kwargs.setdefault("shuffle", False)  # a Dataset shuffles itself (tutorial: .shuffle(1000))
    return model.fit(train_ds, epochs=epochs, validation_data=val_ds, **fit_kwargs)


def _check_clip(clip):
    if clip is None:
        return
    ok = (
        isinstance(clip, tuple)
        and len(clip) == 2
        and clip[0] in CLIP_MODES
        and isinstance(clip[1], (int, float))
        and clip[1] > 0
    )
    if not ok:
        raise ValueError(
            f"clip must be None or (mode, threshold) with mode in {CLIP_MODES} and "
            f"threshold > 0, e.g. ('global_norm', 5.0); received {clip!r}."
        )


def merge_duplicate_rows(grad):
    """An ``IndexedSlices`` with each index once (rows summed); other gradients unchanged."""
    if not isinstance(grad, tf.IndexedSlices):
        return grad
    indices, position = tf.unique(grad.indices)  # [unique], [rows]
    values = tf.math.unsorted_segment_sum(grad.values, position, tf.shape(indices)[0])  # [unique, dim]
    return tf.IndexedSlices(values, indices, grad.dense_shape)


def clip_gradients(grads, clip, merge_duplicates: bool = True):
    """Clips a list of gradients (tensors, ``IndexedSlices`` or ``None``).

    ``clip``: ``None`` (unchanged); ``('value', v)``: every element into ``[-v, v]``;
    ``('norm', n)``: each gradient scaled so its L2 norm is at most ``n``;
    ``('global_norm', n)``: all scaled by ``n / max(n, global_norm)``.
    With ``merge_duplicates=False`` this is exactly ``tf.clip_by_*``, which on an
    ``IndexedSlices`` with repeated indices bounds the rows, not their sum.
    """
    _check_clip(clip)
    if clip is None:
        return list(grads)
    mode, threshold = clip
    if merge_duplicates:
        grads = [None if g is None else merge_duplicate_rows(g) for g in grads]
    if mode == "value":
        return [None if g is None else tf.clip_by_value(g, -threshold, threshold) for g in grads]
    if mode == "norm":
        return [None if g is None else tf.clip_by_norm(g, threshold) for g in grads]
    clipped, _ = tf.clip_by_global_norm(grads, threshold)
    return clipped


def global_norm(grads):
    """``sqrt(sum_k ||g_k||^2)`` of the dense gradients (duplicate rows merged first)."""
    return tf.linalg.global_norm([None if g is None else merge_duplicate_rows(g) for g in grads])


def make_train_step(
    model: keras.Model,
    optimizer,
    clip=None,
    loss_fn=None,
    use_tf_function: bool = True,
    merge_duplicates: bool = True,
):
    """A GradientTape training step ``step(ids [batch, time], labels [batch] or [batch, 1]) -> dict``.

    The dict holds ``loss`` (scalar), ``grad_norm`` (global norm before clipping) and
    ``clipped_grad_norm`` (after). ``loss_fn`` defaults to binary cross-entropy on
    the model's probabilities, as ``compile_like_tutorial``. ``clip`` and
    ``merge_duplicates`` as in ``clip_gradients``; the norms reported are dense ones.
    """
    _check_clip(clip)
    loss_fn = loss_fn or keras.losses.BinaryCrossentropy()
    optimizer.build(model.trainable_variables)  # its slots exist before tracing

    def step(x, y):
        # forward
        with tf.GradientTape() as tape:
            prob = model(x, training=True)  # [batch, 1]
            loss = loss_fn(y, prob)  # scalar
        # backward
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        grad_norm = global_norm(grads)
        # clip
        grads = clip_gradients(grads, clip, merge_duplicates)
        clipped_grad_norm = global_norm(grads)
        # step
        optimizer.apply_gradients(zip(grads, variables))
        return {"loss": loss, "grad_norm": grad_norm, "clipped_grad_norm": clipped_grad_norm}

    return tf.function(step) if use_tf_function else step
