"""The Elman recurrent cell (Elman 1990), as Keras's ``SimpleRNNCell``: its step forward
and backward."""

from __future__ import annotations

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import RecurrentCell, dropped, input_and_weight_gradients


def simple_rnn_step(x_t, h_prev, kernel, recurrent_kernel, bias, activation, matmul=tf.matmul):
    """One step of the simple RNN.

    ``x_t [batch, input_dim]``, ``h_prev [batch, units]`` -> ``h [batch, units]``::

        h = activation(x_t @ kernel + bias + h_prev @ recurrent_kernel)

    (``bias`` may be ``None``; dropout, if any, is already applied to ``x_t`` and
    ``h_prev``; ``matmul``: see :meth:`RecurrentCell.forward`.)
    """
    z = matmul(x_t, kernel)  # [batch, units]
    if bias is not None:
        z = tf.nn.bias_add(z, bias)  # = z + bias; its gradient is one op, not sum + reshape
    return activation(z + matmul(h_prev, recurrent_kernel))


class SimpleRNNCell(RecurrentCell):
    """``h_t = activation(x_t W + b + h_{t-1} U)``, one state ``[h]``.

    Arguments and defaults are Keras's ``keras.layers.SimpleRNNCell``'s, plus
    ``input_dim`` (create weights now) and ``dtype``. Variables:
    ``kernel [input_dim, units]``, ``recurrent_kernel [units, units]``, ``bias [units]``.
    """

    gates = 1
    state_count = 1

    def forward(self, x_t, states, weights, masks=(None, None), matmul=tf.matmul):
        """``x_t [batch, input_dim]``, ``states [h_prev]`` -> ``(h, [h], saved)``.

        With dropout masks ``m_x [batch, input_dim]`` and ``m_h [batch, units]``::

            h = activation((x_t * m_x) @ kernel + bias + (h_prev * m_h) @ recurrent_kernel)
        """
        (h_prev,) = states
        x_mask, h_mask = masks
        kernel, recurrent_kernel, bias = weights
        h = simple_rnn_step(dropped(x_t, x_mask), dropped(h_prev, h_mask), kernel,
                            recurrent_kernel, bias, self.activation, matmul)
        return h, [h], (h, h_prev)

    def backward(self, saved, d_output, d_states, weights, masks=(None, None)):
        """With ``a = x' W + b + h' U`` the pre-activation (``'`` after dropout)::

            δh       = δoutput + δstate                ∂L/∂h, both ways out of the step
            δa       = δh ⊙ φ'(a)                      d_pre [batch, units]
            δh_prev  = (δa Uᵀ) ⊙ m_h
        """
        h, _ = saved
        _, recurrent_kernel, _ = weights
        d_h = d_output + d_states[0]
        d_a = activations.derivative(self.activation)(h, d_h)
        d_h_prev = dropped(tf.matmul(d_a, recurrent_kernel, transpose_b=True), masks[1])
        return d_a, [d_h_prev]

    def weight_gradients(self, xs, saved, d_pre, weights, masks=(None, None)):
        """Over all steps, with ``X' = xs ⊙ m_x`` and ``H' = h_prev ⊙ m_h``::

            ∂L/∂W = X'ᵀ δA      ∂L/∂U = H'ᵀ δA      ∂L/∂b = Σ δA      ∂L/∂xs = (δA Wᵀ) ⊙ m_x
        """
        return input_and_weight_gradients(xs, saved[-1], d_pre, d_pre, weights, masks)

