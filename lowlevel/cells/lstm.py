"""Long short-term memory (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000),
as Keras's ``LSTMCell``: its step forward and backward. Fused gate order of every weight's
columns: i, f, c, o."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import (Activation, DTypeLike, Initializer, RecurrentCell,
                                 _initial_value, dropped, input_and_weight_gradients,
                                 with_recurrent_kernel_transposed)


def lstm_step(x_t: tf.Tensor, h_prev: tf.Tensor, c_prev: tf.Tensor, kernel: tf.Tensor,
              recurrent_kernel: tf.Tensor, bias: tf.Tensor | None,
              activation: Callable[[tf.Tensor], tf.Tensor],
              recurrent_activation: Callable[[tf.Tensor], tf.Tensor],
              matmul: Callable = tf.matmul) -> tuple[tf.Tensor, tf.Tensor]:
    """One LSTM step; returns ``(h, c)``, each ``[batch, units]`` (the equations:
    :func:`lstm_gates`).

    Args:
        x_t: ``[batch, input_dim]``, after dropout if any.
        h_prev: ``[batch, units]``, after recurrent dropout if any.
        c_prev: ``[batch, units]``, the previous cell state.
        kernel: ``[input_dim, 4 * units]``, columns i, f, c, o.
        recurrent_kernel: ``[units, 4 * units]``, columns i, f, c, o.
        bias: ``[4 * units]``, or ``None``.
        activation: φ, of the candidate and of the cell state.
        recurrent_activation: σ, of the gates.
        matmul: how to form each product with a weight. Default ``tf.matmul``.
    """
    h, c, _ = lstm_gates(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation, matmul)
    return h, c


def lstm_gates(x_t: tf.Tensor, h_prev: tf.Tensor, c_prev: tf.Tensor, kernel: tf.Tensor,
               recurrent_kernel: tf.Tensor, bias: tf.Tensor | None, activation: Callable,
               recurrent_activation: Callable, matmul: Callable = tf.matmul) -> tuple:
    """One LSTM step; returns ``(h, c, (i, f, g, o, φ(c)))``, each ``[batch, units]``.

    With ``σ = recurrent_activation`` and ``φ = activation``, columns fused as i, f, c, o::

        z = (x_t @ kernel + bias) + h_prev @ recurrent_kernel   # [batch, 4 * units]
        i = σ(z_i)                 input gate
        f = σ(z_f)                 forget gate
        g = φ(z_c)                 candidate cell
        o = σ(z_o)                 output gate
        c = f * c_prev + i * g
        h = o * φ(c)
    """
    # The bias joins the input's product, which does not wait for h_prev: one op fewer on
    # the chain through time than Keras's order (x W + h U) + b (docs/speed.md, "The
    # bias beside the input").
    z = matmul(x_t, kernel)  # [batch, 4 * units]
    if bias is not None:
        z = tf.nn.bias_add(z, bias)  # = z + bias; its gradient is one op, not sum + reshape
    z = z + matmul(h_prev, recurrent_kernel)
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
    """The LSTM cell: gates i, f, o and a cell state, states ``[h, c]``.

    Keras's ``keras.layers.LSTMCell``: the same arguments, positional order, defaults,
    variables and layout (columns fused i, f, c, o). A ``tf.Module``, not a Keras
    layer (see :mod:`lowlevel.layers`, "What these objects are"). The equations are
    :func:`lstm_gates`'s, beside the code::

        i = σ(z_i)  f = σ(z_f)  g = φ(z_c)  o = σ(z_o)    z = x_t W + h_prev U + b
        c = f * c_prev + i * g
        h = o * φ(c)

    Args:
        units: int. Positive: the width of the output and of every state.
        activation: str, callable or None. φ, of the candidate and of the cell
            state, by Keras name; ``None`` is linear. Default ``'tanh'``.
        recurrent_activation: str, callable or None. σ, the gates' activation.
            Default ``'sigmoid'``.
        use_bias: bool. Whether the cell has a ``bias``. Default ``True``.
        kernel_initializer: str, callable or ``keras.initializers.Initializer``. How
            ``kernel`` starts. Default ``'glorot_uniform'``.
        recurrent_initializer: str, callable or Initializer. How ``recurrent_kernel``
            starts. Default ``'orthogonal'``.
        bias_initializer: str, callable or Initializer. How ``bias`` starts. Default
            ``'zeros'``.
        unit_forget_bias: bool. Starts the forget gate's bias at 1 (Jozefowicz,
            Zaremba & Sutskever 2015), the rest from ``bias_initializer``. Default
            ``True``.
        dropout: float in ``[0, 1)``. Keyword-only. Fraction of the inputs dropped in
            training (one mask per sequence, shared by the four gates). Default ``0.0``.
        recurrent_dropout: float in ``[0, 1)``. Keyword-only. Fraction of ``h_prev``
            dropped in training (``c_prev`` never). Default ``0.0``.
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
        states: ``[h_prev, c_prev]``, each ``[batch, units]``.
        training: bool. Applies dropout when ``True``. Default ``False``.

    Returns:
        ``(output, new_states)``: ``output = h [batch, units]`` and ``[h, c]``, as Keras 3.

    Attributes:
        kernel: ``tf.Variable [input_dim, 4 * units]``, columns i, f, c, o.
        recurrent_kernel: ``tf.Variable [units, 4 * units]``, columns i, f, c, o.
        bias: ``tf.Variable [4 * units]``, or ``None`` without ``use_bias``.

    Example::

        import numpy as np
        import lowlevel

        cell = lowlevel.LSTMCell(4, input_dim=3)
        zeros = np.zeros([2, 4], "float32")
        h, [h, c] = cell(np.ones([2, 3], "float32"), [zeros, zeros])
        assert c.shape == (2, 4) and cell.count_params() == 4 * (3 * 4 + 4 * 4 + 4)
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

    def forward(self, x_t: tf.Tensor, states: list[tf.Tensor], weights: tuple,
                masks: tuple = (None, None), matmul: Callable = tf.matmul) -> tuple:
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

    def gate_values(self, saved: tuple) -> dict[str, tf.Tensor]:
        """``{'input': i, 'forget': f, 'candidate': g, 'output': o}`` of a step's ``saved``."""
        i, f, g, o = saved[:4]
        return {"input": i, "forget": f, "candidate": g, "output": o}

    def backward_operands(self, weights: tuple) -> tuple:
        """``(W, Uᵀ, b)``: :meth:`backward` multiplies by ``Uᵀ`` at every step."""
        return with_recurrent_kernel_transposed(weights)

    def backward(self, saved: tuple, d_output: tf.Tensor, d_states: list[tf.Tensor],
                 operands: tuple, masks: tuple = (None, None)) -> tuple:
        """With ``σ'`` and ``φ'`` written through the saved values (``i, f, g, o, φ(c)``)::

            δh       = δoutput + δh_state
            δc       = δc_state + δh ⊙ o ⊙ φ'(c)
            δa_i = δc ⊙ g ⊙ σ'     δa_f = δc ⊙ c_prev ⊙ σ'
            δa_c = δc ⊙ i ⊙ φ'     δa_o = δh ⊙ φ(c) ⊙ σ'         d_pre = [δa_i, δa_f, δa_c, δa_o]
            δh_prev  = (d_pre Uᵀ) ⊙ m_h
            δc_prev  = δc ⊙ f
        """
        i, f, g, o, phi_c, _, c_prev = saved
        _, recurrent_kernel_t, _ = operands  # Uᵀ
        d_act = activations.derivative(self.activation)
        d_rec = activations.derivative(self.recurrent_activation)
        d_h = d_output + d_states[0]
        d_c = d_states[1] + d_act(phi_c, d_h * o)
        d_a = tf.concat([d_rec(i, d_c * g), d_rec(f, d_c * c_prev), d_act(g, d_c * i),
                         d_rec(o, d_h * phi_c)], axis=-1)  # [batch, 4 * units]
        d_h_prev = dropped(tf.matmul(d_a, recurrent_kernel_t), masks[1])
        return d_a, [d_h_prev, d_c * f]

    def weight_gradients(self, xs: tf.Tensor, saved: tuple, d_pre: tf.Tensor, weights: tuple,
                         masks: tuple = (None, None)) -> tuple:
        """Over all steps: ``∂L/∂W = X'ᵀ δA``, ``∂L/∂U = H'ᵀ δA``, ``∂L/∂b = Σ δA``,
        ``∂L/∂xs = (δA Wᵀ) ⊙ m_x`` (``X' = xs ⊙ m_x``, ``H' = h_prev ⊙ m_h``)."""
        return input_and_weight_gradients(xs, saved[5], d_pre, d_pre, weights, masks)

    def get_config(self) -> dict:
        """The base's config and this cell's own arguments."""
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}
