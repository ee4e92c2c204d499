"""The unrolled time loop: straight-line steps, traced a chunk at a time.

:func:`chunked_unroll` returns what :func:`lowlevel.loops.reference.unroll` returns
(``tests/loops/test_implementations.py``) but writes no loop: the sequence is cut into chunks
of ``chunk_size`` steps, each chunk is its steps one after the other in a
``tf.function``, and TensorFlow inlines the chunk calls, so the executor sees every
step of every layer as plain ops (no loop frame per step, no stack of saved
activations, the stacked layers' wavefront unhindered). The weights are read once per
call; at small batches or wide layers each weight's gradient is one matmul per chunk
(:mod:`lowlevel.loops.weight_gradients`, :func:`per_chunk_pays`). The price is the
first call, growing with the number of steps: TensorFlow places and prepares every op,
and under a plain ``tf.function`` Grappler rewrites the whole inlined graph first, which
lowlevel's own compiled steps skip (:mod:`lowlevel.compiled`). Measured history:
``docs/speed.md``, "How the loops were tuned" and "The first call without Grappler".

Needs the number of time steps when tracing (``inputs.shape[1]`` known).
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel.loops.time_major import masked_update, time_major
from lowlevel.loops.weight_gradients import defer_weight_gradients

# Steps per traced chunk: 5, 10 and 20 measured alike (the chunks are inlined).
CHUNK_SIZE = 10

# Weight gradients per chunk (each weight transposed once per chunk) paid at batches up to
# 64, and at batches of 128 and 256 for layers of 128 units and more; at 64 units and
# batch 128 they gained a few percent for the LSTM and the GRU, lost for the SimpleRNN,
# and lengthened the first call (docs/speed.md, "The backward chain against a transposed
# weight").
PER_CHUNK_MAX_BATCH = 64
PER_CHUNK_MIN_UNITS = 128


def per_chunk_pays(batch, units) -> bool:
    """Whether to form the weight gradients per chunk, for this (static) batch size and
    the units of the narrowest layer (:func:`narrowest_units`)."""
    return units >= PER_CHUNK_MIN_UNITS or (batch is not None
                                            and batch <= PER_CHUNK_MAX_BATCH)


def narrowest_units(cell) -> int:
    """The fewest units of any layer of ``cell`` (a stack's cells, or the cell itself)."""
    return min(c.output_size for c in getattr(cell, "cells", [cell]))


# Not converted by AutoGraph (inside a user's tf.function): its control flow is on Python
# values only, and converting it and the cells' steps more than doubled the trace.
@tf.autograph.experimental.do_not_convert
def chunked_unroll(step, inputs, initial_states, weights=None, mask=None,
                   go_backwards=False, return_sequences=False, zero_output_for_mask=False,
                   output_size=None, chunk_size=CHUNK_SIZE, weight_gradients_per_chunk=False):
    """``unroll``'s loop written out, ``chunk_size`` steps per compiled chunk.

    ``step(x_t, states, weights, matmul) -> (output, new_states)``; ``weights`` (any nest
    of tensors, or ``None``) is handed to every step unchanged, and ``matmul`` is how the
    step forms its products with weights (``tf.matmul``, or the recording one of
    :func:`lowlevel.loops.weight_gradients.defer_weight_gradients`). ``output_size``:
    the step's output width (``cell.output_size``). Returns ``(last_output [batch,
    units], outputs [batch, time, units] or None, final_states)``.

    ``weight_gradients_per_chunk``: form each weight's gradient as one matmul per chunk
    instead of one per step; needs ``weights``. The same gradients either way; which is
    faster depends on the size (:func:`per_chunk_pays`).
    """
    time_steps = inputs.shape[1]
    if time_steps is None or output_size is None:
        raise ValueError(
            "implementation='unrolled' needs the number of time steps and `output_size` "
            f"when tracing; received time {time_steps} and output_size {output_size} (use "
            "implementation='auto' or 'fast' for sequences of unknown length).")
    if weight_gradients_per_chunk and weights is None:
        raise ValueError("`weight_gradients_per_chunk=True` needs `weights` (the read "
                         "variables every step uses); received None.")
    xs, masks = time_major(inputs, mask, go_backwards)  # [time, batch, features]

    def steps(x_chunk, mask_chunk, output, states, weights, matmul=tf.matmul):
        """``x_chunk [steps, batch, features]`` -> ``(output, outputs [steps, batch,
        units] or None, states)``."""
        outputs = []
        for k, x_t in enumerate(tf.unstack(x_chunk)):
            new_output, new_states = step(x_t, states, weights, matmul)
            m_t = None if mask_chunk is None else mask_chunk[k]
            output, states = masked_update(m_t, new_output, output, new_states, states,
                                           zero_output_for_mask)
            outputs.append(output)
        return output, (tf.stack(outputs) if return_sequences else None), states

    if weight_gradients_per_chunk:
        steps = defer_weight_gradients(steps)
    run_chunk = tf.function(steps, autograph=False)  # plain Python loops, nothing to convert
    batch = xs.shape[1] if xs.shape[1] is not None else tf.shape(xs)[1]
    output = tf.zeros([batch, output_size], inputs.dtype)
    states, sequence = initial_states, []
    # tf.split, not slicing: a slice's gradient is a zero tensor the size of all of
    # `xs` per chunk (summed afterwards), split's is one concat.
    sizes = [min(chunk_size, time_steps - start) for start in range(0, time_steps, chunk_size)]
    x_chunks = tf.split(xs, sizes)
    mask_chunks = [None] * len(sizes) if masks is None else tf.split(masks, sizes)
    for x_chunk, mask_chunk in zip(x_chunks, mask_chunks):
        output, outputs, states = run_chunk(x_chunk, mask_chunk, output, states, weights)
        sequence.append(outputs)
    if return_sequences:
        sequence = tf.transpose(tf.concat(sequence, axis=0), [1, 0, 2])  # [batch, time, units]
        return output, sequence, states
    return output, None, states



def cannot_serve(request):
    """The number of steps must be known when tracing."""
    if request.inputs.shape[1] is None:
        return "the number of time steps is unknown when tracing (inputs.shape[1] is None)"
    return None


@tf.autograph.experimental.do_not_convert
def run(request):
    """Read the variables once per call, hand them to every step."""
    weights = request.read_variables()
    per_chunk = weights is not None and per_chunk_pays(request.inputs.shape[0],
                                                       narrowest_units(request.cell))
    return chunked_unroll(request.step, request.inputs, request.initial_states,
                          weights=weights, output_size=request.cell.output_size,
                          weight_gradients_per_chunk=per_chunk, **request.loop_options())
