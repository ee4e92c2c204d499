"""Backpropagation through time written by hand: a ``tf.custom_gradient`` core.

:func:`bptt_unroll` computes what :func:`lowlevel.loops.reference.unroll` computes for one
cell and supplies its own gradient, from the cell's own ``forward`` and ``backward``
steps (the contract of :mod:`lowlevel.cells.base`; this loop knows no cell class). The
forward runs in a ``tf.while_loop`` without a tape, saving what each step's backward
needs; the backward is a reverse loop that carries ``∂L/∂states`` back through time and
keeps each step's pre-activation gradient ``δa_t``; every weight gradient is then one
large matmul over all steps (the cell's ``weight_gradients``)::

    ∂L/∂W = Σ_t x_tᵀ δa_t = Xᵀ δA        X  [time*batch, input_dim],  δA [time*batch, G*units]

Notation (time-major, in the order the steps are taken; ``go_backwards`` reverses the
inputs first): ``m_t ∈ {0, 1}`` the mask column, ``y_t`` the output, ``s_t`` the
states, ``δy_t = g_t + (1 - m_{t+1}) δy_{t+1}`` the output's gradient (``g_t`` from
outside; no carry with ``zero_output_for_mask``). For ``t = T-1 .. 0``, the masked-step
rule backwards (:func:`lowlevel.loops.time_major.masked_update_backward`)::

    δỹ_t = m_t δy_t,   δs̃_t = m_t δs_t                     into the cell's backward step
    δs_{t-1} = backward(δỹ_t, δs̃_t) + (1 - m_t) δs_t

The state gradient the instruments read is ``δh̃_t = δỹ_t + δs̃_t[0] = ∂L/∂h_t`` (the
output is the first state for every cell here). ``tests/loops/test_bptt.py`` proves the
gradients equal to the reference unroll under ``GradientTape`` (float64 1e-10, float32
1e-5), ``tests/loops/test_implementations.py`` to Keras.
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel.loops.request import cast
from lowlevel.loops.time_major import masked_update, masked_update_backward, time_major

PARALLEL_ITERATIONS = 32



def cannot_run(cell):
    """``None`` for a cell with a known backward step (``cell.cannot_backward()``)."""
    check = getattr(cell, "cannot_backward", None)
    if check is None:
        return (f"{type(cell).__name__} has no `backward` step (the contract of "
                "lowlevel.cells.base.RecurrentCell)")
    return check()


def supports(cell) -> bool:
    """True if :func:`bptt_unroll` can run ``cell`` (a backward step, known derivatives)."""
    return cannot_run(cell) is None


def run(request):
    """Weights read (and cast) once: BPTT forms each weight gradient as one matmul over
    all steps, accumulated by the matmul itself."""
    weights = cast(request.read_variables(), request.compute_dtype)
    return bptt_unroll(request.cell, request.inputs, request.initial_states,
                       dropout_masks=request.dropout_masks, weights=weights,
                       **request.loop_options())


def bptt_unroll(cell, inputs, initial_states, mask=None, go_backwards=False,
                return_sequences=False, zero_output_for_mask=False, dropout_masks=None,
                weights=None):
    """:func:`lowlevel.loops.reference.unroll` of ``cell.forward`` with a hand-written gradient.

    Args and returns as ``unroll`` (``inputs [batch, time, features]``), plus
    ``dropout_masks`` (the cell's ``draw_dropout_masks``, or ``None``) and ``weights``
    (the nest ``cell.forward`` takes; ``None``: the cell's variables, read). Returns
    ``(last [batch, units], sequence [batch, time, units] or None, final_states)``.
    """
    xs, masks = time_major(inputs, mask, go_backwards)  # [time, batch, features]
    masks_pair = (None, None) if dropout_masks is None else dropout_masks
    if weights is None:
        weights = tf.nest.map_structure(
            lambda w: None if w is None else tf.convert_to_tensor(w), cell.step_weights())
    flat_weights = tf.nest.flatten(weights)
    present = [i for i, w in enumerate(flat_weights) if w is not None]
    flat_states = [tf.convert_to_tensor(s) for s in tf.nest.flatten(initial_states)]
    n_states = len(flat_states)

    @tf.custom_gradient
    def core(xs, *tensors):
        states = tf.nest.pack_sequence_as(initial_states, list(tensors[:n_states]))
        full = list(flat_weights)
        for i, w in zip(present, tensors[n_states:]):
            full[i] = w
        step_weights = tf.nest.pack_sequence_as(weights, full)
        ys, final, saved = _forward(cell, xs, masks, states, step_weights, masks_pair,
                                    zero_output_for_mask)
        flat_final = tf.nest.flatten(final)

        def grad(d_ys, *d_final):
            d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, flat_final)]
            d_ys = tf.zeros_like(ys) if d_ys is None else d_ys
            d_xs, d_states, d_weights, _ = _backward(
                cell, xs, masks, saved, step_weights, masks_pair, zero_output_for_mask, d_ys,
                tf.nest.pack_sequence_as(final, d_final))
            flat_d_weights = tf.nest.flatten(d_weights)
            return [d_xs, *tf.nest.flatten(d_states), *[flat_d_weights[i] for i in present]]

        return (ys, *flat_final), grad

    ys, *flat_final = core(xs, *flat_states, *[flat_weights[i] for i in present])
    sequence = tf.transpose(ys, [1, 0, 2]) if return_sequences else None  # [batch, time, units]
    return ys[-1], sequence, tf.nest.pack_sequence_as(initial_states, flat_final)


def state_gradients(layer, inputs, loss_fn, initial_state=None, mask=None):
    """``(output, deltas)``: the layer's return value and ``δh̃_t = ∂L/∂h_t`` per step.

    The same promise as :func:`lowlevel.gradients.state_gradients` (``deltas [batch,
    time, units]``; for LSTM ``∂L/∂h_t`` with ``c_t`` held fixed), read from the
    hand-written backward pass instead of a probed tape; masked steps (which were
    skipped) get 0, and with ``go_backwards`` ``deltas[:, k]`` is the k-th step taken.
    ``loss_fn(output)`` is differentiated by a tape only down to ``output``.
    """
    cell = layer.cell
    reason = cannot_run(cell)
    if reason is not None:
        raise NotImplementedError(f"bptt cannot run this layer: {reason}.")
    inputs = tf.convert_to_tensor(inputs, cell.dtype)  # [batch, time, features]
    if not cell.built:
        cell.build(inputs.shape[-1])
    if initial_state is None:
        initial_state = cell.get_initial_state(inputs.shape[0])
    states = tf.nest.map_structure(lambda s: tf.convert_to_tensor(s, cell.dtype), initial_state)
    xs, masks = time_major(inputs, mask, layer.go_backwards)
    weights = tf.nest.map_structure(lambda w: None if w is None else tf.convert_to_tensor(w),
                                    cell.step_weights())
    no_dropout = (None, None)
    ys, final, saved = _forward(cell, xs, masks, states, weights, no_dropout,
                                layer.zero_output_for_mask)
    with tf.GradientTape() as tape:
        tape.watch(ys)
        output = tf.transpose(ys, [1, 0, 2]) if layer.return_sequences else ys[-1]
        loss = loss_fn(output)
    d_ys = tape.gradient(loss, ys, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    d_final = tf.nest.map_structure(tf.zeros_like, final)
    *_, deltas = _backward(cell, xs, masks, saved, weights, no_dropout,
                           layer.zero_output_for_mask, d_ys, d_final)
    return output, tf.transpose(deltas, [1, 0, 2])  # [batch, time, units]


# --------------------------------------------------------------- forward, backward
def _forward(cell, xs, masks, states, weights, dropout_masks, zero_output_for_mask):
    """``(ys [time, batch, units], final_states, saved)``; ``saved``: each of the
    cell's saved values stacked over time, ``[time, batch, k]``."""
    time_steps = tf.shape(xs)[0]

    def masked_step(t, prev_output, states):
        output, new_states, saved = cell.forward(xs[t], states, weights, dropout_masks)
        m_t = None if masks is None else masks[t]
        output, new_states = masked_update(m_t, output, prev_output, new_states, states,
                                           zero_output_for_mask)
        return output, new_states, saved

    # The first step outside the loop: it fixes what the cell saves (its number, shapes).
    output, states, saved = masked_step(0, None, states)
    y_ta = tf.TensorArray(output.dtype, size=time_steps).write(0, output)
    saved_tas = [tf.TensorArray(s.dtype, size=time_steps).write(0, s) for s in saved]

    def body(t, output, states, y_ta, saved_tas):
        output, states, saved = masked_step(t, output, states)
        saved_tas = [ta.write(t, s) for ta, s in zip(saved_tas, saved)]
        return t + 1, output, states, y_ta.write(t, output), saved_tas

    _, _, final, y_ta, saved_tas = tf.while_loop(
        lambda t, *_: t < time_steps, body, (tf.constant(1), output, states, y_ta, saved_tas),
        parallel_iterations=PARALLEL_ITERATIONS, maximum_iterations=time_steps - 1)
    return y_ta.stack(), final, [ta.stack() for ta in saved_tas]


def _backward(cell, xs, masks, saved, weights, dropout_masks, zero_output_for_mask, d_ys,
              d_final):
    """``(∂L/∂xs, ∂L/∂initial_states, ∂L/∂weights, δh̃ [time, batch, units])``."""
    time_steps = tf.shape(xs)[0]
    dtype = d_ys.dtype
    # What the steps multiply by (the built-in cells: Uᵀ), formed once per sequence; a
    # cell without the hook multiplies by its weights.
    backward_operands = getattr(cell, "backward_operands", None)
    operands = weights if backward_operands is None else backward_operands(weights)

    def body(t, d_states, d_carry, d_pre_ta, delta_ta):
        m_t = None if masks is None else masks[t]
        d_output, d_step_states, d_skip, d_carry = masked_update_backward(
            m_t, d_ys[t] + d_carry, d_states, zero_output_for_mask)
        d_pre, d_prev = cell.backward([s[t] for s in saved], d_output, d_step_states,
                                      operands, dropout_masks)
        if d_skip is not None:
            d_prev = [a + b for a, b in zip(d_prev, d_skip)]
        delta = d_output + d_step_states[0]  # ∂L/∂h_t, h_t the output and first state
        return t - 1, d_prev, d_carry, d_pre_ta.write(t, d_pre), delta_ta.write(t, delta)

    d_states = list(tf.nest.flatten(d_final))
    _, d_initial, _, d_pre_ta, delta_ta = tf.while_loop(
        lambda t, *_: t >= 0, body,
        (time_steps - 1, d_states, tf.zeros_like(d_ys[0]), tf.TensorArray(dtype, size=time_steps),
         tf.TensorArray(dtype, size=time_steps)),
        parallel_iterations=PARALLEL_ITERATIONS, maximum_iterations=time_steps)
    d_xs, d_weights = cell.weight_gradients(xs, saved, d_pre_ta.stack(), weights, dropout_masks)
    return d_xs, tf.nest.pack_sequence_as(d_final, d_initial), d_weights, delta_ta.stack()
