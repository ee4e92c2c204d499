"""The fast time loop: the same semantics as :func:`lowlevel.loops.reference.unroll`, compiled lean.

:func:`fast_unroll` takes the same arguments and returns the same values as
``unroll`` (``tests/test_implementations.py`` checks it on the toy accumulator and on
every layer against Keras), but is written for the executor rather than for the reader.
Each choice below was measured on the training step (forward + GradientTape backward)
of two stacked layers, 2-core CPU, TF 2.21 (``benchmarks/test_step_speed.py``,
implementation ``lowlevel_fast``):

- an explicit ``tf.while_loop(parallel_iterations=32)``, as Keras's own loop; the step
  ``x_t @ kernel`` does not depend on ``h``, so the executor runs it beside the
  serial recurrent chain (hoisting it into one big matmul measured slower);
- inputs read through ``TensorArray.unstack``: indexing ``xs[t]`` of a tensor captured
  by the loop is as fast forward, but its gradient is a dense ``[time, batch,
  features]`` tensor per step, summed over ``time`` steps (0.68x against 1.10x Keras
  for the TensorArray at the tutorial LSTM size);
- no peeled first step: the output starts as zeros of the cell's ``output_size``;
- the outputs' TensorArray exists only when the sequence is returned, and the mask's
  ``tf.where`` only when there is a mask;
- no unrolling: the loop traces in about a second at any length. The steps written
  out without a loop are faster still, at the price of a first call of seconds
  (``implementation='unrolled'``, :mod:`lowlevel.loops.unrolled`).
"""

from __future__ import annotations

import tensorflow as tf

PARALLEL_ITERATIONS = 32  # Keras's backend value for its own RNN loop


@tf.autograph.experimental.do_not_convert  # Python control flow only (unrolled.py says why)
def fast_unroll(step, inputs, initial_states, mask=None, go_backwards=False,
                return_sequences=False, zero_output_for_mask=False, output_size=None):
    """``unroll`` with a lean loop; same arguments and returns.

    ``output_size``: the step's output width (``cell.output_size``). When given, the
    first step is not peeled out of the loop; without it, it is (the output's shape
    and dtype must be known before the loop starts).

    Returns ``(last_output [batch, units], outputs [batch, time, units] or None,
    final_states)``, as :func:`lowlevel.loops.reference.unroll`.
    """
    xs = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    if go_backwards:
        xs = tf.reverse(xs, axis=[0])
    time_steps = tf.shape(xs)[0]
    x_ta = tf.TensorArray(xs.dtype, size=time_steps, element_shape=xs.shape[1:])
    x_ta = x_ta.unstack(xs)

    masks = None
    if mask is not None:
        masks = tf.transpose(tf.cast(mask, tf.bool), [1, 0])  # [time, batch]
        if go_backwards:
            masks = tf.reverse(masks, axis=[0])
        masks = masks[:, :, tf.newaxis]  # [time, batch, 1]; no gradient, so index it

    start = 0
    if output_size is None:  # peel the first step to learn the output's shape
        output, states = step(x_ta.read(0), initial_states)
        if masks is not None:
            output, states = _apply_mask(masks[0], output, tf.zeros_like(output), states,
                                         initial_states, True)
        start = 1
    else:
        batch = xs.shape[1] if xs.shape[1] is not None else tf.shape(xs)[1]
        output = tf.zeros([batch, output_size], inputs.dtype)
        states = initial_states

    out_ta = None
    if return_sequences:
        out_ta = tf.TensorArray(inputs.dtype, size=time_steps,
                                element_shape=output.shape)
        if start:
            out_ta = out_ta.write(0, output)

    def body(t, output, states, *maybe_ta):
        new_output, new_states = step(x_ta.read(t), states)
        if masks is not None:
            new_output, new_states = _apply_mask(masks[t], new_output, output, new_states,
                                                 states, zero_output_for_mask)
        if maybe_ta:
            return (t + 1, new_output, new_states, maybe_ta[0].write(t, new_output))
        return t + 1, new_output, new_states

    loop_vars = (tf.constant(start), output, states) + ((out_ta,) if out_ta is not None else ())
    result = tf.while_loop(lambda t, *_: t < time_steps, body, loop_vars,
                           parallel_iterations=PARALLEL_ITERATIONS,
                           maximum_iterations=time_steps - start)
    output, states = result[1], result[2]
    sequence = None
    if return_sequences:
        sequence = tf.transpose(result[3].stack(), [1, 0, 2])  # [batch, time, units]
    return output, sequence, states


def _apply_mask(m_t, output, prev_output, new_states, states, zero_output_for_mask):
    """``s_t = where(m_t, s̃_t, s_{t-1})``, ``y_t = where(m_t, ỹ_t, y_{t-1} or 0)``."""
    if zero_output_for_mask:
        prev_output = tf.zeros_like(output)
    new_states = tf.nest.map_structure(lambda new, old: tf.where(m_t, new, old),
                                       new_states, states)
    return tf.where(m_t, output, prev_output), new_states
