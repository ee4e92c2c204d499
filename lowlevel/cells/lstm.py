"""Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000),
as Keras's ``LSTMCell``: its step forward and backward. Fused gate order of every weight's
columns: i, f, c, o."""

from __future__ import annotations

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import (Activation, DTypeLike, Initializer, RecurrentCell,
                                 _initial_value, dropped, input_and_weight_gradients)


def lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, activation,
              recurrent_activation, matmul=tf.matmul):
    """One LSTM step; returns ``(h, c)``, each ``[batch, units]`` (:func:`lstm_gates`)."""
    h, c, _ = lstm_gates(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation, matmul)
    return h, c


def lstm_gates(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, activation,
               recurrent_activation, matmul=tf.matmul):
    """One LSTM step; returns ``(h, c, (i, f, g, o, φ(c)))``, each ``[batch, units]``.

    With ``σ = recurrent_activation`` and ``φ = activation``, columns fused as i, f, c, o::

        z = x_t @ kernel + h_prev @ recurrent_kernel + bias     # [batch, 4 * units]
        i = σ(z_i)                 input gate
        f = σ(z_f)                 forget gate
        g = φ(z_c)                 candidate cell
        o = σ(z_o)                 output gate
        c = f * c_prev + i * g
        h = o * φ(c)
    """
    z = matmul(x_t, kernel) + matmul(h_prev, recurrent_kernel)  # [batch, 4 * units]
    if bias is not None:
        z = tf.nn.bias_add(z, bias)  # = z + bias; its gradient is one op, not sum + reshape
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)  # 4 x [batch, units]
    i = recurrent_activation(z_i)
    f = recurrent_activation(z_f)
    g = activation(z_c)
    o = recurrent_activation(z_o)
    c = f * c_prev + i * g
    phi_c = activation(c)
    h = o * phi_c
    return h, c, (i, f, g, o, phi_c)


class LSTMCell(RecurrentCell):
    """LSTM cell with states ``[h, c]``.

    Arguments and defaults are Keras's ``keras.layers.LSTMCell``'s. Variables:
    ``kernel [input_dim, 4*units]``, ``recurrent_kernel [units, 4*units]``,
    ``bias [4*units]``, columns i, f, c, o. ``unit_forget_bias=True`` starts the
    forget-gate bias at 1 (Jozefowicz, Zaremba & Sutskever 2015).
    """

    gates = 4
    state_count = 2

    def __init__(
        self,
        units: int,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        unit_forget_bias: bool = True,
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        input_dim: int | None = None,
        dtype: DTypeLike = tf.float32,
        name: str | None = None,
    ) -> None:
        self.recurrent_activation = activations.get(recurrent_activation,
                                                    "recurrent_activation")
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed,
                         input_dim=input_dim, dtype=dtype, name=name)

    def _bias_initial_value(self, shape):
        if not self.unit_forget_bias:
            return super()._bias_initial_value(shape)
        # [b_i, 1, b_c, b_o]: as Keras, the forget block is ones, the rest initialised.
        n = self.units
        rest = _initial_value(self.bias_initializer, [n], self.dtype, "bias_initializer")
        cell_and_output = _initial_value(self.bias_initializer, [2 * n], self.dtype,
                                         "bias_initializer")
        return tf.concat([rest, tf.ones([n], self.dtype), cell_and_output], axis=0)

    def forward(self, x_t, states, weights, masks=(None, None), matmul=tf.matmul):
        """``x_t [batch, input_dim]``, ``states [h_prev, c_prev]`` -> ``(h, [h, c], saved)``.

        Dropout masks, when given, multiply ``x_t`` and ``h_prev`` before the
        matmuls (one mask for all four gates); ``c_prev`` is never dropped.
        """
        h_prev, c_prev = states
        x_mask, h_mask = masks
        kernel, recurrent_kernel, bias = weights
        h, c, gates = lstm_gates(dropped(x_t, x_mask), dropped(h_prev, h_mask), c_prev, kernel,
                                 recurrent_kernel, bias, self.activation,
                                 self.recurrent_activation, matmul)
        return h, [h, c], (*gates, h_prev, c_prev)

    def backward(self, saved, d_output, d_states, weights, masks=(None, None)):
        """With ``σ'`` and ``φ'`` written through the saved values (``i, f, g, o, φ(c)``)::

            δh       = δoutput + δh_state
            δc       = δc_state + δh ⊙ o ⊙ φ'(c)
            δa_i = δc ⊙ g ⊙ σ'     δa_f = δc ⊙ c_prev ⊙ σ'
            δa_c = δc ⊙ i ⊙ φ'     δa_o = δh ⊙ φ(c) ⊙ σ'         d_pre = [δa_i, δa_f, δa_c, δa_o]
            δh_prev  = (d_pre Uᵀ) ⊙ m_h
            δc_prev  = δc ⊙ f
        """
        i, f, g, o, phi_c, _, c_prev = saved
        _, recurrent_kernel, _ = weights
        d_act = activations.derivative(self.activation)
        d_rec = activations.derivative(self.recurrent_activation)
        d_h = d_output + d_states[0]
        d_c = d_states[1] + d_act(phi_c, d_h * o)
        d_a = tf.concat([d_rec(i, d_c * g), d_rec(f, d_c * c_prev), d_act(g, d_c * i),
                         d_rec(o, d_h * phi_c)], axis=-1)  # [batch, 4 * units]
        d_h_prev = dropped(tf.matmul(d_a, recurrent_kernel, transpose_b=True), masks[1])
        return d_a, [d_h_prev, d_c * f]

    def weight_gradients(self, xs, saved, d_pre, weights, masks=(None, None)):
        """Over all steps: ``∂L/∂W = X'ᵀ δA``, ``∂L/∂U = H'ᵀ δA``, ``∂L/∂b = Σ δA``,
        ``∂L/∂xs = (δA Wᵀ) ⊙ m_x`` (``X' = xs ⊙ m_x``, ``H' = h_prev ⊙ m_h``)."""
        return input_and_weight_gradients(xs, saved[5], d_pre, d_pre, weights, masks)

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}
