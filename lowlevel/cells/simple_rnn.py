"""The Elman recurrent cell (Elman 1990), as Keras's ``SimpleRNNCell``: its step forward
and backward."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import (RecurrentCell, dropped, input_and_weight_gradients,
                                 with_recurrent_kernel_transposed)


def simple_rnn_step(x_t: tf.Tensor, h_prev: tf.Tensor, kernel: tf.Tensor,
                    recurrent_kernel: tf.Tensor, bias: tf.Tensor | None,
                    activation: Callable[[tf.Tensor], tf.Tensor],
                    matmul: Callable = tf.matmul) -> tf.Tensor:
    """One step of the simple RNN, ``h [batch, units]``::

        h = activation(x_t @ kernel + bias + h_prev @ recurrent_kernel)

    Args:
        x_t: ``[batch, input_dim]``, after dropout if any.
        h_prev: ``[batch, units]``, after recurrent dropout if any.
        kernel: ``[input_dim, units]``.
        recurrent_kernel: ``[units, units]``.
        bias: ``[units]``, or ``None``.
        activation: the function φ (a tensor to a tensor).
        matmul: how to form each product with a weight (see
            :meth:`RecurrentCell.forward`). Default ``tf.matmul``.
    """
    z = matmul(x_t, kernel)  # [batch, units]
    if bias is not None:
        z = tf.nn.bias_add(z, bias)  # = z + bias; its gradient is one op, not sum + reshape
    return activation(z + matmul(h_prev, recurrent_kernel))


class SimpleRNNCell(RecurrentCell):
    """The Elman cell: ``h_t = activation(x_t W + b + h_{t-1} U)``, one state ``[h]``.

    Keras's ``keras.layers.SimpleRNNCell``: the same arguments, positional order,
    defaults, variables and layout. A ``tf.Module``, not a Keras layer (see
    :mod:`lowlevel.layers`, "What these objects are"); the equations are
    :func:`simple_rnn_step`'s, beside the code.

    Args:
        units: int. Positive: the width of the output and of every state.
        activation: str, callable or None. The activation, by Keras name; ``None``
            is linear. Default ``'tanh'``.
        use_bias: bool. Whether the cell has a ``bias``. Default ``True``.
        kernel_initializer: str, callable or ``keras.initializers.Initializer``. How
            ``kernel`` starts. Default ``'glorot_uniform'``.
        recurrent_initializer: str, callable or Initializer. How ``recurrent_kernel``
            starts. Default ``'orthogonal'``.
        bias_initializer: str, callable or Initializer. How ``bias`` starts. Default
            ``'zeros'``.
        dropout: float in ``[0, 1)``. Keyword-only. Fraction of the inputs dropped in
            training (one mask per sequence). Default ``0.0``.
        recurrent_dropout: float in ``[0, 1)``. Keyword-only. Fraction of ``h_prev``
            dropped in training. Default ``0.0``.
        seed: int or None. Keyword-only. Seed of the dropout masks' generator
            (``None``: non-deterministic). Default ``None``.
        input_dim: int or None. Keyword-only, lowlevel's own. The input width: given,
            the variables are made now (needed before ``set_weights`` of a Keras
            twin's); ``None``: on the first call or :meth:`build`.
        dtype: ``tf.DType`` or str. Keyword-only, lowlevel's own. The variables' and
            the step's float dtype. Default ``tf.float32``.
        name: str or None. Keyword-only. The module's name.

    Call arguments:
        x_t: ``[batch, input_dim]``, one time step.
        states: ``[h_prev]``, ``h_prev [batch, units]`` (or the tensor itself).
        training: bool. Applies dropout when ``True``. Default ``False``.

    Returns:
        ``(output, new_states)``: ``output = h [batch, units]`` and ``[h]``, as Keras 3.

    Attributes:
        kernel: ``tf.Variable [input_dim, units]`` (W).
        recurrent_kernel: ``tf.Variable [units, units]`` (U).
        bias: ``tf.Variable [units]`` (b), or ``None`` without ``use_bias``.

    Example::

        import numpy as np
        import lowlevel

        cell = lowlevel.SimpleRNNCell(4, "relu", input_dim=3)
        h, [h] = cell(np.ones([2, 3], "float32"), [np.zeros([2, 4], "float32")])
        assert h.shape == (2, 4) and cell.count_params() == 3 * 4 + 4 * 4 + 4
    """

    gates = 1
    state_count = 1

    def forward(self, x_t: tf.Tensor, states: list[tf.Tensor], weights: tuple,
                masks: tuple = (None, None), matmul: Callable = tf.matmul) -> tuple:
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

    def gate_values(self, saved: tuple) -> dict[str, tf.Tensor]:
        """``{'candidate': h}`` of a step's ``saved``: the output is the activation itself."""
        return {"candidate": saved[0]}

    def backward_operands(self, weights: tuple) -> tuple:
        """``(W, Uᵀ, b)``: :meth:`backward` multiplies by ``Uᵀ`` at every step."""
        return with_recurrent_kernel_transposed(weights)

    def backward(self, saved: tuple, d_output: tf.Tensor, d_states: list[tf.Tensor],
                 operands: tuple, masks: tuple = (None, None)) -> tuple:
        """With ``a = x' W + b + h' U`` the pre-activation (``'`` after dropout)::

            δh       = δoutput + δstate                ∂L/∂h, both ways out of the step
            δa       = δh ⊙ φ'(a)                      d_pre [batch, units]
            δh_prev  = (δa Uᵀ) ⊙ m_h
        """
        h, _ = saved
        _, recurrent_kernel_t, _ = operands  # Uᵀ
        d_h = d_output + d_states[0]
        d_a = activations.derivative(self.activation)(h, d_h)
        d_h_prev = dropped(tf.matmul(d_a, recurrent_kernel_t), masks[1])
        return d_a, [d_h_prev]

    def weight_gradients(self, xs: tf.Tensor, saved: tuple, d_pre: tf.Tensor, weights: tuple,
                         masks: tuple = (None, None)) -> tuple:
        """Over all steps, with ``X' = xs ⊙ m_x`` and ``H' = h_prev ⊙ m_h``::

            ∂L/∂W = X'ᵀ δA      ∂L/∂U = H'ᵀ δA      ∂L/∂b = Σ δA      ∂L/∂xs = (δA Wᵀ) ⊙ m_x
        """
        return input_and_weight_gradients(xs, saved[-1], d_pre, d_pre, weights, masks)

