"""Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000),
as Keras's ``LSTMCell``. Fused gate order of every weight's columns: i, f, c, o."""

from __future__ import annotations

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import RecurrentCell, _initial_value
from lowlevel.loops.weight_gradients import weight_matmul


def lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, activation,
              recurrent_activation):
    """One LSTM step; returns ``(h, c)``, each ``[batch, units]``.

    With ``σ = recurrent_activation`` and ``φ = activation``, columns fused as i, f, c, o::

        z = x_t @ kernel + h_prev @ recurrent_kernel + bias     # [batch, 4 * units]
        i = σ(z_i)                 input gate
        f = σ(z_f)                 forget gate
        g = φ(z_c)                 candidate cell
        o = σ(z_o)                 output gate
        c = f * c_prev + i * g
        h = o * φ(c)
    """
    # x_t @ kernel + h_prev @ recurrent_kernel; weight_matmul is `@` (lowlevel.loops.weight_gradients)
    z = weight_matmul(x_t, kernel) + weight_matmul(h_prev, recurrent_kernel)  # [batch, 4 * units]
    if bias is not None:
        z = tf.nn.bias_add(z, bias)  # = z + bias; its gradient is one op, not sum + reshape
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)  # 4 x [batch, units]
    i = recurrent_activation(z_i)
    f = recurrent_activation(z_f)
    g = activation(z_c)
    o = recurrent_activation(z_o)
    c = f * c_prev + i * g
    h = o * activation(c)
    return h, c


class LSTMCell(RecurrentCell):
    """LSTM cell with states ``[h, c]``.

    Arguments and defaults are Keras's ``keras.layers.LSTMCell``'s. Variables:
    ``kernel [input_dim, 4*units]``, ``recurrent_kernel [units, 4*units]``,
    ``bias [4*units]``, columns i, f, c, o. ``unit_forget_bias=True`` starts the
    forget-gate bias at 1 (Jozefowicz, Zaremba & Sutskever 2015).
    """

    gates = 4
    state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 input_dim=None, dtype=tf.float32, name=None):
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

    def step(self, x_t, states, masks=(None, None), weights=None):
        """``x_t [batch, input_dim]``, ``states [h_prev, c_prev]`` -> ``(h, [h, c])``.

        Dropout masks, when given, multiply ``x_t`` and ``h_prev`` before the
        matmuls (one mask for all four gates); ``c_prev`` is never dropped.
        ``weights``: ``(kernel, recurrent_kernel, bias)`` instead of the variables
        (:meth:`step_weights`; the layers pass them cast to their ``compute_dtype``).
        """
        h_prev, c_prev = states
        x_mask, h_mask = masks
        kernel, recurrent_kernel, bias = self.step_weights(weights)
        if x_mask is not None:
            x_t = x_t * x_mask
        if h_mask is not None:
            h_prev = h_prev * h_mask
        h, c = lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias,
                         self.activation, self.recurrent_activation)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}
