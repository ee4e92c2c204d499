"""What every recurrent cell shares: variables, weight transfer, dropout masks.

A cell is one time step and nothing else: ``output, new_states = cell(x_t, states)``.
The time loop lives in :mod:`lowlevel.loops.reference`; the equations of each cell live in a
module-level ``*_step`` function that the cell (which owns the variables) calls.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lowlevel import _checks
from lowlevel import activations, keras_config
from lowlevel._weights import KerasOrderedWeights, assign_weights


class RecurrentCell(KerasOrderedWeights, tf.Module):
    """Base of :class:`SimpleRNNCell`, :class:`LSTMCell` and :class:`GRUCell`.

    Subclasses set ``gates`` (the number ``G`` of fused gate blocks), ``state_count``
    and implement :meth:`step`. Variables, named and laid out as in Keras::

        kernel            [input_dim, G * units]
        recurrent_kernel  [units, G * units]
        bias              [G * units]      (GRU with reset_after: [2, 3 * units])
    """

    gates = 1
    state_count = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        input_dim=None,
        dtype=tf.float32,
        name=None,
    ):
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
    def state_size(self):
        """``units`` for one state (Keras's int), ``[units, units]`` for LSTM."""
        return self.units if self.state_count == 1 else [self.units] * self.state_count

    @property
    def output_size(self):
        return self.units

    @property
    def built(self) -> bool:
        return self.kernel is not None

    def _bias_shape(self):
        return [self.gates * self.units]

    def _bias_initial_value(self, shape):
        return _initial_value(self.bias_initializer, shape, self.dtype, "bias_initializer")

    # ---------------------------------------------------------------- weights
    def build(self, input_dim=None, input_shape=None):
        """Create the variables for inputs of ``input_dim`` features.

        ``cell.build(input_shape=(None, 4))`` works too, as in the tutorial.
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

    def set_weights(self, weights) -> None:
        """Assign ``weights`` in the order of :attr:`weights` (Keras's order).

        An unbuilt cell is built from the kernel's first dimension.
        """
        weights = list(weights)
        if not self.built and weights:
            self.build(np.shape(weights[0])[0])
        assign_weights(self.weights, weights, owner=self.name)

    # ------------------------------------------------------------------ states
    def get_initial_state(self, batch_size):
        """Zero states: ``[h]`` or ``[h, c]``, each ``[batch, units]``."""
        return [tf.zeros([batch_size, self.units], self.dtype) for _ in range(self.state_count)]

    # ----------------------------------------------------------------- dropout
    def draw_dropout_masks(self, batch_size):
        """One input mask ``[batch, input_dim]`` and one recurrent mask ``[batch, units]``.

        Inverted dropout (Srivastava et al. 2014): kept entries are scaled by
        ``1 / (1 - rate)`` so the expected input is unchanged; a rate of 0 gives ``None``.
        The same masks are used at every time step of a sequence (Gal & Ghahramani 2016).
        """
        return (
            dropout_mask(self._rng, [batch_size, self.input_dim], self.dropout, self.dtype),
            dropout_mask(self._rng, [batch_size, self.units], self.recurrent_dropout, self.dtype),
        )

    def reset_dropout_mask(self) -> None:
        """Forget the cached masks: the next training call draws new ones.

        Only hand-written eager loops need this (call it at the start of each
        sequence batch, as Keras 3 requires too); the sequence layers draw masks
        once per call, and a compiled function draws them afresh on every run.
        """
        self._cached_masks = None

    reset_recurrent_dropout_mask = reset_dropout_mask

    def _masks_for_hand_stepping(self, x_t):
        # Keras 3 caches one mask per cell forever, which breaks under tf.function
        # (a tensor of another graph). We key the cache on the function being traced,
        # so each compiled function draws its own masks, fresh on every execution.
        graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        # A tf.range loop or a tf.cond branch is a graph of its own, but the sequence
        # belongs to the function around it: draw the masks there, once.
        inner = graph
        while graph is not None and type(graph).__name__ in _CONTROL_FLOW_GRAPHS:
            graph = graph.outer_graph
        # A new batch size can only mean a new sequence batch: draw new masks for it.
        key = (graph, x_t.shape[0])
        if self._cached_masks is None or self._cached_masks[0] != key:
            if graph is inner:
                masks = self.draw_dropout_masks(tf.shape(x_t)[0])
            else:
                if x_t.shape[0] is None:
                    raise ValueError(
                        "`inputs` has an unknown batch size inside a compiled loop, so the "
                        "dropout masks cannot be drawn outside it: call "
                        "`masks = cell.draw_dropout_masks(batch)` before the loop and "
                        "`cell.step(x_t, states, masks)` inside it.")
                with graph.as_default():
                    masks = self.draw_dropout_masks(x_t.shape[0])
            self._cached_masks = (key, masks)
        return self._cached_masks[1]

    # -------------------------------------------------------------------- step
    def step(self, x_t, states, masks=(None, None), weights=None):
        """One time step with explicit dropout masks; returns ``(output, new_states)``.

        ``weights``: ``(kernel, recurrent_kernel, bias)`` to compute with instead of
        the cell's variables (see :meth:`step_weights`).
        """
        raise NotImplementedError

    def step_weights(self, weights=None):
        """``(kernel, recurrent_kernel, bias)`` for one :meth:`step`.

        ``weights=None`` (the default) gives the cell's own variables; otherwise
        ``weights`` itself, e.g. :meth:`cast_weights`'s tensors. ``bias`` is ``None``
        without ``use_bias``.
        """
        if weights is None:
            return self.kernel, self.recurrent_kernel, self.bias
        kernel, recurrent_kernel, bias = weights
        return kernel, recurrent_kernel, bias

    def cast_weights(self, dtype):
        """``(kernel, recurrent_kernel, bias)`` cast to ``dtype``: the ``weights`` of :meth:`step`.

        The mixed-precision path of the sequence layers (``compute_dtype``) calls this
        at every step (``'bptt'``: once per call), so the variables stay in :attr:`dtype`
        (float32, for the optimizer's small updates) while every step's matmuls run in
        ``dtype`` (bfloat16 or float16), as Keras's ``mixed_bfloat16`` policy. The
        gradient flows back through the cast to the variables, in their own dtype.
        """
        return tuple(None if w is None else tf.cast(w, dtype)
                     for w in (self.kernel, self.recurrent_kernel, self.bias))

    def __call__(self, x_t, states, training=False):
        """``output, new_states = cell(x_t, states, training=False)``.

        ``x_t``: ``[batch, input_dim]``; ``states``: a list of ``[batch, units]``
        tensors (one for SimpleRNN and GRU, ``[h, c]`` for LSTM), or one tensor.
        """
        x_t = _checks.as_float_tensor(x_t, self.dtype, "inputs")
        _checks.shape_matches(x_t, [None, self.input_dim], "inputs")
        if not self.built:
            self.build(x_t.shape[-1])
        _checks.shape_matches(x_t, [None, self.input_dim], "inputs")
        states = self._check_states(states, x_t.shape[0])
        masks = (None, None)
        if training and (self.dropout or self.recurrent_dropout):
            masks = self._masks_for_hand_stepping(x_t)
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
    def from_config(cls, config):
        config = keras_config.translate(cls, config)  # also a Keras cell's get_config()
        return cls(**config)


# Graphs TensorFlow builds for the body of a loop or the branch of a conditional.
_CONTROL_FLOW_GRAPHS = {"WhileBodyFuncGraph", "WhileCondFuncGraph", "CondBranchFuncGraph"}


def dropout_mask(rng: tf.random.Generator, shape, rate: float, dtype):
    """``mask = [u >= rate] / (1 - rate)`` with ``u ~ U[0, 1)``; ``None`` when ``rate == 0``."""
    if not rate:
        return None
    keep = rng.uniform(shape, dtype=tf.float32) >= rate
    # 1 / (1 - rate) in Python float64, then the mask's dtype: a float32 detour would
    # put float64 masks 1e-8 off.
    return tf.cast(keep, dtype) * tf.constant(1.0 / (1.0 - rate), dtype)


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
