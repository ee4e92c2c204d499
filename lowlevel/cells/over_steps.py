"""Gradients of a cell's linear maps over all steps at once (for ``weight_gradients``).

A cell's pre-activation is ``a_t = x'_t W + h'_t U + b`` (or close to it); given every
step's ``δa_t`` stacked over time, each weight's gradient is one matmul over all steps.
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel.cells.dropout import dropped


def sum_over_steps(a: tf.Tensor, d: tf.Tensor) -> tf.Tensor:
    """``Σ_t a_tᵀ d_t`` as one matmul: ``a [time, batch, m]``, ``d [time, batch, n]`` -> ``[m, n]``.

    The weight gradient of every ``y_t = a_t @ W``: ``[m, time*batch] @ [time*batch, n]``.
    """
    return tf.matmul(flat(a), flat(d), transpose_a=True)


def flat(a: tf.Tensor) -> tf.Tensor:
    """``[time, batch, k]`` -> ``[time*batch, k]``."""
    return tf.reshape(a, [-1, a.shape[-1]])


def input_and_weight_gradients(xs: tf.Tensor, h_prev: tf.Tensor, d_pre: tf.Tensor,
                               d_recurrent: tf.Tensor, weights: tuple,
                               masks: tuple) -> tuple:
    """``(∂L/∂xs, (∂L/∂W, ∂L/∂U, ∂L/∂b))`` of ``a = x' W + b + h' U`` over all steps.

    ``d_pre [time, batch, G*units]``: ``∂L/∂a``; ``d_recurrent``: ``∂L/∂(h' U)`` (the
    same, unless the recurrent projection is gated after the matmul, as GRU's).
    """
    x_mask, h_mask = masks
    kernel, _, bias = weights
    d_kernel = sum_over_steps(dropped(xs, x_mask), d_pre)
    d_recurrent_kernel = sum_over_steps(dropped(h_prev, h_mask), d_recurrent)
    d_bias = None if bias is None else tf.reduce_sum(flat(d_pre), axis=0)
    d_xs = tf.reshape(tf.matmul(flat(d_pre), kernel, transpose_b=True), tf.shape(xs))
    return dropped(d_xs, x_mask), (d_kernel, d_recurrent_kernel, d_bias)
