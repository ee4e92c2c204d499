"""``GRU``: :class:`~lowlevel.cells.GRUCell` run over time, Keras's ``keras.layers.GRU``."""

from __future__ import annotations

import tensorflow as tf

from lowlevel.cells import GRUCell
from lowlevel.cells.base import Activation, DTypeLike, Initializer
from lowlevel.layers.cell_layer import CellLayer


class GRU(CellLayer):
    """Gated recurrent unit over ``[batch, time, features]``, one state ``[h]``.

    Keras's ``keras.layers.GRU``: the same arguments at the same positions with the
    same defaults, the same weights and layout, the same call contract and return
    structures. A ``tf.Module``, not a Keras layer: it does not go into
    ``keras.Sequential``; ``lowlevel.to_keras(layer)`` / ``lowlevel.from_keras(keras_layer)``
    convert, and ``layer.set_weights(keras_layer.get_weights())`` copies the weights
    (:mod:`lowlevel.layers`, "What these objects are").
    The step is :class:`~lowlevel.cells.GRUCell`'s (gates z, r, h; its equations
    beside the code)::

        z, r = σ(x W_z + h_prev U_z + b_z), σ(x W_r + h_prev U_r + b_r)
        h_hat = φ(x W_h + b_in + r * (h_prev U_h + b_rec))    (reset_after=True)
        h = z * h_prev + (1 - z) * h_hat

    Args:
        units: int. Positive: the width of the output and of every state.
        activation: str, callable or None. φ, of the candidate ``h_hat``, by Keras name
            (``'tanh'``, ``'relu'``, ...); ``None`` is linear. Default ``'tanh'``.
        recurrent_activation: str, callable or None. σ, of the gates. Default
            ``'sigmoid'``.
        use_bias: bool. Whether the cell has a ``bias``. Default ``True``.
        kernel_initializer: str, callable or ``keras.initializers.Initializer``. How
            ``kernel`` starts. Default ``'glorot_uniform'``.
        recurrent_initializer: str, callable or Initializer. How ``recurrent_kernel``
            starts. Default ``'orthogonal'``.
        bias_initializer: str, callable or Initializer. How ``bias`` starts. Default
            ``'zeros'``.
        dropout: float in ``[0, 1)``. Keyword-only. Fraction of the inputs dropped in
            training, one mask per sequence reused at every step. Default ``0.0``.
        recurrent_dropout: float in ``[0, 1)``. Keyword-only. Fraction of ``h_prev``
            dropped in training, likewise. Default ``0.0``.
        seed: int or None. Keyword-only. Seed of the dropout masks (``None``:
            non-deterministic). Default ``None``.
        return_sequences: bool. Keyword-only. Return the output of every step
            ``[batch, time, units]`` rather than the last ``[batch, units]``. Default
            ``False``.
        return_state: bool. Keyword-only. Also return the final states. Default
            ``False``.
        go_backwards: bool. Keyword-only. Read the inputs from the last step to the
            first (the sequence returned is in that order too, as Keras's). Default
            ``False``.
        stateful: bool. Keyword-only. Carry the final states into the next call
            (:mod:`lowlevel.layers.stateful`; the batch size is then fixed). Default
            ``False``.
        unroll: bool. Keyword-only. Write every step out: the same as
            ``implementation='unrolled'``. Default ``False``.
        reset_after: bool. Keyword-only. The reset gate after the recurrent matmul,
            bias ``[2, 3 * units]`` (Keras's default); ``False``: before it, bias
            ``[3 * units]``. Default ``True``.
        zero_output_for_mask: bool. Keyword-only. With a mask and
            ``return_sequences``, masked steps output zeros instead of repeating the
            previous output (Keras's argument of ``RNN``). Default ``False``.
        implementation: str or None. Keyword-only, lowlevel's own. The time loop:
            ``'auto'`` (``None``), ``'reference'``, ``'fast'``, ``'bptt'`` or
            ``'unrolled'`` (:mod:`lowlevel.layers.rnn`); all compute the same values.
        compute_dtype: ``tf.DType``, str or None. Keyword-only, lowlevel's own. Compute
            in this float dtype (``'bfloat16'``, ``'float16'``) with variables in
            ``dtype``, as Keras's ``mixed_bfloat16`` policy; ``None``: in ``dtype``.
        input_dim: int or None. Keyword-only, lowlevel's own. The input width: given,
            the weights are made now (``set_weights`` needs them); ``None``: on the
            first call or :meth:`build`.
        dtype: ``tf.DType`` or str. Keyword-only, lowlevel's own. The variables' float
            dtype. Default ``tf.float32``.
        name: str or None. Keyword-only. The module's name.

    Call arguments:
        inputs: ``[batch, time, features]``, float, of ``dtype`` (or ``compute_dtype``).
        initial_state: the states to start from, a list of ``[batch, units]`` tensors
            (``[h]``); ``None``: zeros (a stateful layer: the carried states).
        mask: ``[batch, time]`` booleans or ``None``. A masked step keeps the states
            and repeats the previous output (zeros with ``zero_output_for_mask``).
        training: bool. Applies dropout when ``True``. Default ``False``.

    Returns:
        ``[batch, units]`` (the last output), or ``[batch, time, units]`` with
        ``return_sequences``; with ``return_state`` the tuple ``(output, h)``, as Keras 3.

    Attributes:
        cell: the :class:`~lowlevel.cells.GRUCell` that owns the weights:
            ``kernel [input_dim, 3 * units]``, ``recurrent_kernel [units, 3 * units]``,
            ``bias [2, 3 * units]`` (``reset_after``) or ``[3 * units]``, columns
            z, r, h (Keras's order and layout).
        states: a stateful layer's state variables ``[h]``, else ``None``.

    Example::

        import numpy as np
        import lowlevel

        layer = lowlevel.GRU(4, "relu", "sigmoid")
        assert layer(np.ones([2, 5, 3], "float32")).shape == (2, 4)
        assert layer.count_params() == 3 * (3 * 4 + 4 * 4 + 2 * 4)
    """

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
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        zero_output_for_mask: bool = False,
        implementation: str | None = None,
        compute_dtype: DTypeLike | None = None,
        input_dim: int | None = None,
        dtype: DTypeLike = tf.float32,
        name: str | None = None,
    ) -> None:
        cell = GRUCell(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, dropout=dropout,
            recurrent_dropout=recurrent_dropout, reset_after=reset_after, seed=seed,
            input_dim=input_dim, dtype=dtype)
        super().__init__(cell, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, implementation=implementation,
                         compute_dtype=compute_dtype, name=name)
