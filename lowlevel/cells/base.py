"""What every recurrent cell shares: :class:`RecurrentCell`'s arguments, variables,
states and configuration, Keras's layout and names.

A cell is one time step and nothing else: ``output, new_states = cell(x_t, states)``.
What the time loops call on it is :class:`~lowlevel.cells.contract.StepContract`
(``forward``, ``backward``, ``weight_gradients``, ``step_weights``); a cell of one's
own derives from :class:`RecurrentCell` and implements ``forward``.
"""

from __future__ import annotations

from typing import Callable, Union

import keras
import numpy as np
import tensorflow as tf

from lowlevel import _checks
from lowlevel import activations, keras_config
from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights, assign_weights
from lowlevel.cells.contract import StepContract
from lowlevel.cells.dropout import DropoutCell, dropout_mask, dropped
from lowlevel.cells.over_steps import flat, input_and_weight_gradients, sum_over_steps

# What the constructors accept, for the type hints: a Keras name or a function.
Activation = Union[str, Callable[[tf.Tensor], tf.Tensor], None]
Initializer = Union[str, Callable, keras.initializers.Initializer]
DTypeLike = Union[tf.DType, str]

# What a cell of one's own needs beside RecurrentCell: lowlevel.cells.base offers them all.
__all__ = ["RecurrentCell", "dropout_mask", "dropped", "flat", "input_and_weight_gradients",
           "sum_over_steps"]


