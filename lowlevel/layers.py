"""Sequence layers: a cell plus the time loop, with Keras's call contract.

``layer(x, initial_state=None, mask=None, training=False)`` with ``x [batch, time,
features]`` returns ``[batch, units]`` (last output), ``[batch, time, units]``
(``return_sequences=True``), or ``[output, *states]`` (``return_state=True``) — the
same values Keras returns, compiled with ``tf.function``.

``implementation`` chooses the time loop; all compute the same values, outputs and
gradients (``tests/test_implementations.py``):

- ``'reference'``: :func:`lowlevel.unroll.unroll`, the readable loop;
- ``'fast'``: :func:`lowlevel.fast.fast_unroll`, the same steps in a lean
  ``tf.while_loop`` (the default: measured faster with ``benchmarks/test_step_speed.py``);
- ``'bptt'``: :func:`lowlevel.bptt.bptt_unroll`, a ``tf.custom_gradient`` core with
  hand-written backpropagation through time (SimpleRNN, LSTM, GRU cells with their
  default-style activations; anything else falls back to ``'fast'``).
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel import _checks
from lowlevel._weights import KerasOrderedWeights
from lowlevel.cells import GRUCell, LSTMCell, SimpleRNNCell
from lowlevel.stacking import StackedCells
from lowlevel.fast import fast_unroll
from lowlevel.unroll import unroll

IMPLEMENTATIONS = ("reference", "fast", "bptt")
DEFAULT_IMPLEMENTATION = "fast"


class RNN(KerasOrderedWeights, tf.Module):
    """``RNN(cell, return_sequences=False, return_state=False, go_backwards=False,
    implementation='fast')``.

    ``cell`` is any lowlevel cell or :class:`StackedCells`. Weights are the cell's,
    in Keras's order; ``states`` returned with ``return_state=True`` are flattened
    as Keras flattens them (``[h]``, ``[h, c]``, or every cell's in turn).
    """

    def __init__(self, cell, return_sequences=False, return_state=False,
                 go_backwards=False, zero_output_for_mask=False, implementation=None,
                 name=None):
        super().__init__(name=name)
        if not hasattr(cell, "step") or not hasattr(cell, "get_initial_state"):
            raise TypeError(
                "`cell` must be a lowlevel cell (SimpleRNNCell, LSTMCell, GRUCell) or "
                f"StackedCells; received {type(cell).__name__}."
            )
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        if implementation is None:
            implementation = DEFAULT_IMPLEMENTATION
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"`implementation` must be one of {IMPLEMENTATIONS}; "
                             f"received {implementation!r}. (Keras's integer modes 1 and "
                             "2 select its kernel fusion and have no equivalent here.)")
        self.implementation = implementation
        self._compiled_forward = tf.function(self._forward)

    # --------------------------------------------------------------- weights
    @property
    def dtype(self):
        return self.cell.dtype

    @property
    def weights(self):
        return self.cell.weights

    def set_weights(self, weights):
        self.cell.set_weights(weights)

    def build(self, input_dim):
        self.cell.build(input_dim)

    # ------------------------------------------------------------------ call
    def __call__(self, inputs, initial_state=None, mask=None, training=False):
        inputs = _checks.as_float_tensor(inputs, self.dtype, "inputs")
        _checks.shape_matches(inputs, [None, None, self.cell.input_dim], "inputs")
        if inputs.shape[1] == 0:
            raise ValueError("`inputs` must have at least one time step; received time = 0.")
        if not self.cell.built:
            self.cell.build(inputs.shape[-1])
        batch = inputs.shape[0]
        if initial_state is None:
            initial_state = self.cell.get_initial_state(tf.shape(inputs)[0])
        else:
            initial_state = self._check_initial_state(initial_state, batch)
        if mask is not None:
            mask = tf.convert_to_tensor(mask)
            if mask.dtype != tf.bool:
                raise TypeError(f"`mask` must be a bool tensor; received dtype {mask.dtype.name}.")
            _checks.shape_matches(mask, [batch, inputs.shape[1]], "mask")
        last, sequence, states = self._compiled_forward(inputs, initial_state, mask,
                                                        bool(training))
        output = sequence if self.return_sequences else last
        if self.return_state:
            return [output, *tf.nest.flatten(states)]
        return output

    def _forward(self, inputs, initial_state, mask, training):
        masks = None
        if training and (self.cell.dropout or getattr(self.cell, "recurrent_dropout", 0)):
            # One mask per sequence batch, reused at every step (Gal & Ghahramani 2016).
            masks = self.cell.draw_dropout_masks(tf.shape(inputs)[0])

        def step(x_t, states):
            return self.cell.step(x_t, states, masks) if masks is not None \
                else self.cell.step(x_t, states)

        options = dict(mask=mask, go_backwards=self.go_backwards,
                       return_sequences=self.return_sequences,
                       zero_output_for_mask=self.zero_output_for_mask)
        if self.implementation == "bptt":
            from lowlevel import bptt  # noqa: PLC0415 (bptt imports the cells' modules)
            if bptt.supports(self.cell):
                return bptt.bptt_unroll(self.cell, inputs, initial_state, dropout_masks=masks,
                                        **options)
        if self.implementation == "reference":
            return unroll(step, inputs, initial_state, **options)
        return fast_unroll(step, inputs, initial_state, output_size=self.cell.output_size,
                          **options)

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
            s = _checks.as_float_tensor(s, self.dtype, f"initial_state[{i}]")
            _checks.shape_matches(s, [batch, t.shape[-1]], f"initial_state[{i}]")
            checked.append(s)
        return tf.nest.pack_sequence_as(template, checked)

    def get_initial_state(self, batch_size):
        return self.cell.get_initial_state(batch_size)

    def get_config(self):
        return {"cell": {"class": type(self.cell), "config": self.cell.get_config()},
                "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask,
                "implementation": self.implementation}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = config.pop("cell")
        return cls(cell["class"].from_config(cell["config"]), **config)


class _CellLayer(RNN):
    """A sequence layer that builds its own cell from the cell's arguments."""

    cell_class = None

    def __init__(self, units, *, return_sequences=False, return_state=False,
                 go_backwards=False, zero_output_for_mask=False, implementation=None,
                 name=None, **cell_kwargs):
        super().__init__(self.cell_class(units, **cell_kwargs),
                         return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards,
                         zero_output_for_mask=zero_output_for_mask,
                         implementation=implementation, name=name)

    @property
    def units(self):
        return self.cell.units

    def get_config(self):
        return {**self.cell.get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask,
                "implementation": self.implementation}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SimpleRNN(_CellLayer):
    """``SimpleRNN(units, activation='tanh', ..., return_sequences=False, ...)`` over
    :class:`SimpleRNNCell`; arguments and defaults as ``keras.layers.SimpleRNN``."""

    cell_class = SimpleRNNCell


class LSTM(_CellLayer):
    """``LSTM(units, ...)`` over :class:`LSTMCell`; states ``[h, c]``."""

    cell_class = LSTMCell


class GRU(_CellLayer):
    """``GRU(units, ..., reset_after=True)`` over :class:`GRUCell`."""

    cell_class = GRUCell


def clone(layer):
    """A new layer of the same configuration, with freshly initialised weights."""
    return type(layer).from_config(layer.get_config())


__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "StackedCells", "clone"]
