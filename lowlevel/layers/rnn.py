"""``RNN``: any cell run over time, with Keras's call contract.

``layer(x, initial_state=None, mask=None, training=False)`` with ``x [batch, time,
features]`` returns ``[batch, units]`` (last output), ``[batch, time, units]``
(``return_sequences=True``), or the tuple ``(output, *states)`` (``return_state=True``:
``(output, h)``, ``(output, h, c)``, or one ``[h, c]`` list per cell of a stack) — the
same values and structure Keras 3 returns, compiled with ``tf.function``.
``stateful=True`` carries the final states into the next call
(:mod:`lowlevel.layers.stateful`); ``unroll=True`` is ``implementation='unrolled'``.

``implementation`` names the time loop (:mod:`lowlevel.loops.registry`); all compute
the same values, outputs and gradients (``tests/loops/test_implementations.py``):

- ``'auto'`` (the default): a loop that can serve the call, chosen by measured rules
  (:func:`lowlevel.loops.registry.choose`);
- ``'reference'``: :func:`lowlevel.loops.reference.unroll`, the readable loop;
- ``'fast'``: :func:`lowlevel.loops.fast.fast_unroll`, the same steps in a lean
  ``tf.while_loop``;
- ``'bptt'``: :func:`lowlevel.loops.bptt.bptt_unroll`, a ``tf.custom_gradient`` core with
  hand-written backpropagation through time, from the cell's own ``backward`` step
  (a cell without one, or an activation without a known derivative, is an error);
- ``'unrolled'``: :func:`lowlevel.loops.unrolled.chunked_unroll`, no loop: every step
  written out, traced ten steps at a time, the weights read once per call, and at
  batches up to 64 each weight's gradient formed once per ten steps
  (:mod:`lowlevel.loops.weight_gradients`). The fastest step here, and the slowest first
  call; the number of steps must be known when tracing.

A named loop that cannot serve a call raises a ``ValueError`` naming it and why.

``compute_dtype`` (``None``: the variables' dtype) computes in a lower precision than
the variables are stored in, as Keras's ``mixed_bfloat16`` / ``mixed_float16`` dtype
policies: float32 variables for the optimizer's small updates, bfloat16 (or float16)
matmuls. What is cast where, in :meth:`RNN._forward`:

- inputs ``[batch, time, features]``, initial states and dropout masks: cast to
  ``compute_dtype`` before the loop (inputs and states may come in either dtype);
- weights: cast at every step, as Keras casts them at every read
  (:meth:`lowlevel.loops.request.Request.step`), so that each step's
  weight gradient returns to the variables' dtype before the sum over time; ``'bptt'``
  casts once, its weight gradients being single matmuls over all steps. The variables
  stay in the cell's dtype and receive their gradients in it, through the cast;
- the step equations, the outputs and the returned states are in ``compute_dtype``,
  as Keras returns them. Every ``implementation`` runs in it, ``'bptt'`` included.

(``docs/equations.md``, "Mixed precision").

With ``compute_dtype=None`` (or equal to the variables' dtype) nothing is cast: the
graph is the one without the argument.

``SimpleRNN``, ``LSTM`` and ``GRU`` are this layer with their own cell
(:mod:`lowlevel.layers.simple_rnn`, :mod:`~lowlevel.layers.lstm`,
:mod:`~lowlevel.layers.gru`). This module is one concept over 300 lines: the layer that
runs a cell over time, most of its length Keras's call contract written out in full.
"""

from __future__ import annotations

import functools
import numbers
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from lowlevel import _checks, keras_config
from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights
from lowlevel.layers import stateful as _stateful
from lowlevel.cells.base import DTypeLike, RecurrentCell
from lowlevel.loops import registry
from lowlevel.loops.registry import DEFAULT_IMPLEMENTATION, IMPLEMENTATIONS
from lowlevel.loops.request import Request, cast as _cast

if TYPE_CHECKING:
    from lowlevel.layers.stacking import StackedCells


