"""What every time loop shares: the time-major preparation and the masked-step rule.

Every loop (:mod:`lowlevel.loops.reference`, ``fast``, ``unrolled``, ``bptt``) turns
``[batch, time, features]`` into time-major steps with :func:`time_major` and applies
Keras's mask semantics with :func:`masked_update`; the hand-written backward pass
applies the same rule's derivative, :func:`masked_update_backward`, written beside it.
"""

from __future__ import annotations

import tensorflow as tf


def time_major(inputs, mask=None, go_backwards=False):
    """``(xs [time, batch, features], masks [time, batch, 1] bool or None)``.

    With ``go_backwards`` both run from the last step to the first. The mask column
    broadcasts over units, and has no gradient, so loops may index it.
    """
    xs = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    masks = None
    if mask is not None:
        masks = tf.transpose(tf.cast(mask, tf.bool), [1, 0])[:, :, tf.newaxis]  # [time, batch, 1]
    if go_backwards:
        xs = tf.reverse(xs, axis=[0])
        masks = None if masks is None else tf.reverse(masks, axis=[0])
    return xs, masks


def masked_update(m_t, output, prev_output, new_states, states, zero_output_for_mask=False):
    """Keras's masked step: where ``m_t`` is False the step is skipped::

        s_t = where(m_t, s̃_t, s_{t-1})
        y_t = where(m_t, ỹ_t, y_{t-1})        (0 with zero_output_for_mask; y_{-1} = 0)

    ``m_t [batch, 1]`` or ``None`` (no mask: ``(ỹ_t, s̃_t)``); ``prev_output`` ``None``
    before the first step.
    """
    if m_t is None:
        return output, new_states
    if prev_output is None or zero_output_for_mask:
        prev_output = tf.zeros_like(output)
    new_states = tf.nest.map_structure(lambda new, old: tf.where(m_t, new, old),
                                       new_states, states)
    return tf.where(m_t, output, prev_output), new_states


def masked_update_backward(m_t, d_output, d_states, zero_output_for_mask=False):
    """The derivative of :func:`masked_update`, for ``m ∈ {0, 1}`` (``m_t`` cast)::

        δỹ_t     = m δy_t                 δs̃_t = m δs_t          (into the step)
        δs_{t-1} += (1 - m) δs_t          δy_{t-1} += (1 - m) δy_t  (0 with zero_output_for_mask)

    Returns ``(δỹ_t, [δs̃_t], [(1 - m) δs_t] or None, (1 - m) δy_t or 0)``; without a
    mask (``m_t`` ``None``) the step receives everything and nothing skips it (``None``).
    """
    if m_t is None:
        return d_output, list(d_states), None, tf.zeros_like(d_output)
    m = tf.cast(m_t, d_output.dtype)
    carry = tf.zeros_like(d_output) if zero_output_for_mask else (1.0 - m) * d_output
    return (m * d_output, [m * d for d in d_states], [(1.0 - m) * d for d in d_states], carry)
