"""The fast time loop: the semantics of :func:`lowlevel.loops.reference.unroll`, compiled lean.

:func:`fast_unroll` takes the same arguments and returns the same values as ``unroll``
(``tests/loops/test_implementations.py``), written for the executor rather than the reader:
an explicit ``tf.while_loop`` (Keras's ``parallel_iterations``), inputs read through a
``TensorArray`` (its gradient is one tensor, not a dense one per step), no peeled first
step, and outputs kept only when returned. Why each choice, as measured:
``docs/speed.md``, "How the loops were tuned".
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel.loops.time_major import masked_update, time_major

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
    xs, masks = time_major(inputs, mask, go_backwards)  # [time, batch, features]
    time_steps = tf.shape(xs)[0]
    x_ta = tf.TensorArray(xs.dtype, size=time_steps, element_shape=xs.shape[1:])
    x_ta = x_ta.unstack(xs)

    def masked_step(t, output, states):
        new_output, new_states = step(x_ta.read(t), states)
        m_t = None if masks is None else masks[t]
        return masked_update(m_t, new_output, output, new_states, states, zero_output_for_mask)

    start = 0
    if output_size is None:  # peel the first step to learn the output's shape
        output, states = masked_step(0, None, initial_states)
        start = 1
    else:
        batch = xs.shape[1] if xs.shape[1] is not None else tf.shape(xs)[1]
        output = tf.zeros([batch, output_size], inputs.dtype)
        states = initial_states

    out_ta = None
    if return_sequences:
        out_ta = tf.TensorArray(inputs.dtype, size=time_steps, element_shape=output.shape)
        if start:
            out_ta = out_ta.write(0, output)

    def body(t, output, states, *maybe_ta):
        new_output, new_states = masked_step(t, output, states)
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




@tf.autograph.experimental.do_not_convert
def run(request):
    """``fast_unroll`` of the request's step, reading the variables inside the loop."""
    weights = request.variables()
    return fast_unroll(lambda x_t, states: request.step(x_t, states, weights), request.inputs,
                       request.initial_states, output_size=request.cell.output_size,
                       **request.loop_options())
