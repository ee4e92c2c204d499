"""Gated recurrent unit (Cho et al. 2014), as Keras's ``GRUCell``: its step forward and backward.

Fused gate order z, r, h. Two variants, both as Keras:

- ``reset_after=True`` (Keras default; cuDNN, PyTorch): the reset gate multiplies the
  recurrent projection, and there are two biases, ``bias [2, 3*units]`` = (input, recurrent).
- ``reset_after=False`` (the original paper, v1): the reset gate multiplies ``h_prev``
  before its projection; one ``bias [3*units]``.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from lowlevel import activations
from lowlevel.cells.base import (Activation, DTypeLike, Initializer, RecurrentCell, dropped,
                                 flat, input_and_weight_gradients, sum_over_steps,
                                 with_recurrent_kernel_transposed)


def gru_step(x_t: tf.Tensor, h_prev: tf.Tensor, h_prev_for_gates: tf.Tensor,
             kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor | None,
             activation: Callable[[tf.Tensor], tf.Tensor],
             recurrent_activation: Callable[[tf.Tensor], tf.Tensor], reset_after: bool,
             matmul: Callable = tf.matmul) -> tf.Tensor:
    """One GRU step; returns ``h [batch, units]`` (the equations: :func:`gru_gates`).

    Args:
        x_t: ``[batch, input_dim]``, after dropout if any.
        h_prev: ``[batch, units]``, the previous state (the interpolation's).
        h_prev_for_gates: ``[batch, units]``, ``h_prev`` after recurrent dropout (or
            ``h_prev`` itself), what the gates read.
        kernel: ``[input_dim, 3 * units]``, columns z, r, h.
        recurrent_kernel: ``[units, 3 * units]``, columns z, r, h.
        bias: ``[2, 3 * units]`` (``reset_after``) or ``[3 * units]``, or ``None``.
        activation: φ, of the candidate ``h_hat``.
        recurrent_activation: σ, of the gates.
        reset_after: bool. The reset gate after the recurrent matmul (Keras's default).
        matmul: how to form each product with a weight. Default ``tf.matmul``.
    """
    return gru_gates(x_t, h_prev, h_prev_for_gates, kernel, recurrent_kernel, bias, activation,
                     recurrent_activation, reset_after, matmul)[0]


def gru_gates(x_t: tf.Tensor, h_prev: tf.Tensor, h_prev_for_gates: tf.Tensor,
              kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor | None,
              activation: Callable, recurrent_activation: Callable, reset_after: bool,
              matmul: Callable = tf.matmul) -> tuple:
    """One GRU step; returns ``(h, (z, r, h_hat, h_h))``, each ``[batch, units]``.

    ``h_prev_for_gates`` is ``h_prev`` after recurrent dropout (or ``h_prev`` itself);
    the final interpolation always uses the undropped ``h_prev``, as Keras does.
    With ``σ = recurrent_activation``, ``φ = activation``, ``U = recurrent_kernel``::

        x_z, x_r, x_h = split(x_t @ kernel + b_in)                    # 3 x [batch, units]
        z = σ(x_z + h_prev @ U_z + b_rec_z)                            update gate
        r = σ(x_r + h_prev @ U_r + b_rec_r)                            reset gate
        reset_after:   h_h = h_prev @ U_h + b_rec_h,  h_hat = φ(x_h + r * h_h)
        reset_before:  h_hat = φ(x_h + (r * h_prev) @ U_h)           (one bias: b_in; h_h None)
        h = z * h_prev + (1 - z) * h_hat
    """
    units = h_prev.shape[-1]
    if bias is None:
        b_in = b_rec = None
    elif reset_after:
        b_in, b_rec = tf.unstack(bias)  # one op (two slices were eight graph nodes)
    else:
        b_in, b_rec = bias, None

    x_proj = matmul(x_t, kernel)  # [batch, 3 * units]
    if b_in is not None:
        x_proj = tf.nn.bias_add(x_proj, b_in)  # = x_proj + b_in; gradient in one op
    x_z, x_r, x_h = tf.split(x_proj, 3, axis=-1)

    if reset_after:
        h_proj = matmul(h_prev_for_gates, recurrent_kernel)  # [batch, 3 * units]
        if b_rec is not None:
            h_proj = tf.nn.bias_add(h_proj, b_rec)
        h_z, h_r, h_h = tf.split(h_proj, 3, axis=-1)
        z = recurrent_activation(x_z + h_z)
        r = recurrent_activation(x_r + h_r)
        h_hat = activation(x_h + r * h_h)
    else:
        h_proj = matmul(h_prev_for_gates, recurrent_kernel[:, : 2 * units])  # [batch, 2 * units]
        h_z, h_r = tf.split(h_proj, 2, axis=-1)
        z = recurrent_activation(x_z + h_z)
        r = recurrent_activation(x_r + h_r)
        h_hat = activation(x_h + matmul(r * h_prev_for_gates, recurrent_kernel[:, 2 * units:]))
        h_h = None
    # z * h_prev + (1 - z) * h_hat, written with one op fewer and no constant (whose
    # gradient autodiff would form at every step only to drop it).
    return h_hat + z * (h_prev - h_hat), (z, r, h_hat, h_h)


class GRUCell(RecurrentCell):
    """The GRU cell: update and reset gates, one state ``[h]``.

    Keras's ``keras.layers.GRUCell``: the same arguments, positional order, defaults,
    variables and layout (columns fused z, r, h; ``reset_after=True``). A
    ``tf.Module``, not a Keras layer (see :mod:`lowlevel.layers`, "What these objects
    are"). The equations are :func:`gru_gates`'s, beside the code::

        z = σ(x W_z + h_prev U_z + b_z)    r = σ(x W_r + h_prev U_r + b_r)
        reset_after:   h_hat = φ(x W_h + b_in + r * (h_prev U_h + b_rec))
        reset_before:  h_hat = φ(x W_h + (r * h_prev) U_h + b)
        h = z * h_prev + (1 - z) * h_hat

    Args:
        units: int. Positive: the width of the output and of every state.
        activation: str, callable or None. φ, of the candidate ``h_hat``, by Keras
            name; ``None`` is linear. Default ``'tanh'``.
        recurrent_activation: str, callable or None. σ, the gates' activation.
            Default ``'sigmoid'``.
        use_bias: bool. Whether the cell has a ``bias``. Default ``True``.
        kernel_initializer: str, callable or ``keras.initializers.Initializer``. How
            ``kernel`` starts. Default ``'glorot_uniform'``.
        recurrent_initializer: str, callable or Initializer. How ``recurrent_kernel``
            starts. Default ``'orthogonal'``.
        bias_initializer: str, callable or Initializer. How ``bias`` starts. Default
            ``'zeros'``.
        dropout: float in ``[0, 1)``. Keyword-only. Fraction of the inputs dropped in
            training (one mask per sequence, shared by the three gates). Default ``0.0``.
        recurrent_dropout: float in ``[0, 1)``. Keyword-only. Fraction of ``h_prev``
            dropped in training. Default ``0.0``.
        reset_after: bool. Keyword-only. Apply the reset gate after the recurrent
            matmul, with two biases (Keras's default, cuDNN's, PyTorch's); ``False``:
            before it, with one bias (Cho et al. 2014). Default ``True``.
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
        kernel: ``tf.Variable [input_dim, 3 * units]``, columns z, r, h.
        recurrent_kernel: ``tf.Variable [units, 3 * units]``, columns z, r, h.
        bias: ``tf.Variable [2, 3 * units]`` (``reset_after``: input and recurrent
            biases) or ``[3 * units]``; ``None`` without ``use_bias``.

    Example::

        import numpy as np
        import lowlevel

        cell = lowlevel.GRUCell(4, input_dim=3)
        h, [h] = cell(np.ones([2, 3], "float32"), [np.zeros([2, 4], "float32")])
        assert h.shape == (2, 4) and cell.count_params() == 3 * (3 * 4 + 4 * 4 + 2 * 4)
    """

    gates = 3
    state_count = 1

    def __init__(
        self,
        units: int,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        reset_after: bool = True,
        seed: int | None = None,
        input_dim: int | None = None,
        dtype: DTypeLike = tf.float32,
        name: str | None = None,
    ) -> None:
        self.recurrent_activation = activations.get(recurrent_activation,
                                                    "recurrent_activation")
        self.reset_after = bool(reset_after)
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed,
                         input_dim=input_dim, dtype=dtype, name=name)

    def _bias_shape(self) -> list[int]:
        return [2, 3 * self.units] if self.reset_after else [3 * self.units]

    def forward(self, x_t: tf.Tensor, states: list[tf.Tensor], weights: tuple,
                masks: tuple = (None, None), matmul: Callable = tf.matmul) -> tuple:
        """``x_t [batch, input_dim]``, ``states [h_prev]`` -> ``(h, [h], saved)``.

        Dropout masks, when given, multiply ``x_t`` and the ``h_prev`` that feeds the
        gates (one mask for all three); the interpolation uses the undropped ``h_prev``.
        """
        (h_prev,) = states
        x_mask, h_mask = masks
        kernel, recurrent_kernel, bias = weights
        h, (z, r, h_hat, h_h) = gru_gates(
            dropped(x_t, x_mask), h_prev, dropped(h_prev, h_mask), kernel, recurrent_kernel,
            bias, self.activation, self.recurrent_activation, self.reset_after, matmul)
        saved = (z, r, h_hat, h_prev) if h_h is None else (z, r, h_hat, h_h, h_prev)
        return h, [h], saved

    def gate_values(self, saved: tuple) -> dict[str, tf.Tensor]:
        """``{'update': z, 'reset': r, 'candidate': ĥ}`` of a step's ``saved``."""
        z, r, h_hat = saved[:3]
        return {"update": z, "reset": r, "candidate": h_hat}

    def backward_operands(self, weights: tuple) -> tuple:
        """``(W, Uᵀ, b)``: :meth:`backward` multiplies by ``Uᵀ`` (or its rows ``U_zrᵀ``,
        ``U_hᵀ``) at every step."""
        return with_recurrent_kernel_transposed(weights)

    def backward(self, saved: tuple, d_output: tf.Tensor, d_states: list[tf.Tensor],
                 operands: tuple, masks: tuple = (None, None)) -> tuple:
        """With ``h' = h_prev ⊙ m_h`` and ``σ'``, ``φ'`` through the saved values::

            δh    = δoutput + δstate
            δa_z  = δh ⊙ (h_prev - h_hat) ⊙ σ'                 (h = h_hat + z (h_prev - h_hat))
            δa_h  = δh ⊙ (1 - z) ⊙ φ'                          (pre-φ of h_hat)
            reset_after:   δa_r = δa_h ⊙ h_h ⊙ σ'
                           δh_prev = ([δa_z, δa_r, δa_h ⊙ r] Uᵀ) ⊙ m_h + δh ⊙ z
            reset_before:  δ(r h') = δa_h U_hᵀ,   δa_r = δ(r h') ⊙ h' ⊙ σ'
                           δh_prev = ([δa_z, δa_r] U_zrᵀ + δ(r h') ⊙ r) ⊙ m_h + δh ⊙ z
            d_pre = [δa_z, δa_r, δa_h]
        """
        z, r, h_hat, h_prev = saved[0], saved[1], saved[2], saved[-1]
        _, recurrent_kernel_t, _ = operands  # Uᵀ [3 units, units]
        d_act = activations.derivative(self.activation)
        d_rec = activations.derivative(self.recurrent_activation)
        d_h = d_output + d_states[0]
        d_az = d_rec(z, d_h * (h_prev - h_hat))
        d_ah = d_act(h_hat, d_h * (1.0 - z))
        if self.reset_after:
            d_ar = d_rec(r, d_ah * saved[3])
            d_h_gates = tf.matmul(tf.concat([d_az, d_ar, d_ah * r], axis=-1), recurrent_kernel_t)
        else:
            u = self.units
            d_rh = tf.matmul(d_ah, recurrent_kernel_t[2 * u:])  # U_hᵀ
            d_ar = d_rec(r, d_rh * dropped(h_prev, masks[1]))
            d_h_gates = tf.matmul(tf.concat([d_az, d_ar], axis=-1),
                                  recurrent_kernel_t[:2 * u]) + d_rh * r  # U_zrᵀ
        d_h_prev = dropped(d_h_gates, masks[1]) + d_h * z
        return tf.concat([d_az, d_ar, d_ah], axis=-1), [d_h_prev]

    def weight_gradients(self, xs: tf.Tensor, saved: tuple, d_pre: tf.Tensor, weights: tuple,
                         masks: tuple = (None, None)) -> tuple:
        """Over all steps (``X' = xs ⊙ m_x``, ``H' = h_prev ⊙ m_h``, δA = d_pre)::

            ∂L/∂W = X'ᵀ δA                         ∂L/∂xs = (δA Wᵀ) ⊙ m_x
            reset_after:   δR = [δA_z, δA_r, δA_h ⊙ r]   (∂L/∂(h' U + b_rec))
                           ∂L/∂U = H'ᵀ δR,   ∂L/∂b = [Σ δA; Σ δR]
            reset_before:  ∂L/∂U = [H'ᵀ δA_zr, (r ⊙ H')ᵀ δA_h],   ∂L/∂b = Σ δA
        """
        u, r, h_prev = self.units, saved[1], saved[-1]
        if self.reset_after:
            d_rec = tf.concat([d_pre[..., :2 * u], d_pre[..., 2 * u:] * r], axis=-1)
            d_xs, (d_w, d_u, d_b) = input_and_weight_gradients(xs, h_prev, d_pre, d_rec,
                                                               weights, masks)
            if d_b is not None:
                d_b = tf.stack([d_b, tf.reduce_sum(flat(d_rec), axis=0)])
            return d_xs, (d_w, d_u, d_b)
        d_xs, (d_w, _, d_b) = input_and_weight_gradients(xs, h_prev, d_pre, d_pre, weights,
                                                         masks)
        h_gates = dropped(h_prev, masks[1])
        d_u = tf.concat([sum_over_steps(h_gates, d_pre[..., :2 * u]),
                         sum_over_steps(h_gates * r, d_pre[..., 2 * u:])], axis=-1)
        return d_xs, (d_w, d_u, d_b)

    def get_config(self) -> dict:
        """The base's config and this cell's own arguments."""
        return {**super().get_config(),
                "recurrent_activation": activations.name_of(self.recurrent_activation),
                "reset_after": self.reset_after}
