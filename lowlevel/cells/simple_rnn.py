"""The Elman recurrent cell (Elman 1990), as Keras's ``SimpleRNNCell``."""

from __future__ import annotations

import tensorflow as tf

from lowlevel.cells.base import RecurrentCell
from lowlevel.loops.weight_gradients import weight_matmul


def simple_rnn_step(x_t, h_prev, kernel, recurrent_kernel, bias, activation):
    """One step of the simple RNN.

    ``x_t [batch, input_dim]``, ``h_prev [batch, units]`` -> ``h [batch, units]``::

        h = activation(x_t @ kernel + bias + h_prev @ recurrent_kernel)

    (``bias`` may be ``None``; dropout, if any, is already applied to ``x_t`` and
    ``h_prev``.)
    """
    z = weight_matmul(x_t, kernel)  # x_t @ kernel [batch, units] (lowlevel.loops.weight_gradients)
    if bias is not None:
        z = tf.nn.bias_add(z, bias)  # = z + bias; its gradient is one op, not sum + reshape
    return activation(z + weight_matmul(h_prev, recurrent_kernel))


class SimpleRNNCell(RecurrentCell):
    """``h_t = activation(x_t W + b + h_{t-1} U)``, one state ``[h]``.

    Arguments and defaults are Keras's ``keras.layers.SimpleRNNCell``'s, plus
    ``input_dim`` (create weights now) and ``dtype``. Variables:
    ``kernel [input_dim, units]``, ``recurrent_kernel [units, units]``, ``bias [units]``.
    """

    gates = 1
    state_count = 1

    def step(self, x_t, states, masks=(None, None), weights=None):
        """``x_t [batch, input_dim]``, ``states [h_prev]`` -> ``(h, [h])``.

        With dropout masks ``m_x [batch, input_dim]`` and ``m_h [batch, units]``::

            h = activation((x_t * m_x) @ kernel + bias + (h_prev * m_h) @ recurrent_kernel)

        ``weights``: ``(kernel, recurrent_kernel, bias)`` instead of the variables
        (:meth:`step_weights`; the layers pass them cast to their ``compute_dtype``).
        """
        (h_prev,) = states
        x_mask, h_mask = masks
        kernel, recurrent_kernel, bias = self.step_weights(weights)
        if x_mask is not None:
            x_t = x_t * x_mask
        if h_mask is not None:
            h_prev = h_prev * h_mask
        h = simple_rnn_step(x_t, h_prev, kernel, recurrent_kernel, bias, self.activation)
        return h, [h]
