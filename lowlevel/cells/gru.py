"""Gated recurrent unit (Cho et al. 2014), as Keras's ``GRUCell``.

Fused gate order z, r, h. Two variants, both as Keras:

- ``reset_after=True`` (Keras default; cuDNN, PyTorch): the reset gate multiplies the
  recurrent projection, and there are two biases, ``bias [2, 3*units]`` = (input, recurrent).
- ``reset_after=False`` (the original paper, v1): the reset gate multiplies ``h_prev``
  before its projection; one ``bias [3*units]``.
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import RecurrentCell
from lowlevel.loops.weight_gradients import weight_matmul


def gru_step(x_t, h_prev, h_prev_for_gates, kernel, recurrent_kernel, bias, activation,
             recurrent_activation, reset_after):
    """One GRU step; returns ``h [batch, units]``.

    ``h_prev_for_gates`` is ``h_prev`` after recurrent dropout (or ``h_prev`` itself);
    the final interpolation always uses the undropped ``h_prev``, as Keras does.
    With ``σ = recurrent_activation``, ``φ = activation``, ``U = recurrent_kernel``::

        x_z, x_r, x_h = split(x_t @ kernel + b_in)                    # 3 x [batch, units]
        z = σ(x_z + h_prev @ U_z + b_rec_z)                            update gate
        r = σ(x_r + h_prev @ U_r + b_rec_r)                            reset gate
        reset_after:   h_hat = φ(x_h + r * (h_prev @ U_h + b_rec_h))
        reset_before:  h_hat = φ(x_h + (r * h_prev) @ U_h)           (one bias: b_in)
        h = z * h_prev + (1 - z) * h_hat
    """
    units = h_prev.shape[-1]
    if bias is None:
        b_in = b_rec = None
    elif reset_after:
        b_in, b_rec = tf.unstack(bias)  # one op (two slices were eight graph nodes)
    else:
        b_in, b_rec = bias, None

    # weight_matmul(a, w) is a @ w (lowlevel.loops.weight_gradients)
    x_proj = weight_matmul(x_t, kernel)  # [batch, 3 * units]
    if b_in is not None:
        x_proj = tf.nn.bias_add(x_proj, b_in)  # = x_proj + b_in; gradient in one op
    x_z, x_r, x_h = tf.split(x_proj, 3, axis=-1)

    if reset_after:
        h_proj = weight_matmul(h_prev_for_gates, recurrent_kernel)  # [batch, 3 * units]
        if b_rec is not None:
            h_proj = tf.nn.bias_add(h_proj, b_rec)
        h_z, h_r, h_h = tf.split(h_proj, 3, axis=-1)
        z = recurrent_activation(x_z + h_z)
        r = recurrent_activation(x_r + h_r)
        h_hat = activation(x_h + r * h_h)
    else:
        h_proj = weight_matmul(h_prev_for_gates, recurrent_kernel[:, : 2 * units])  # [batch, 2 * units]
        h_z, h_r = tf.split(h_proj, 2, axis=-1)
        z = recurrent_activation(x_z + h_z)
        r = recurrent_activation(x_r + h_r)
        h_hat = activation(x_h + weight_matmul(r * h_prev_for_gates, recurrent_kernel[:, 2 * units:]))
    # z * h_prev + (1 - z) * h_hat, written with one op fewer and no constant (whose
    # gradient autodiff would form at every step only to drop it).
    return h_hat + z * (h_prev - h_hat)


class GRUCell(RecurrentCell):
    """GRU cell with one state ``[h]``.

    Arguments and defaults are Keras's ``keras.layers.GRUCell``'s (``reset_after=True``).
    Variables: ``kernel [input_dim, 3*units]``, ``recurrent_kernel [units, 3*units]``,
    ``bias [2, 3*units]`` (``reset_after``) or ``[3*units]``; columns z, r, h.
    """

    gates = 3
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout=0.0, recurrent_dropout=0.0, reset_after=True, seed=None,
                 input_dim=None, dtype=tf.float32, name=None):
        self.recurrent_activation = activations.get(recurrent_activation,
                                                    "recurrent_activation")
        self.reset_after = bool(reset_after)
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed,
                         input_dim=input_dim, dtype=dtype, name=name)

    def _bias_shape(self):
        return [2, 3 * self.units] if self.reset_after else [3 * self.units]

    def step(self, x_t, states, masks=(None, None), weights=None):
        """``x_t [batch, input_dim]``, ``states [h_prev]`` -> ``(h, [h])``.

        Dropout masks, when given, multiply ``x_t`` and the ``h_prev`` that feeds the
        gates (one mask for all three); the interpolation uses the undropped ``h_prev``.
        ``weights``: ``(kernel, recurrent_kernel, bias)`` instead of the variables
        (:meth:`step_weights`; the layers pass them cast to their ``compute_dtype``).
        """
        (h_prev,) = states
        x_mask, h_mask = masks
        kernel, recurrent_kernel, bias = self.step_weights(weights)
        if x_mask is not None:
            x_t = x_t * x_mask
        h_for_gates = h_prev if h_mask is None else h_prev * h_mask
        h = gru_step(x_t, h_prev, h_for_gates, kernel, recurrent_kernel, bias,
                     self.activation, self.recurrent_activation, self.reset_after)
        return h, [h]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "reset_after": self.reset_after}
