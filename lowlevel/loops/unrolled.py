"""The unrolled time loop: straight-line steps, traced a chunk at a time.

:func:`chunked_unroll` takes the arguments of :func:`lowlevel.loops.reference.unroll` (plus the
step's weights) and returns the same values (``tests/test_implementations.py``), but
writes no loop at all: the sequence is cut into chunks of ``chunk_size`` steps, each
chunk is the steps one after the other in a ``tf.function``, and the chunks are called
in turn. TensorFlow inlines the chunk calls into the caller's graph, so the executor
sees every step of every layer as plain ops:

- no ``tf.while_loop`` frame to enter per step, and no per-step stack of saved
  activations for the backward pass (a loop's gradient pushes every intermediate onto
  a ``TensorList`` and pops it back); the backward pass is as straight as the forward;
- with stacked cells (:func:`lowlevel.stack_layers`) the wavefront runs unhindered:
  layer 2 at step ``t`` beside layer 1 at step ``t + 1``, in the backward pass too;
- the weights are read once per call and given to every step (``weights``), instead
  of one variable read per weight and step;
- at small batches each weight's gradient is one matmul per chunk rather than one per
  step (:mod:`lowlevel.loops.weight_gradients`, :func:`per_chunk_pays`).

The price is the first call. Python traces one chunk (and its gradient) only, the same
chunk being called again, but TensorFlow's graph optimiser (Grappler) then works
through the whole inlined graph, whose size grows with the number of steps: at the
tutorial size (80 steps, two LSTM layers) the first training step took 5 s where
``'fast'`` took 1 s (``lowlevel bench`` reports both, ``first s``).
Measured with ``lowlevel bench`` (implementation ``lowlevel_unrolled``).

Needs the number of time steps when tracing (``inputs.shape[1]`` known); otherwise it
runs :func:`lowlevel.loops.fast.fast_unroll`.
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel.loops.fast import _apply_mask, fast_unroll
from lowlevel.loops.weight_gradients import defer_weight_gradients

# Steps per traced chunk. The chunks are inlined, so the step time does not depend on
# it: 5, 10 and 20 measured alike (tutorial size, LSTM and GRU), and so did the first
# call, which Grappler's pass over the inlined graph dominates.
CHUNK_SIZE = 10

# Weight gradients per chunk (:func:`lowlevel.loops.weight_gradients.defer_weight_gradients`)
# pay where the batch, the inner dimension of every per-step weight-gradient matmul, is
# small; at batch 128 it measured slower (thicker per-step matmuls, which overlap the
# serial chain on the second core, against the copies that gather a chunk's rows; the
# likely reason, not a measured one). Two-layer training step,
# per step -> per chunk, one process each (the library, or a minimal two-layer LSTM *):
#   batch 64, 200 steps, input 256, 256 units (large):  LSTM 716 -> 629 ms (and * 710 ->
#     669, 712 -> 615, 696 -> 614), GRU 482 -> 487 ms, SimpleRNN 156 -> 146 ms
#   * LSTM batch 64, 80 steps, input 100, 64 units:      34.9 -> 35.9 ms
#   * LSTM batch 128, 80 steps, input 100, 64 units (tutorial): 52.3 -> 57.0, 55.0 -> 61.6 ms
#   * LSTM batch 128, 200 steps, input 256, 256 units:   1776 -> 1892 ms
PER_CHUNK_MAX_BATCH = 64


def per_chunk_pays(batch) -> bool:
    """Whether to form the weight gradients per chunk for this (static) batch size."""
    return batch is not None and batch <= PER_CHUNK_MAX_BATCH


# Not converted by AutoGraph (inside a user's tf.function): its control flow is on Python
# values only, and converting it and the cells' steps cost 1.7 s of the tutorial-size
# training step's 3.9 s trace.
@tf.autograph.experimental.do_not_convert
def chunked_unroll(step, inputs, initial_states, weights=None, mask=None,
                   go_backwards=False, return_sequences=False, zero_output_for_mask=False,
                   output_size=None, chunk_size=CHUNK_SIZE, weight_gradients_per_chunk=False):
    """``unroll``'s loop written out, ``chunk_size`` steps per compiled chunk.

    ``step(x_t, states, weights) -> (output, new_states)``; ``weights`` (any nest of
    tensors, or ``None``) is handed to every step unchanged. ``output_size``: the step's
    output width (``cell.output_size``), needed to start the output before the first
    step. Returns ``(last_output [batch, units], outputs [batch, time, units] or None,
    final_states)``, as :func:`lowlevel.loops.reference.unroll`.

    ``weight_gradients_per_chunk``: form each weight's gradient as one matmul per chunk
    (:func:`lowlevel.loops.weight_gradients.defer_weight_gradients`) instead of one per step;
    needs ``weights``. The same gradients either way; which is faster depends on the
    size (:func:`per_chunk_pays`).
    """
    time_steps = inputs.shape[1]
    if time_steps is None or output_size is None:
        return fast_unroll(lambda x_t, states: step(x_t, states, weights), inputs,
                           initial_states, mask=mask, go_backwards=go_backwards,
                           return_sequences=return_sequences,
                           zero_output_for_mask=zero_output_for_mask, output_size=output_size)
    xs = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    masks = None
    if mask is not None:
        masks = tf.transpose(tf.cast(mask, tf.bool), [1, 0])[:, :, tf.newaxis]  # [time, batch, 1]
    if go_backwards:
        xs = tf.reverse(xs, axis=[0])
        masks = None if masks is None else tf.reverse(masks, axis=[0])

    def steps(x_chunk, mask_chunk, output, states, weights):
        """``x_chunk [steps, batch, features]`` -> ``(output, outputs [steps, batch,
        units] or None, states)``."""
        outputs = []
        for k, x_t in enumerate(tf.unstack(x_chunk)):
            new_output, new_states = step(x_t, states, weights)
            if mask_chunk is not None:
                new_output, new_states = _apply_mask(mask_chunk[k], new_output, output,
                                                     new_states, states, zero_output_for_mask)
            output, states = new_output, new_states
            outputs.append(output)
        return output, (tf.stack(outputs) if return_sequences else None), states

    if weight_gradients_per_chunk:
        if weights is None:
            raise ValueError("`weight_gradients_per_chunk=True` needs `weights` (the read "
                             "variables every step uses); received None.")
        steps = defer_weight_gradients(steps)
    # autograph off: plain Python loops, nothing for AutoGraph to convert
    run_chunk = tf.function(steps, autograph=False)
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
