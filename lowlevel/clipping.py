"""Gradient clipping from scratch: by value, by norm, by global norm.

Norm clipping keeps a gradient's direction and caps its length, the remedy for
exploding gradients in recurrent networks (Pascanu, Mikolov & Bengio 2013, "On the
difficulty of training recurrent neural networks"). Each function here computes the
same numbers as its TensorFlow namesake (``tf.clip_by_value``, ``tf.clip_by_norm``,
``tf.clip_by_global_norm``, ``tf.linalg.global_norm``), including the edge cases:

* ``None`` entries (a variable the loss does not depend on) pass through as ``None``
  and add nothing to a global norm.
* ``tf.IndexedSlices`` (the gradient of an embedding lookup) stay ``IndexedSlices``
  with the same ``indices`` and ``dense_shape``; only ``values`` change. Their norm is
  the norm of the stored slices, ``||values||``, as in TensorFlow. When ids repeat,
  that is *not* the norm of the dense gradient (whose row is the sum of the repeated
  slices): slices ``[3, 0]`` and ``[4, 0]`` both at row 1 have ``||values|| = 5`` but
  dense norm ``||[7, 0]|| = 7``. Sum repeated rows first
  (``lowlevel.optimizers.sum_repeated_rows``) to clip by the dense norm.
* An all-zero tensor has norm 0 and is returned unchanged: no ``0 / 0``.
* An infinite or NaN global norm turns every clipped tensor into all-NaN, so the
  failure is loud rather than a silently zeroed step. Note that the squares can
  overflow: float32 values around ``1e20`` already give an infinite norm.

Shapes: every tensor keeps its own shape; norms are scalars ``[]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


# The public functions branch on Python values only (types, None, values known now), so
# they are marked do_not_convert: inside a user's tf.function they are traced as
# written, where AutoGraph converting them, and what they call, at each call lengthened a
# training step's first call (docs/speed.md, "The default path's first call").


# ---------------------------------------------------------------------------------
# Tensors and IndexedSlices: clip the stored values, keep the indices.
# ---------------------------------------------------------------------------------


def _values(t) -> tf.Tensor:
    """The numbers a clip acts on: ``t.values`` for ``IndexedSlices``, else ``t``."""
    if isinstance(t, tf.IndexedSlices):
        return t.values
    return tf.convert_to_tensor(t)


def _like(t, values: tf.Tensor):
    """``values`` in the container ``t`` came in (``IndexedSlices`` stay sparse)."""
    if isinstance(t, tf.IndexedSlices):
        return tf.IndexedSlices(values, t.indices, t.dense_shape)
    return values


# ---------------------------------------------------------------------------------
# Argument checks. A value known now (Python, NumPy, eager) is checked now; a tensor
# known only at run time (inside tf.function) gets an assert op, so a negative
# threshold fails when the step runs instead of silently flipping the gradient's sign.
# ---------------------------------------------------------------------------------


def _static(value):
    """``value`` as a NumPy array when known now (Python, NumPy, eager); else ``None``."""
    if value is None:
        return None
    return tf.get_static_value(value)


def _check_clip_norm(clip_norm, argument: str = "clip_norm"):
    """``clip_norm`` checked to be a scalar ``> 0``; returned, behind a run-time assert
    when its value is not known yet."""
    value = _static(clip_norm)
    if value is None:
        clip_norm = tf.convert_to_tensor(clip_norm)
        check = tf.debugging.assert_positive(
            clip_norm, message=f"`{argument}` must be > 0 (a negative threshold would flip "
                               "the gradient's sign)")
        with tf.control_dependencies([check]):
            return tf.identity(clip_norm)
    value = np.asarray(value)
    if value.ndim != 0:
        raise ValueError(
            f"`{argument}` must be a scalar; received shape {list(value.shape)}."
        )
    if not value > 0:
        raise ValueError(f"`{argument}` must be > 0; received {value.item()!r}.")
    return clip_norm


def _check_t_list(t_list) -> list:
    if not isinstance(t_list, Sequence) or isinstance(t_list, str):
        raise TypeError(
            "`t_list` must be a list or tuple of tensors, IndexedSlices or None; "
            f"received {type(t_list).__name__}."
        )
    return list(t_list)


# ---------------------------------------------------------------------------------
# Clipping.
# ---------------------------------------------------------------------------------


@tf.autograph.experimental.do_not_convert
def clip_by_value(t, clip_value_min, clip_value_max):
    """Clip every element of ``t`` into ``[clip_value_min, clip_value_max]``::

        clip(t) = max(min(t, clip_value_max), clip_value_min)

    ``t`` is a tensor or ``IndexedSlices`` (each stored slice is clipped, as in
    ``tf.clip_by_value``); the bounds are scalars or broadcast to ``t``'s shape
    without enlarging it. NaN elements stay NaN; ``±inf`` become the bounds.

    Args:
        t: a float tensor or ``tf.IndexedSlices``.
        clip_value_min: the lower bound, ``<= clip_value_max``.
        clip_value_max: the upper bound.

    Returns:
        ``t`` clipped, of its type, shape and dtype.
    """
    low, high = _static(clip_value_min), _static(clip_value_max)
    if low is not None and high is not None and np.any(np.asarray(low) > np.asarray(high)):
        raise ValueError(
            "`clip_value_min` must be <= `clip_value_max`; received "
            f"clip_value_min={low!r}, clip_value_max={high!r}."
        )
    if low is None or high is None:
        check = tf.debugging.assert_less_equal(
            clip_value_min, clip_value_max,
            message="`clip_value_min` must be <= `clip_value_max`")
        with tf.control_dependencies([check]):
            clip_value_min = tf.identity(clip_value_min)
    values = _values(t)
    # min first, then max: the order tf.clip_by_value uses, so even NaN bounds agree.
    clipped = tf.maximum(tf.minimum(values, clip_value_max), clip_value_min)
    if not clipped.shape.is_compatible_with(values.shape):
        raise ValueError(
            "`clip_value_min` and `clip_value_max` must broadcast to the shape of `t` "
            f"{values.shape.as_list()}; the clipped result has shape "
            f"{clipped.shape.as_list()}."
        )
    return _like(t, clipped)


def _l2_norm(values: tf.Tensor) -> tf.Tensor:
    """``||t||_2 = sqrt(sum(t * t))``, a scalar whose gradient is finite at ``t = 0``.

    ``d sqrt(s)/ds`` is infinite at ``s = 0``; taking the square root only where
    ``s > 0`` (and returning ``s = 0`` elsewhere) keeps NaN out of backpropagation
    through the clip. This is tf.clip_by_norm's "two-tap tf.where" trick.
    """
    squared_sum = tf.reduce_sum(values * values)
    positive = squared_sum > 0
    safe_squared_sum = tf.where(positive, squared_sum, tf.ones_like(squared_sum))
    return tf.where(positive, tf.sqrt(safe_squared_sum), squared_sum)


@tf.autograph.experimental.do_not_convert
def clip_by_norm(t, clip_norm):
    """Rescale ``t`` so that its L2 norm is at most ``clip_norm`` (Pascanu et al. 2013)::

        clip(t) = t * clip_norm / max(||t||_2, clip_norm)

    Below the threshold the factor is ``clip_norm / clip_norm`` (no change); above it
    the result has norm ``clip_norm`` and the direction of ``t``. A zero tensor stays
    zero. An infinite element makes ``||t||_2 = inf``: finite elements become 0 and
    infinite ones NaN; a NaN element makes all NaN (as ``tf.clip_by_norm``). For
    ``IndexedSlices`` the norm is ``||values||`` (see the module docstring).
    ``clip_norm`` is a scalar ``> 0``.

    Args:
        t: a float tensor or ``tf.IndexedSlices``.
        clip_norm: the largest norm allowed, a scalar ``> 0``.

    Returns:
        ``t`` rescaled, of its type, shape and dtype.
    """
    clip_norm = _check_clip_norm(clip_norm)
    values = _values(t)
    clip_norm = tf.cast(clip_norm, values.dtype)
    norm = _l2_norm(values)
    return _like(t, values * clip_norm / tf.maximum(norm, clip_norm))


@tf.autograph.experimental.do_not_convert
def global_norm(t_list) -> tf.Tensor:
    """The L2 norm of all elements of all tensors, as if concatenated::

        global_norm = sqrt(sum_i sum(t_i * t_i))

    ``None`` entries are skipped; ``IndexedSlices`` count their stored ``values``
    (as ``tf.linalg.global_norm``). All tensors must share one floating dtype, which
    is the dtype of the scalar result.

    Args:
        t_list: a list of float tensors, ``IndexedSlices`` or ``None``, at least one
            not ``None``.

    Returns:
        A scalar tensor of the tensors' dtype.
    """
    t_list = _check_t_list(t_list)
    values = [_values(t) for t in t_list if t is not None]
    if not values:
        raise ValueError(
            "`t_list` must hold at least one tensor that is not None; received "
            f"{len(t_list)} entries, all None."
        )
    dtypes = sorted({v.dtype.name for v in values})
    if len(dtypes) > 1:
        raise ValueError(
            f"`t_list` must hold tensors of one dtype; received dtypes {dtypes}."
        )
    squared_sums = [tf.reduce_sum(v * v) for v in values]  # one scalar per tensor
    return tf.sqrt(tf.add_n(squared_sums))


@tf.autograph.experimental.do_not_convert
def clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """Rescale all tensors by one factor so that their global norm is at most
    ``clip_norm`` (Pascanu et al. 2013; ``tf.clip_by_global_norm``)::

        scale = clip_norm / max(global_norm, clip_norm)
        clip(t_i) = t_i * scale                        for every t_i that is not None

    Returns ``(list_clipped, global_norm)``, the norm measured *before* clipping (or
    ``use_norm`` when given, which then replaces the computed norm). Below the
    threshold ``scale`` is exactly 1. If ``global_norm`` is inf or NaN, ``scale`` is
    NaN and every returned tensor is all-NaN, as in TensorFlow. ``None`` entries stay
    ``None``; ``IndexedSlices`` stay ``IndexedSlices``.

    Args:
        t_list: a list of float tensors, ``IndexedSlices`` or ``None``, e.g. gradients.
        clip_norm: the largest global norm allowed, a scalar ``> 0``.
        use_norm: the global norm to use instead of computing it (``None``: compute).

    Returns:
        ``(list_clipped, global_norm)``.
    """
    t_list = _check_t_list(t_list)
    clip_norm = _check_clip_norm(clip_norm)
    if use_norm is None:
        use_norm = global_norm(t_list)
    use_norm = tf.convert_to_tensor(use_norm)
    clip_norm = tf.cast(clip_norm, use_norm.dtype)
    # (use_norm - use_norm) is 0 for a finite norm and NaN for inf or NaN: it makes a
    # broken gradient visible instead of scaling it to zero (clip_norm / inf = 0).
    scale = clip_norm / tf.maximum(use_norm, clip_norm) + (use_norm - use_norm)
    list_clipped = [
        None if t is None else _like(t, _values(t) * tf.cast(scale, _values(t).dtype))
        for t in t_list
    ]
    return list_clipped, use_norm
