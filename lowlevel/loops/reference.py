"""The time loop: the only place in the library that knows about time.

``unroll`` steps any cell-like ``step(x_t, states) -> (output, new_states)`` over a
sequence ``[batch, time, features]``, with Keras's semantics for masks and
``go_backwards``. It is written with TensorFlow control flow so that it compiles into
one graph under ``tf.function`` (and still runs eagerly, step by step, for debugging).
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel import _checks


def unroll(step, inputs, initial_states, mask=None, go_backwards=False,
           return_sequences=False, zero_output_for_mask=False):
    """Run ``step`` over time.

    Args:
      step: ``step(x_t, states) -> (output [batch, units], new_states)``; ``states``
        is any nest of ``[batch, ...]`` tensors, returned in the same structure.
      inputs: ``[batch, time, features]``, ``time >= 1``.
      initial_states: the nest of states at ``t = 0``.
      mask: optional ``[batch, time]`` booleans. Where ``mask[b, t]`` is False the
        step is skipped for that example: its states are carried forward and its
        output repeats the previous output (zeros before any unmasked step), as Keras.
      go_backwards: process ``t = time-1, ..., 0``; the returned sequence is then in
        that reversed order, as Keras returns it.
      return_sequences: also return every step's output.
      zero_output_for_mask: masked steps output zeros instead of repeating the
        previous output (Keras's option; its ``Bidirectional`` sets it when it
        returns sequences).

    Returns:
      ``(last_output [batch, units], outputs [batch, time, units] or None, final_states)``.

    For every step, with ``m_t`` the mask column::

        output_t, candidate_states = step(x_t, states_{t-1})
        states_t = where(m_t, candidate_states, states_{t-1})
        output_t = where(m_t, output_t, output_{t-1})       # output_{-1} = 0
                   (or where(m_t, output_t, 0) with zero_output_for_mask)
    """
    inputs = _checks.has_time_steps(inputs, "inputs")
    xs = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    if go_backwards:
        xs = tf.reverse(xs, axis=[0])
    masks = None
    if mask is not None:
        masks = tf.transpose(tf.cast(mask, tf.bool), [1, 0])  # [time, batch]
        if go_backwards:
            masks = tf.reverse(masks, axis=[0])
        masks = masks[:, :, tf.newaxis]  # [time, batch, 1], broadcasts over units

    time_steps = tf.shape(xs)[0]
    states = initial_states

    # The first step runs outside the loop: it fixes the output's shape and dtype
    # (which depend on the cell), so the loop's variables are well defined.
    output, states = _masked_step(step, xs[0], states, None, masks, 0, zero_output_for_mask)
    # Written every step: the loop then has one form whether or not the sequence is
    # returned (an unused TensorArray costs nothing once compiled).
    outputs = tf.TensorArray(output.dtype, size=time_steps, element_shape=output.shape)
    outputs = outputs.write(0, output)
    for t in tf.range(1, time_steps):
        output, states = _masked_step(step, xs[t], states, output, masks, t, zero_output_for_mask)
        outputs = outputs.write(t, output)

    sequence = None
    if return_sequences:
        sequence = tf.transpose(outputs.stack(), [1, 0, 2])  # [batch, time, units]
    return output, sequence, states


def _masked_step(step, x_t, states, prev_output, masks, t, zero_output_for_mask):
    output, new_states = step(x_t, states)
    if masks is None:
        return output, new_states
    m_t = masks[t]  # [batch, 1]
    if prev_output is None or zero_output_for_mask:
        prev_output = tf.zeros_like(output)
    new_states = tf.nest.map_structure(lambda new, old: tf.where(m_t, new, old),
                                       new_states, states)
    return tf.where(m_t, output, prev_output), new_states