class RNN(KerasOrderedWeights, Describable, tf.Module):
    """Any cell, stack of cells or list of cells run over ``[batch, time, features]``.

    Keras's ``keras.layers.RNN``: the same positional arguments and defaults, the same
    call contract and return structures. A ``tf.Module``, not a Keras layer: it does
    not go into ``keras.Sequential``; ``lowlevel.to_keras(layer)`` /
    ``lowlevel.from_keras(keras_layer)`` convert, and
    ``layer.set_weights(keras_layer.get_weights())`` copies the weights
    (:mod:`lowlevel.layers`, "What these objects are"). The time loop is
    ``implementation``'s (the module's docstring); the step is the cell's::

        states_0 = initial_state (zeros)
        output_t, states_t = cell.step(x_t, states_{t-1})     for t = 1 .. time
        masked t: states_t = states_{t-1}, output_t = output_{t-1} (or 0)

    Args:
        cell: a lowlevel cell (:class:`~lowlevel.cells.SimpleRNNCell`,
            :class:`~lowlevel.cells.LSTMCell`, :class:`~lowlevel.cells.GRUCell`, a
            :class:`~lowlevel.cells.RecurrentCell` of one's own), a
            :class:`~lowlevel.layers.StackedCells`, or a list of cells (Keras's
            spelling of a stack: ``RNN([cell0, cell1])`` builds
            ``StackedCells([cell0, cell1])``).
        return_sequences: bool. Return the output of every step ``[batch, time,
            units]`` rather than the last ``[batch, units]``. Default ``False``.
        return_state: bool. Also return the final states, in the cell's nesting.
            Default ``False``.
        go_backwards: bool. Read the inputs from the last step to the first. Default
            ``False``.
        stateful: bool. The final states of each call, kept in non-trainable variables
            (:attr:`states`), are the next call's initial states when none is given;
            the batch size is fixed by the first call (or :meth:`build`);
            :meth:`reset_state` zeroes them (:mod:`lowlevel.layers.stateful`). Default
            ``False``.
        unroll: bool. Write every step out: ``implementation='unrolled'`` (naming
            another implementation as well is an error). Default ``False``.
        zero_output_for_mask: bool. With a mask and ``return_sequences``, masked
            steps output zeros instead of repeating the previous output. Default
            ``False``.
        implementation: str or None. Keyword-only, lowlevel's own. The time loop:
            ``'auto'`` (``None``), ``'reference'``, ``'fast'``, ``'bptt'`` or
            ``'unrolled'``; all compute the same values.
        compute_dtype: ``tf.DType``, str or None. Keyword-only, lowlevel's own.
            ``None`` (the variables' dtype), or a float dtype no wider than the
            variables' (``'bfloat16'``, ``'float16'``) to compute in, as Keras's mixed
            precision policies (the module's docstring says what is cast where).
        name: str or None. Keyword-only. The module's name.

    Call arguments:
        inputs: ``[batch, time, features]``, float, of the cell's dtype (or
            ``compute_dtype``).
        initial_state: the states to start from, in the cell's nesting (``[h]``,
            ``[h, c]``, one list per cell of a stack) or flat; each ``[batch, units]``.
            ``None``: zeros (a stateful layer: the carried states).
        mask: ``[batch, time]`` booleans or ``None``. A masked step keeps the states
            and repeats the previous output (zeros with ``zero_output_for_mask``).
        training: bool. Applies the cells' dropout when ``True``. Default ``False``.

    Returns:
        ``[batch, units]`` (the last output), or ``[batch, time, units]`` with
        ``return_sequences``; with ``return_state`` the tuple ``(output, *states)`` in
        the cell's nesting, as Keras 3: ``(output, h)``, ``(output, h, c)``, or
        ``(output, [h0, c0], [h1])`` for a stack.

    Attributes:
        cell: the cell, which owns the weights (:attr:`weights` are its, Keras's order).
        states: a stateful layer's state variables (in the cell's nesting, each
            ``[batch, units]``), else ``None``.

    Example::

        import numpy as np
        import lowlevel

        layer = lowlevel.RNN([lowlevel.LSTMCell(4), lowlevel.GRUCell(3)], True)
        assert layer(np.ones([2, 5, 6], "float32")).shape == (2, 5, 3)
        assert layer.count_params() == 4 * (6 * 4 + 4 * 4 + 4) + 3 * (4 * 3 + 3 * 3 + 2 * 3)
    """

    def __init__(
        self,
        cell: RecurrentCell | StackedCells | list[RecurrentCell],
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        *,
        implementation: str | None = None,
        compute_dtype: DTypeLike | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if isinstance(cell, (list, tuple)):
            from lowlevel.layers.stacking import StackedCells  # noqa: PLC0415 (it imports RNN)

            cell = StackedCells(cell)
        if not hasattr(cell, "step") or not hasattr(cell, "get_initial_state"):
            raise TypeError(
                "`cell` must be a lowlevel cell (SimpleRNNCell, LSTMCell, GRUCell), "
                f"StackedCells or a list of cells; received {type(cell).__name__}."
            )
        self._compute_dtype = _check_compute_dtype(compute_dtype, cell.dtype)
        if self._compute_dtype is not None and not hasattr(cell, "step_weights"):
            raise TypeError(
                "`compute_dtype` needs a cell with `cast_weights(dtype)`, `step_weights()` "
                "and a `weights` argument to `step` (SimpleRNNCell, LSTMCell, GRUCell, "
                "StackedCells); "
                f"received {type(cell).__name__}.")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.implementation = registry.check(_implementation(implementation, unroll))
        self.stateful = bool(stateful)
        self.states = None  # stateful: the state variables, made at build or first call
        # For calls made eagerly. A partial, not the bound method: TensorFlow counts
        # traces per code object, and six layers each traced once would read to it as
        # one function retraced. Plain tf.function, not lowlevel.compiled: a forward
        # pass measured faster under Grappler (docs/speed.md, table G). Without
        # AutoGraph: _forward branches on Python values only, and the one loop that needs
        # converting converts itself (loops/reference.py).
        self._compiled_forward = tf.function(functools.partial(RNN._forward, self),
                                             autograph=False)

    # --------------------------------------------------------------- weights
    @property
    def dtype(self) -> tf.DType:
        """The variables' dtype (Keras's ``variable_dtype``)."""
        return self.cell.dtype

    @property
    def compute_dtype(self) -> tf.DType:
        """The dtype of the steps, outputs and returned states (Keras's ``compute_dtype``)."""
        return self._compute_dtype if self._compute_dtype is not None else self.dtype

    @property
    def _mixed(self) -> bool:
        """True when computing in another dtype than the variables' (anything is cast)."""
        return self.compute_dtype != self.dtype

    @property
    def weights(self) -> list[tf.Variable]:
        """The cell's variables, Keras's order (``[kernel, recurrent_kernel, bias]``
        per cell); a stateful layer's state variables are not weights, as in Keras."""
        return self.cell.weights

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Assign the cell's weights, e.g. a Keras twin's ``get_weights()``.

        Args:
            weights: list of arrays in the order of :attr:`weights`; an unbuilt cell is
                built from the first kernel's shape.
        """
        self.cell.set_weights(weights)

    @property
    def built(self) -> bool:
        """True once the cell's weights exist (after :meth:`build` or the first call)."""
        return self.cell.built

    @property
    def output_shape(self) -> tuple:
        """``(None, units)``, or ``(None, None, units)`` with ``return_sequences`` (the
        output alone: ``return_state`` adds the states)."""
        units = self.cell.output_size
        return (None, None, units) if self.return_sequences else (None, units)

    def build(self, input_dim: int, batch_size: int | None = None) -> None:
        """Make the cell's weights for ``input_dim`` features; for a stateful layer given
        ``batch_size``, its state variables too (else the first call makes them).

        Args:
            input_dim: int. The input width, ``features``.
            batch_size: int or None. A stateful layer's fixed batch size.
        """
        self.cell.build(input_dim)
        if self.stateful and batch_size is not None:
            self.states = _stateful.create_state_variables(self.cell, batch_size,
                                                           "batch_size")

    @property
    def unroll(self) -> bool:
        """Keras's ``unroll``: True when every step is written out (``'unrolled'``)."""
        return self.implementation == "unrolled"

    def reset_state(self) -> None:
        """Zero the state variables of a stateful layer (as Keras's ``reset_state``)."""
        if not self.stateful:
            raise AttributeError("reset_state() needs a stateful layer: build it with "
                                 "stateful=True.")
        _stateful.reset(self.states)

    def reset_states(self) -> None:
        """Keras's compatibility alias of :meth:`reset_state`."""
        self.reset_state()

    # ------------------------------------------------------------------ call
    # Not converted by AutoGraph inside a user's tf.function: its control flow is on
    # Python values only (shapes, None, flags), and converting it and everything it calls
    # lengthened the first training step (docs/speed.md, "The default path's first
    # call").
    @tf.autograph.experimental.do_not_convert
    def __call__(self, inputs: tf.Tensor, initial_state: list | None = None,
                 mask: tf.Tensor | None = None,
                 training: bool = False) -> tf.Tensor | tuple:
        """``x [batch, time, features]`` -> the output, or ``(output, *states)``.

        The arguments and what is returned: the class's docstring ("Call arguments",
        "Returns").
        """
        inputs = self._as_input(inputs, "inputs")
        _checks.shape_matches(inputs, [None, None, self.cell.input_dim], "inputs")
        if inputs.shape[1] == 0:
            raise ValueError("`inputs` must have at least one time step; received time = 0.")
        if not self.cell.built:
            self.cell.build(inputs.shape[-1])
        batch = inputs.shape[0]
        if self.stateful:
            if self.states is None:
                self.states = _stateful.create_state_variables(self.cell, batch)
            _stateful.check_batch_size(self.states, batch)
        if initial_state is None and self.stateful:
            initial_state = _stateful.read(self.states)
        elif initial_state is None:
            initial_state = self.cell.get_initial_state(tf.shape(inputs)[0])
        else:
            initial_state = self._check_initial_state(initial_state, batch)
        if mask is not None:
            mask = tf.convert_to_tensor(mask)
            if mask.dtype != tf.bool:
                raise TypeError(f"`mask` must be a bool tensor; received dtype {mask.dtype.name}.")
            _checks.shape_matches(mask, [batch, inputs.shape[1]], "mask")
        # A loop that cannot serve this call says so here, before any tracing.
        eager, training = tf.executing_eagerly(), _checks.python_bool(training)
        registry.serving(self.implementation,
                         Request(self.cell, inputs, initial_state, called_eagerly=eager,
                                 training=training))
        # Inside a tf.function already (a training step): traced into it directly. A
        # nested tf.function would be a second function boundary whose forward and
        # backward TensorFlow builds apart, capturing every intermediate across it.
        forward = self._compiled_forward if eager else self._forward
        last, sequence, states = forward(inputs, initial_state, mask, training, eager)
        if self.stateful:
            _stateful.assign(self.states, states)
        output = sequence if self.return_sequences else last
        if self.return_state:
            return (output, *states)  # Keras 3: a tuple, states in the cell's nesting
        return output

    def _forward(self, inputs, initial_state, mask, training, called_eagerly=False):
        masks = None
        if training and (self.cell.dropout or getattr(self.cell, "recurrent_dropout", 0)):
            # One mask per sequence batch, reused at every step (Gal & Ghahramani 2016).
            masks = self.cell.draw_dropout_masks(tf.shape(inputs)[0])

        if self._mixed:
            # Mixed precision (Keras's mixed_bfloat16): everything the steps touch in
            # compute_dtype.
            inputs = _cast(inputs, self.compute_dtype)
            initial_state = _cast(initial_state, self.compute_dtype)
            masks = _cast(masks, self.compute_dtype)

        request = Request(self.cell, inputs, initial_state, mask, self.go_backwards,
                          self.return_sequences, self.zero_output_for_mask, masks,
                          self.compute_dtype if self._mixed else None, called_eagerly,
                          training)
        return registry.run(self.implementation, request)

    def _check_initial_state(self, initial_state, batch):
        """Accept the nest of :meth:`get_initial_state`, or its flat list (Keras style)."""
        template = self.cell.get_initial_state(1)
        flat = tf.nest.flatten(initial_state)
        flat_template = tf.nest.flatten(template)
        if len(flat) != len(flat_template):
            raise ValueError(
                f"`initial_state` must hold {len(flat_template)} tensor(s) of shape "
                f"[batch, units]; received {len(flat)}."
            )
        checked = []
        for i, (s, t) in enumerate(zip(flat, flat_template)):
            s = self._as_input(s, f"initial_state[{i}]")
            _checks.shape_matches(s, [batch, t.shape[-1]], f"initial_state[{i}]")
            checked.append(s)
        return tf.nest.pack_sequence_as(template, checked)

    def _as_input(self, value, argument):
        """A tensor of the variables' dtype, or already of ``compute_dtype`` (kept).

        Other dtypes are an error, as in :func:`lowlevel._checks.as_float_tensor`;
        ``_forward`` casts to ``compute_dtype``.
        """
        if self._mixed and isinstance(value, (tf.Tensor, tf.Variable)) \
                and value.dtype == self.compute_dtype:
            return tf.convert_to_tensor(value)
        return _checks.as_float_tensor(value, self.dtype, argument)

    def get_initial_state(self, batch_size: int | tf.Tensor) -> list:
        """Zero states, in the cell's nesting, in ``compute_dtype`` (as Keras's cells
        make them).

        Args:
            batch_size: int or scalar tensor. The number of sequences.
        """
        return _cast(self.cell.get_initial_state(batch_size), self.compute_dtype)

    def get_config(self) -> dict:
        """The constructor's arguments: ``type(layer).from_config(config)`` builds an equal
        layer with fresh weights (the cell as ``{'class', 'config'}``)."""
        return {"cell": {"class": type(self.cell), "config": self.cell.get_config()},
                **self._loop_config()}

    def _loop_config(self) -> dict:
        """The layer's own arguments (how it runs the cell over time), as ``__init__`` takes them."""
        return {"return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask,
                "stateful": self.stateful, "implementation": self.implementation,
                "compute_dtype": _dtype_name(self._compute_dtype)}

    @classmethod
    def from_config(cls, config: dict) -> RNN:
        """A layer from :meth:`get_config`'s dict or from a Keras layer's
        ``get_config()`` (what has no lowlevel equivalent is refused by name).

        Args:
            config: dict. The configuration.
        """
        config = dict(keras_config.translate(cls, config))  # also a Keras RNN's get_config()
        cell = config.pop("cell")
        return cls(cell["class"].from_config(cell["config"]), **config)


def _implementation(implementation, unroll):
    """The loop's name: ``implementation``, or ``'unrolled'`` for Keras's ``unroll=True``."""
    if not unroll:
        return DEFAULT_IMPLEMENTATION if implementation is None else implementation
    if implementation not in (None, "unrolled"):
        raise ValueError(f"`unroll=True` selects implementation='unrolled'; received "
                         f"implementation={implementation!r} as well: give one of them.")
    return "unrolled"


def _check_compute_dtype(value, variable_dtype):
    """``None``, or a float ``tf.DType`` no wider than ``variable_dtype``."""
    if value is None:
        return None
    if isinstance(value, (bool, numbers.Number)):  # tf.as_dtype(1) would be float32
        dtype = None
    else:
        try:
            dtype = tf.as_dtype(value)
        except TypeError:
            dtype = None
    if dtype not in _checks.FLOAT_DTYPES:
        raise TypeError(
            f"`compute_dtype` must be None or one of "
            f"{[d.name for d in _checks.FLOAT_DTYPES]}; received {value!r}.")
    if dtype.size > variable_dtype.size:
        raise ValueError(
            f"`compute_dtype` {dtype.name} is wider than the variables' dtype "
            f"{variable_dtype.name}: it is for computing in a lower precision than the "
            f"variables are stored in (make the variables {dtype.name} instead, with "
            f"dtype={dtype.name!r}).")
    return dtype


def _dtype_name(dtype):
    return None if dtype is None else dtype.name


def clone(layer: RNN) -> RNN:
    """A new layer of the same configuration, with freshly initialised weights.

    Args:
        layer: a lowlevel sequence layer (anything with ``get_config``/``from_config``).
    """
    return type(layer).from_config(layer.get_config())


__all__ = ["RNN", "clone", "IMPLEMENTATIONS", "DEFAULT_IMPLEMENTATION"]