class RecurrentCell(StepContract, DropoutCell, KerasOrderedWeights, Describable, tf.Module):
    """The base of every recurrent cell: its arguments, variables and step contract.

    :class:`SimpleRNNCell`, :class:`LSTMCell` and :class:`GRUCell` derive from it, and
    so can a cell of one's own (set ``gates``, the number ``G`` of fused gate blocks,
    and ``state_count``, and implement :meth:`forward`). A ``tf.Module``, not a
    ``keras.layers.Layer`` (see :mod:`lowlevel.layers`, "What these objects are").

    Args:
        units: int. Positive: the width of the output and of every state.
        activation: str, callable or None. The output activation, by Keras name
            (``'tanh'``, ``'relu'``, ...); ``None`` is linear. Default ``'tanh'``.
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
            the variables are made now; ``None``, on the first call or :meth:`build`.
        dtype: ``tf.DType`` or str. Keyword-only, lowlevel's own. The variables' and
            the step's float dtype. Default ``tf.float32``.
        name: str or None. Keyword-only. The module's name (``tf.Module``'s default:
            the class name in snake case).

    Call arguments:
        x_t: ``[batch, input_dim]``, one time step of the inputs.
        states: a list of ``state_count`` tensors ``[batch, units]`` (``[h]``, or
            ``[h, c]`` for LSTM), or one tensor.
        training: bool. Applies dropout when ``True``. Default ``False``.

    Returns:
        ``(output, new_states)``: ``output [batch, units]`` and the list of new states,
        each ``[batch, units]``, as Keras 3's cells return them.

    Attributes:
        kernel: ``tf.Variable [input_dim, G * units]``, the input weights.
        recurrent_kernel: ``tf.Variable [units, G * units]``, the recurrent weights.
        bias: ``tf.Variable [G * units]`` (GRU with ``reset_after``: ``[2, 3 * units]``),
            or ``None`` without ``use_bias``. Columns fused in the cell's gate order,
            Keras's layout, so ``set_weights(keras_cell.get_weights())`` is a plain copy.
        weights: ``[kernel, recurrent_kernel, bias]``, Keras's order.
    """

    gates = 1
    state_count = 1

    def __init__(
        self,
        units: int,
        activation: Activation = "tanh",
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        *,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        input_dim: int | None = None,
        dtype: DTypeLike = tf.float32,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.units = _checks.positive_int(units, "units")
        self.activation = activations.get(activation, "activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout = _checks.rate(dropout, "dropout")
        self.recurrent_dropout = _checks.rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.dtype = _checks.float_dtype(dtype)
        self.input_dim = None
        self.kernel = self.recurrent_kernel = self.bias = None
        # Dropout masks come from this generator: seeded for reproducible studies.
        self._rng = (
            tf.random.Generator.from_seed(seed)
            if seed is not None
            else tf.random.Generator.from_non_deterministic_state()
        )
        self._cached_masks = None  # ((graph or None, batch), masks) for hand-stepped loops
        if input_dim is not None:
            self.build(input_dim)

    # ----------------------------------------------------------------- sizes
    @property
    def state_size(self) -> int | list[int]:
        """Keras's ``state_size``: ``units`` for one state, ``[units, units]`` for LSTM."""
        return self.units if self.state_count == 1 else [self.units] * self.state_count

    @property
    def output_size(self) -> int:
        """The width of the output, ``units`` (Keras's ``output_size``)."""
        return self.units

    @property
    def output_shape(self) -> tuple:
        """``(None, units)``: the output of one step, for any batch."""
        return (None, self.output_size)

    @property
    def built(self) -> bool:
        """True once the variables exist (after :meth:`build` or the first call)."""
        return self.kernel is not None

    def _bias_shape(self):
        return [self.gates * self.units]

    def _bias_initial_value(self, shape):
        return _initial_value(self.bias_initializer, shape, self.dtype, "bias_initializer")

    # ---------------------------------------------------------------- weights
    def build(self, input_dim: int | None = None,
              input_shape: tuple | list | None = None) -> None:
        """Create the variables for inputs of ``input_dim`` features.

        ``cell.build(input_shape=(None, 4))`` works too, as in the tutorial. Building
        again with the same width does nothing; with another, a ``ValueError``.

        Args:
            input_dim: int or None. The input width.
            input_shape: tuple or None. Keras's spelling: the last entry is the width.
        """
        if input_dim is None and input_shape is not None:
            input_dim = tuple(input_shape)[-1]
        input_dim = _checks.positive_int(input_dim, "input_dim")
        if self.built:
            if input_dim != self.input_dim:
                raise ValueError(
                    f"`input_dim` mismatch: {self.name} was built for {self.input_dim} "
                    f"input features; received {input_dim}."
                )
            return
        width = self.gates * self.units
        with self.name_scope:
            self.kernel = tf.Variable(
                _initial_value(self.kernel_initializer, [input_dim, width], self.dtype,
                               "kernel_initializer"),
                name="kernel",
            )
            self.recurrent_kernel = tf.Variable(
                _initial_value(self.recurrent_initializer, [self.units, width], self.dtype,
                               "recurrent_initializer"),
                name="recurrent_kernel",
            )
            if self.use_bias:
                self.bias = tf.Variable(self._bias_initial_value(self._bias_shape()), name="bias")
        self.input_dim = input_dim

    @property
    def weights(self) -> list:
        """``[kernel, recurrent_kernel, bias]`` (no bias when ``use_bias=False``)."""
        if not self.built:
            return []
        weights = [self.kernel, self.recurrent_kernel]
        return weights + ([self.bias] if self.use_bias else [])

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Assign ``weights`` in the order of :attr:`weights` (Keras's order).

        An unbuilt cell is built from the kernel's first dimension.

        Args:
            weights: list of arrays ``[kernel, recurrent_kernel, bias]``, e.g. a Keras
                cell's ``get_weights()``; count and shapes are checked before any is
                assigned.
        """
        weights = list(weights)
        if not self.built and weights:
            self.build(np.shape(weights[0])[0])
        assign_weights(self.weights, weights, owner=self.name)

    # ------------------------------------------------------------------ states
    def get_initial_state(self, batch_size: int | tf.Tensor) -> list[tf.Tensor]:
        """Zero states: ``[h]`` or ``[h, c]``, each ``[batch_size, units]``.

        Args:
            batch_size: int or scalar tensor. The number of sequences.
        """
        return [tf.zeros([batch_size, self.units], self.dtype) for _ in range(self.state_count)]

    # ------------------------------------------------------- the step's weights
    def step_weights(self) -> tuple:
        """The weights :meth:`forward` computes with: ``(kernel, recurrent_kernel, bias)``.

        The variables themselves (``bias`` is ``None`` without ``use_bias``). A cell with
        other weights returns its own nest.
        """
        return self.kernel, self.recurrent_kernel, self.bias

    # Python control flow only: AutoGraph, inside a user's tf.function, would convert this
    # and every call below it at every step of the user's loop (docs/speed.md, "The
    # default path's first call").
    @tf.autograph.experimental.do_not_convert
    def __call__(self, x_t: tf.Tensor, states: list[tf.Tensor] | tf.Tensor,
                 training: bool = False) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """``output, new_states = cell(x_t, states, training=False)``, checked.

        Args:
            x_t: ``[batch, input_dim]``, of the cell's dtype (a first call builds the
                cell for its width).
            states: a list of ``[batch, units]`` tensors (one for SimpleRNN and GRU,
                ``[h, c]`` for LSTM), or one tensor.
            training: a Python bool. Applies dropout (masks cached per sequence batch,
                :meth:`reset_dropout_mask`); read only when the cell has dropout.

        Returns:
            ``(output [batch, units], new_states)``, ``new_states`` a list as ``states``.
        """
        x_t = _checks.as_float_tensor(x_t, self.dtype, "inputs")
        _checks.shape_matches(x_t, [None, self.input_dim], "inputs")
        if not self.built:
            self.build(x_t.shape[-1])
        _checks.shape_matches(x_t, [None, self.input_dim], "inputs")
        states = self._check_states(states, x_t.shape[0])
        masks = (None, None)
        # `training` is read only when there is dropout, so that without it a symbolic
        # `training` works too (with it, it must be a Python bool: it decides the masks).
        if (self.dropout or self.recurrent_dropout) and _checks.python_bool(training):
            masks = self.cached_dropout_masks(x_t)
        return self.step(x_t, states, masks)

    def _check_states(self, states, batch_size):
        if not isinstance(states, (list, tuple)):
            states = [states]
        if len(states) != self.state_count:
            raise ValueError(
                f"`states` must be a list of {self.state_count} tensor(s) "
                f"{'[h, c]' if self.state_count == 2 else '[h]'}; received {len(states)}."
            )
        checked = []
        for i, s in enumerate(states):
            s = _checks.as_float_tensor(s, self.dtype, f"states[{i}]")
            _checks.shape_matches(s, [batch_size, self.units], f"states[{i}]")
            checked.append(s)
        return checked

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """The constructor's arguments as a dict: ``type(cell).from_config(config)``
        builds an equal cell (fresh weights); ``to_keras`` reads it too."""
        return {
            "units": self.units,
            "activation": activations.name_of(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "recurrent_initializer": self.recurrent_initializer,
            "bias_initializer": self.bias_initializer,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "input_dim": self.input_dim,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> RecurrentCell:
        """A cell from :meth:`get_config`'s dict, or from a Keras cell's ``get_config()``
        (what has no lowlevel equivalent, a regularizer say, is refused by name).

        Args:
            config: dict. The configuration.
        """
        config = keras_config.translate(cls, config)  # also a Keras cell's get_config()
        return cls(**config)


def with_recurrent_kernel_transposed(weights: tuple) -> tuple:
    """``(W, U, b)`` -> ``(W, Uᵀ, b)``: the built-in cells' :meth:`backward_operands`.

    The backward chain multiplies by ``Uᵀ`` at every step; transposed once per sequence,
    not by ``tf.matmul(..., transpose_b=True)`` at every step (docs/speed.md, "The
    backward chain against a transposed weight").
    """
    kernel, recurrent_kernel, bias = weights
    return kernel, tf.transpose(recurrent_kernel), bias


def _initial_value(initializer, shape, dtype, argument):
    if callable(initializer) and not isinstance(initializer, keras.initializers.Initializer):
        return tf.cast(initializer(shape, dtype=dtype), dtype)
    try:
        init = keras.initializers.get(initializer)
    except ValueError as error:
        raise ValueError(f"Unknown `{argument}`: {initializer!r} ({error})") from None
    # Keras initializers are the well-kept implementation of glorot/orthogonal/...
    # Half precisions are drawn in float32 and rounded: TF has no bfloat16 QR
    # (orthogonal), and rounding once is what a float32-trained model would hold.
    draw_dtype = tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype
    return tf.cast(init(shape, dtype=draw_dtype.name), dtype)
