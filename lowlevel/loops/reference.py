"""The time loop: the readable one, written for the reader.

``unroll`` steps any cell-like ``step(x_t, states) -> (output, new_states)`` over a
sequence ``[batch, time, features]``, with Keras's semantics for masks and
``go_backwards`` (:mod:`lowlevel.loops.time_major`). It is written with TensorFlow
control flow so that it compiles into one graph under ``tf.function`` (and still runs
eagerly, step by step, for debugging).
"""

from __future__ import annotations

import functools

import tensorflow as tf

from lowlevel import _checks
from lowlevel.loops.time_major import masked_update, time_major


def _graph_loop(fn):
    """``fn`` with its ``for t in tf.range(...)`` made a graph loop by AutoGraph, whoever
    calls it: a layer is traced into its caller's function, and a caller AutoGraph does
    not convert (``tf.function(autograph=False)``, ``lowlevel.Sequential``'s call)
    would otherwise leave the loop a Python one over a symbolic tensor. Only ``fn``'s
    own code is converted, at the first call rather than at import (most programs never
    run this loop; docs/speed.md, "The default path's first call"); the steps it calls
    run as written."""
    converted = []

    @tf.autograph.experimental.do_not_convert  # converted here, once, not by a caller
    @functools.wraps(fn)
    def graph_loop(*args, **kwargs):
        if not converted:
            converted.append(tf.autograph.to_graph(fn, recursive=False))
        return converted[0](*args, **kwargs)

    return graph_loop


@_graph_loop
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
    """
    inputs = _checks.has_time_steps(inputs, "inputs")
    xs, masks = time_major(inputs, mask, go_backwards)  # [time, batch, features]
    time_steps = tf.shape(xs)[0]

    def masked_step(t, states, prev_output):
        output, new_states = step(xs[t], states)
        m_t = None if masks is None else masks[t]  # [batch, 1]
        return masked_update(m_t, output, prev_output, new_states, states, zero_output_for_mask)

    # The first step runs outside the loop: it fixes the output's shape and dtype
    # (which depend on the cell), so the loop's variables are well defined.
    output, states = masked_step(0, initial_states, None)
    # Written every step: the loop then has one form whether or not the sequence is
    # returned (an unused TensorArray costs nothing once compiled).
    outputs = tf.TensorArray(output.dtype, size=time_steps, element_shape=output.shape)
    outputs = outputs.write(0, output)
    for t in tf.range(1, time_steps):
        output, states = masked_step(t, states, output)
        outputs = outputs.write(t, output)

    sequence = None
    if return_sequences:
        sequence = tf.transpose(outputs.stack(), [1, 0, 2])  # [batch, time, units]
    return output, sequence, states




def run(request):
    """``unroll`` of the request's step, reading the cell's variables at every step."""
    weights = request.variables()
    return unroll(lambda x_t, states: request.step(x_t, states, weights), request.inputs,
                  request.initial_states, **request.loop_options())
