"""Backpropagation through time written by hand: a ``tf.custom_gradient`` core.

:func:`bptt_unroll` computes what :func:`lowlevel.loops.reference.unroll` computes for one
SimpleRNN, LSTM or GRU cell, and supplies its own gradient: a reverse loop that
carries ``δh`` (and ``δc``) back through time and stores each step's pre-activation
gradient ``δa_t``; every weight gradient is then one large matmul over all steps::

    ∂L/∂W = Σ_t x_tᵀ δa_t = Xᵀ δA        X  [time*batch, input_dim],  δA [time*batch, G*units]
    ∂L/∂U = Σ_t h'_{t-1}ᵀ δa_t = H'ᵀ δA  (h' = h_{t-1} after recurrent dropout)
    ∂L/∂b = Σ_t Σ_batch δa_t
    ∂L/∂x_t = δa_t Wᵀ                    (one [time*batch, G*units] @ [G*units, input_dim])

Notation (time-major, in the order the steps are taken; ``go_backwards`` reverses the
inputs first): ``m_t ∈ {0, 1}`` the mask column (1 without a mask), ``y_t`` the output,
``h̃_t`` (``c̃_t``) the step's candidate state, ``h_t = m_t h̃_t + (1 - m_t) h_{t-1}``,
``y_t = m_t h̃_t + (1 - m_t) y_{t-1}`` (``y_{-1} = 0``; ``y_t = m_t h̃_t`` with
``zero_output_for_mask``). Given ``g_t = ∂L/∂y_t`` from outside (the returned
sequence and/or the last output) and ``δh_T, δc_T`` from the returned final states,
for ``t = T-1 .. 0``::

    γ_t  = g_t + (1 - m_t) γ_{t+1}     (γ_T = 0; no carry with zero_output_for_mask)
    δh̃_t = m_t (δh_t + γ_t)            ∂L/∂h_t: the state gradient the instruments read
    δh_{t-1} = (1 - m_t) δh_t + ∂h̃_t/∂h_{t-1} · δh̃_t       (cell-specific, below)

with ``δh_t`` the gradient reaching ``h_t`` through later steps and the final state.
The cell-specific parts are in :func:`_simple_rnn_backward`, :func:`_lstm_backward`
and :func:`_gru_backward`; ``σ'`` and ``φ'`` are written through the activation's
value (``tanh' = 1 - y²``, ``sigmoid' = y (1 - y)``; TensorFlow's ``TanhGrad`` and
``SigmoidGrad`` kernels), so only activations in
:data:`DERIVATIVES` are supported (:func:`supports`); the layer falls back to
``'fast'`` otherwise.

The forward runs in a ``tf.while_loop`` without a tape. Its step equations are those
of the cells' ``*_step`` functions, restated here because the backward pass needs the
gates they compute internally (and the input projection ``x W + b_in`` is formed
first, so LSTM adds its bias in another order: equal to rounding). ``tests/test_bptt.py``
proves both directions equal to the reference unroll under ``GradientTape`` (float64
1e-10, float32 1e-5), and ``tests/test_implementations.py`` to Keras.
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells import GRUCell, LSTMCell, SimpleRNNCell

PARALLEL_ITERATIONS = 32
# Compute x @ kernel for every step before the loop (one large matmul) or inside it.
HOIST_INPUT_PROJECTION = False


# ---------------------------------------------------------- activation derivatives
# ``dy ⊙ φ'(a)`` written through the activation's value ``y = φ(a)``, with TensorFlow's
# one-op kernels where they exist (one op per gate instead of three).
def _g_tanh(y, dy):
    return tf.raw_ops.TanhGrad(y=y, dy=dy)  # dy (1 - y²)


def _g_sigmoid(y, dy):
    return tf.raw_ops.SigmoidGrad(y=y, dy=dy)  # dy y (1 - y)


def _g_linear(y, dy):
    return dy


def _g_relu(y, dy):
    return tf.raw_ops.ReluGrad(gradients=dy, features=y)  # dy [y > 0]


def _g_hard_sigmoid(y, dy):
    # relu6(x + 3) / 6: slope 1/6 strictly inside (0, 1), as relu6's gradient.
    return dy * (tf.cast((y > 0) & (y < 1), y.dtype) / 6.0)


# ``(y, dy) -> dy ⊙ φ'(a)`` for the activations whose derivative is known here.
DERIVATIVES = {
    "tanh": _g_tanh, "sigmoid": _g_sigmoid, "linear": _g_linear, "relu": _g_relu,
    "hard_sigmoid": _g_hard_sigmoid,
}


def supports(cell) -> bool:
    """True if :func:`bptt_unroll` can run ``cell`` (one built cell, known derivatives)."""
    if type(cell) not in (SimpleRNNCell, LSTMCell, GRUCell):
        return False
    names = [activations.name_of(cell.activation)]
    if type(cell) is not SimpleRNNCell:
        names.append(activations.name_of(cell.recurrent_activation))
    return all(isinstance(n, str) and n in DERIVATIVES for n in names)


# ------------------------------------------------------------------------ the layer
def bptt_unroll(cell, inputs, initial_states, mask=None, go_backwards=False,
                return_sequences=False, zero_output_for_mask=False, dropout_masks=None,
                weights=None):
    """:func:`lowlevel.loops.reference.unroll` of ``cell.step`` with a hand-written gradient.

    Args and returns as ``unroll`` (``inputs [batch, time, features]``,
    ``initial_states`` ``[h]`` or ``[h, c]``), plus ``dropout_masks``: the pair
    ``(m_x [batch, input_dim] or None, m_h [batch, units] or None)`` that
    ``cell.step`` would receive, and ``weights``: the ``(kernel, recurrent_kernel,
    bias)`` that ``cell.step`` would receive (``None``: the cell's variables; the
    layers' ``compute_dtype`` passes them cast, and the hand-written gradient then
    reaches the variables through the cast). Everything runs in ``inputs.dtype``.
    Returns ``(last [batch, units], sequence [batch, time, units] or None,
    final_states)``.
    """
    out = _run(cell, inputs, initial_states, mask, go_backwards, zero_output_for_mask,
               dropout_masks, weights)
    ys, final = out  # ys [time, batch, units]
    sequence = tf.transpose(ys, [1, 0, 2]) if return_sequences else None
    return ys[-1], sequence, final


def _prepare(cell, inputs, mask, go_backwards, dropout_masks):
    xs = tf.transpose(inputs, [1, 0, 2])  # [time, batch, features]
    if go_backwards:
        xs = tf.reverse(xs, axis=[0])
    m_x, m_h = dropout_masks if dropout_masks is not None else (None, None)
    if m_x is not None:
        xs = xs * m_x  # one input mask for every step; autodiff carries it
    masks = None
    if mask is not None:
        masks = tf.transpose(tf.cast(mask, tf.bool), [1, 0])  # [time, batch]
        if go_backwards:
            masks = tf.reverse(masks, axis=[0])
        masks = masks[:, :, tf.newaxis]  # [time, batch, 1]
    return xs, masks, m_h


def _run(cell, inputs, initial_states, mask, go_backwards, zero_output_for_mask,
         dropout_masks, weights=None):
    xs, masks, m_h = _prepare(cell, inputs, mask, go_backwards, dropout_masks)
    spec = _Spec(cell, masks, m_h, zero_output_for_mask)
    # [kernel, recurrent_kernel(, bias)]: reads (or casts) of the variables, so the
    # core's gradients reach them.
    weights = [tf.convert_to_tensor(w) for w in cell.step_weights(weights) if w is not None]
    states = [tf.convert_to_tensor(s) for s in tf.nest.flatten(initial_states)]
    n_states = len(states)

    @tf.custom_gradient
    def core(xs, *flat):
        states, weights = list(flat[:n_states]), list(flat[n_states:])
        ys, final, saved = spec.forward(xs, states, weights)

        def grad(d_ys, *d_final):
            d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, final)]
            if d_ys is None:
                d_ys = tf.zeros_like(ys)
            d_xs, d_states, d_weights, _ = spec.backward(xs, saved, weights, d_ys, d_final)
            return [d_xs, *d_states, *d_weights]

        return (ys, *final), grad

    ys, *final = core(xs, *states, *weights)
    return ys, tf.nest.pack_sequence_as(initial_states, final)


def state_gradients(layer, inputs, loss_fn, initial_state=None, mask=None):
    """``(output, deltas)``: the layer's return value and ``δh̃_t = ∂L/∂h_t`` per step.

    The same promise as :func:`lowlevel.gradients.state_gradients` (``deltas [batch,
    time, units]``; for LSTM ``∂L/∂h_t`` with ``c_t`` held fixed), read from the
    hand-written backward pass instead of a probed tape; masked steps (which were
    skipped) get 0, and with ``go_backwards`` ``deltas[:, k]`` is the k-th step taken.
    ``loss_fn(output)`` is differentiated by a tape only down to ``output``.
    """
    cell = layer.cell
    if not supports(cell):
        raise NotImplementedError(f"bptt supports SimpleRNNCell, LSTMCell and GRUCell with "
                                  f"activations in {sorted(DERIVATIVES)}; received "
                                  f"{type(cell).__name__}.")
    inputs = tf.convert_to_tensor(inputs, cell.dtype)  # [batch, time, features]
    if not cell.built:
        cell.build(inputs.shape[-1])
    if initial_state is None:
        initial_state = cell.get_initial_state(inputs.shape[0])
    states = [tf.convert_to_tensor(s, cell.dtype) for s in tf.nest.flatten(initial_state)]
    xs, masks, m_h = _prepare(cell, inputs, mask, layer.go_backwards, None)
    spec = _Spec(cell, masks, m_h, layer.zero_output_for_mask)
    weights = [tf.convert_to_tensor(w) for w in cell.weights]
    ys, final, saved = spec.forward(xs, states, weights)
    with tf.GradientTape() as tape:
        tape.watch(ys)
        output = tf.transpose(ys, [1, 0, 2]) if layer.return_sequences else ys[-1]
        loss = loss_fn(output)
    d_ys = tape.gradient(loss, ys, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    *_, deltas = spec.backward(xs, saved, weights, d_ys, [tf.zeros_like(s) for s in final])
    return output, tf.transpose(deltas, [1, 0, 2])  # [batch, time, units]


# --------------------------------------------------------------- forward, backward
class _Spec:
    """One cell's forward (saving what the backward needs) and backward, time-major."""

    def __init__(self, cell, masks, m_h, zero_output_for_mask):
        self.cell = cell
        self.kind = type(cell)
        self.masks = masks            # [time, batch, 1] bool or None
        self.m_h = m_h                # [batch, units] or None
        self.zero_output = zero_output_for_mask
        self.act = cell.activation
        self.d_act = DERIVATIVES[activations.name_of(cell.activation)]
        if self.kind is not SimpleRNNCell:
            self.rec = cell.recurrent_activation
            self.d_rec = DERIVATIVES[activations.name_of(cell.recurrent_activation)]
        self.units = cell.units

    # ---------------------------------------------------------------- forward
    def forward(self, xs, states, weights):
        """``(ys [time, batch, units], final_states, saved)``."""
        kernel, recurrent_kernel = weights[0], weights[1]
        bias = weights[2] if len(weights) > 2 else None
        time_steps = tf.shape(xs)[0]
        dtype = xs.dtype
        m_h = self.m_h
        masks = self.masks
        n_saved = {SimpleRNNCell: 1, LSTMCell: 2, GRUCell: 2}[self.kind]

        u = self.units
        reset_after = self.kind is GRUCell and self.cell.reset_after
        b_in = bias[0] if reset_after and bias is not None else bias  # the input bias
        b_rec = bias[1] if reset_after and bias is not None else None

        def project(x):
            """The input projection ``x @ kernel + b_in``: ``[..., G * units]``."""
            p = x @ kernel
            return p if b_in is None else p + b_in

        def cell_step(x_proj, states):
            """Candidate ``(h̃, new states, saved values)`` of one step, from ``x_proj``."""
            h_prev = states[0]
            h_gates = h_prev if m_h is None else h_prev * m_h
            if self.kind is SimpleRNNCell:
                # simple_rnn_step: h = φ(x W + b + h' U)
                h = self.act(x_proj + h_gates @ recurrent_kernel)
                return h, [h], [h]
            if self.kind is LSTMCell:
                # lstm_step's equations, keeping the gates for the backward pass.
                z = x_proj + h_gates @ recurrent_kernel  # [batch, 4 * units]
                z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
                i, f, o = self.rec(z_i), self.rec(z_f), self.rec(z_o)
                g = self.act(z_c)
                c = f * states[1] + i * g
                phi_c = self.act(c)
                h = o * phi_c
                return h, [h, c], [tf.concat([i, f, g, o], axis=-1), phi_c]
            # GRU: gru_step's equations, keeping z, r, ĥ and the recurrent h-projection.
            x_z, x_r, x_h = tf.split(x_proj, 3, axis=-1)
            if reset_after:
                h_proj = h_gates @ recurrent_kernel  # [batch, 3 * units]
                if b_rec is not None:
                    h_proj = h_proj + b_rec
                h_z, h_r, h_h = tf.split(h_proj, 3, axis=-1)
                z = self.rec(x_z + h_z)
                r = self.rec(x_r + h_r)
                h_hat = self.act(x_h + r * h_h)
                extra = h_h
            else:
                h_z, h_r = tf.split(h_gates @ recurrent_kernel[:, :2 * u], 2, axis=-1)
                z = self.rec(x_z + h_z)
                r = self.rec(x_r + h_r)
                h_hat = self.act(x_h + (r * h_gates) @ recurrent_kernel[:, 2 * u:])
                extra = tf.zeros_like(h_hat[:, :0])
            h = z * h_prev + (1.0 - z) * h_hat
            return h, [h], [tf.concat([z, r, h_hat], axis=-1), extra]

        if HOIST_INPUT_PROJECTION:  # one [time*batch, input] @ [input, G*units] matmul
            flat = project(tf.reshape(xs, [-1, xs.shape[-1]]))  # [time*batch, G*units]
            x_projs = tf.reshape(flat, tf.concat([tf.shape(xs)[:2], [-1]], 0))

            def x_proj_at(t):
                return x_projs[t]
        else:  # x_t @ kernel in the loop, beside the serial h @ U chain
            def x_proj_at(t):
                return project(xs[t])

        batch = xs.shape[1] if xs.shape[1] is not None else tf.shape(xs)[1]
        y0 = tf.zeros([batch, self.units], dtype)

        def body(t, y_prev, states, y_ta, prev_ta, saved_tas):
            h, new_states, saved = cell_step(x_proj_at(t), states)
            prev_ta = [ta.write(t, s) for ta, s in zip(prev_ta, states)]
            if masks is not None:
                m_t = masks[t]
                new_states = [tf.where(m_t, n, s) for n, s in zip(new_states, states)]
                y = tf.where(m_t, h, tf.zeros_like(h) if self.zero_output else y_prev)
            else:
                y = h
            saved_tas = [ta.write(t, s) for ta, s in zip(saved_tas, saved)]
            return t + 1, y, new_states, y_ta.write(t, y), prev_ta, saved_tas

        def ta():
            return tf.TensorArray(dtype, size=time_steps)

        result = tf.while_loop(
            lambda t, *_: t < time_steps, body,
            (tf.constant(0), y0, list(states), ta(), [ta() for _ in states],
             [ta() for _ in range(n_saved)]),
            parallel_iterations=PARALLEL_ITERATIONS, maximum_iterations=time_steps)
        _, _, final, y_ta, prev_ta, saved_tas = result
        ys = y_ta.stack()  # [time, batch, units]
        saved = {"prev": [p.stack() for p in prev_ta],       # states before each step
                 "saved": [s.stack() for s in saved_tas]}
        return ys, final, saved

    # --------------------------------------------------------------- backward
    def backward(self, xs, saved, weights, d_ys, d_final):
        """``(∂L/∂xs, ∂L/∂initial_states, ∂L/∂weights, δh̃ [time, batch, units])``."""
        kernel, recurrent_kernel = weights[0], weights[1]
        has_bias = len(weights) > 2
        time_steps = tf.shape(xs)[0]
        dtype = xs.dtype
        m_h = self.m_h
        masks = self.masks
        kind = self.kind
        u = self.units
        prev = saved["prev"]      # [h_prev (, c_prev)], each [time, batch, units]
        sv = saved["saved"]
        u_t = tf.transpose(recurrent_kernel)  # [G*units, units]
        reset_after = kind is GRUCell and self.cell.reset_after
        if kind is GRUCell and not reset_after:
            u_zr_t = tf.transpose(recurrent_kernel[:, :2 * u])  # [2u, u]
            u_h_t = tf.transpose(recurrent_kernel[:, 2 * u:])  # [u, u]

        def step_backward(t, d_h_tilde, d_c):
            """``(δa_t, δh_{t-1} through the step, δc_{t-1} through the step)``."""
            if kind is SimpleRNNCell:
                h = sv[0][t]
                d_a = self.d_act(h, d_h_tilde)  # δa = δh̃ ⊙ φ'(a)
                d_hg = d_a @ u_t
                d_c_prev = None
            elif kind is LSTMCell:
                i, f, g, o = tf.split(sv[0][t], 4, axis=-1)
                phi_c = sv[1][t]
                # δc̃ = δc + δh̃ ⊙ o ⊙ φ'(c̃);  δo = δh̃ ⊙ φ(c̃)
                d_c_tilde = d_c + self.d_act(phi_c, d_h_tilde * o)
                d_a = tf.concat([self.d_rec(i, d_c_tilde * g),           # δa_i = δc̃ g σ'
                                 self.d_rec(f, d_c_tilde * prev[1][t]),   # δa_f = δc̃ c_prev σ'
                                 self.d_act(g, d_c_tilde * i),            # δa_c = δc̃ i φ'
                                 self.d_rec(o, d_h_tilde * phi_c)],       # δa_o = δh̃ φ(c̃) σ'
                                axis=-1)
                d_hg = d_a @ u_t
                d_c_prev = d_c_tilde * f
            else:
                z, r, h_hat = tf.split(sv[0][t], 3, axis=-1)
                h_prev = prev[0][t]
                d_az = self.d_rec(z, d_h_tilde * (h_prev - h_hat))   # δa_z
                d_ah = self.d_act(h_hat, d_h_tilde * (1.0 - z))      # δa_h (pre-φ of ĥ)
                if reset_after:
                    d_ar = self.d_rec(r, d_ah * sv[1][t])              # δa_r = δa_h (h'U_h + b) σ'
                    d_a = tf.concat([d_az, d_ar, d_ah], axis=-1)
                    d_hg = tf.concat([d_az, d_ar, d_ah * r], axis=-1) @ u_t
                else:
                    h_g = h_prev if m_h is None else h_prev * m_h
                    d_rh = d_ah @ u_h_t                                # δ(r ⊙ h')
                    d_ar = self.d_rec(r, d_rh * h_g)
                    d_a = tf.concat([d_az, d_ar, d_ah], axis=-1)
                    d_hg = tf.concat([d_az, d_ar], axis=-1) @ u_zr_t + d_rh * r
                d_c_prev = None
            if m_h is not None:
                d_hg = d_hg * m_h
            d_h_prev = d_hg
            if kind is GRUCell:
                d_h_prev = d_h_prev + d_h_tilde * z  # the interpolation's undropped h_prev
            return d_a, d_h_prev, d_c_prev

        d_h = d_final[0]
        d_c = d_final[1] if kind is LSTMCell else tf.zeros_like(d_h[:, :0])
        gamma = tf.zeros_like(d_h)

        def body(t, d_h, d_c, gamma, d_a_ta, delta_ta):
            g_t = d_ys[t] + gamma
            if masks is not None:
                m = tf.cast(masks[t], dtype)
                d_h_tilde = m * (d_h + g_t)
                gamma = tf.zeros_like(g_t) if self.zero_output else (1.0 - m) * g_t
                d_c_in = m * d_c if kind is LSTMCell else d_c
            else:
                d_h_tilde = d_h + g_t
                d_c_in = d_c
            d_a, d_h_prev, d_c_prev = step_backward(t, d_h_tilde, d_c_in)
            if masks is not None:
                d_h_prev = d_h_prev + (1.0 - m) * d_h
                if kind is LSTMCell:
                    d_c_prev = d_c_prev + (1.0 - m) * d_c
            if kind is not LSTMCell:
                d_c_prev = d_c
            return (t - 1, d_h_prev, d_c_prev, gamma, d_a_ta.write(t, d_a),
                    delta_ta.write(t, d_h_tilde))

        result = tf.while_loop(
            lambda t, *_: t >= 0, body,
            (time_steps - 1, d_h, d_c, gamma, tf.TensorArray(dtype, size=time_steps),
             tf.TensorArray(dtype, size=time_steps)),
            parallel_iterations=PARALLEL_ITERATIONS, maximum_iterations=time_steps)
        _, d_h0, d_c0, _, d_a_ta, delta_ta = result
        d_a = d_a_ta.stack()  # [time, batch, G*units]
        deltas = delta_ta.stack()  # [time, batch, units]

        # Weight gradients: one matmul each over every step and example.
        width = d_a.shape[-1]
        flat_d_a = tf.reshape(d_a, [-1, width])  # [time*batch, G*units]
        flat_x = tf.reshape(xs, [-1, xs.shape[-1]])  # [time*batch, input_dim]
        h_g = prev[0] if m_h is None else prev[0] * m_h  # h' [time, batch, units]
        flat_h = tf.reshape(h_g, [-1, u])
        d_kernel = tf.matmul(flat_x, flat_d_a, transpose_a=True)
        d_xs = tf.reshape(tf.matmul(flat_d_a, kernel, transpose_b=True), tf.shape(xs))
        if kind is GRUCell and reset_after:
            z_r = d_a[..., :2 * u]
            d_rec = tf.concat([z_r, d_a[..., 2 * u:] * sv[0][..., u:2 * u]], axis=-1)
            flat_d_rec = tf.reshape(d_rec, [-1, width])  # δ(h' U + b_rec)
            d_recurrent = tf.matmul(flat_h, flat_d_rec, transpose_a=True)
        elif kind is GRUCell:
            r = tf.reshape(sv[0][..., u:2 * u], [-1, u])
            d_recurrent = tf.concat([
                tf.matmul(flat_h, flat_d_a[:, :2 * u], transpose_a=True),
                tf.matmul(flat_h * r, flat_d_a[:, 2 * u:], transpose_a=True)], axis=-1)
        else:
            d_recurrent = tf.matmul(flat_h, flat_d_a, transpose_a=True)
        d_weights = [d_kernel, d_recurrent]
        if has_bias:
            d_bias = tf.reduce_sum(flat_d_a, axis=0)
            if kind is GRUCell and reset_after:
                d_bias = tf.stack([d_bias, tf.reduce_sum(flat_d_rec, axis=0)])
            d_weights.append(d_bias)
        d_states = [d_h0] + ([d_c0] if kind is LSTMCell else [])
        return d_xs, d_states, d_weights, deltas
