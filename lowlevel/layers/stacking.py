"""Stacked cells: every layer stepped at each time step (the tutorial's ``MyRNN``).

The other stacking style — a stack of sequence layers, each non-last one with
``return_sequences=True`` — needs no class: call the layers in turn, or hand them to
:func:`stack_layers`, which runs them as one time loop over their cells. All compute
the same function (``tests/layers/test_stacking.py`` proves it, outputs and gradients).
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel import _checks
from lowlevel import keras_config
from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights
from lowlevel.layers.rnn import RNN
from lowlevel.loops import registry


class StackedCells(KerasOrderedWeights, Describable, tf.Module):
    """``StackedCells([cell0, cell1, ...])`` behaves as one cell.

    At each step ``x_t [batch, input_dim]`` passes up the stack::

        out_0, states_0 = cell0(x_t,    states_0)
        out_1, states_1 = cell1(out_0,  states_1)
        ...
        output = out_{L-1}

    ``states`` is a list with one entry per cell, each that cell's own list
    (``[h]`` or ``[h, c]``). Weights are listed cell by cell, in Keras's
    ``StackedRNNCells`` order.

    Args:
        cells: a non-empty list of lowlevel cells of one dtype, bottom first; each
            cell's input width is the output width of the one below it.
        name: the module's name.

    Call arguments (``step``, as a cell's):
        x_t: ``[batch, input_dim]``, the bottom cell's input at one time step.
        states: one list of ``[batch, units]`` tensors per cell.

    Returns:
        ``(output [batch, units of the top cell], new_states)``, ``new_states`` in the
        structure of ``states``.
    """

    def __init__(self, cells, name=None):
        super().__init__(name=name)
        cells = _checks.cells(cells, "cells")
        if not cells:
            raise ValueError("`cells` must be a non-empty list of cells; received [].")
        dtypes = {c.dtype for c in cells}
        if len(dtypes) != 1:
            raise TypeError(f"`cells` must share one dtype; received {sorted(d.name for d in dtypes)}.")
        self.cells = cells
        self.dtype = cells[0].dtype
        if cells[0].built:
            self._build_upper(cells[0].output_size)

    # --------------------------------------------------------------- weights
    @property
    def input_dim(self):
        return self.cells[0].input_dim

    @property
    def built(self):
        return all(c.built for c in self.cells)

    def build(self, input_dim=None, input_shape=None):
        self.cells[0].build(input_dim, input_shape)
        self._build_upper(self.cells[0].output_size)

    def _build_upper(self, features):
        for cell in self.cells[1:]:
            cell.build(features)
            features = cell.output_size

    @property
    def weights(self):
        return [w for c in self.cells for w in c.weights]

    # ---------------------------------------------------------------- states
    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return self.cells[-1].output_size

    @property
    def dropout(self):
        return max(max(c.dropout, c.recurrent_dropout) for c in self.cells)

    recurrent_dropout = 0.0

    @tf.autograph.experimental.do_not_convert  # Python control flow only: see loops/registry.py
    def get_initial_state(self, batch_size):
        return [c.get_initial_state(batch_size) for c in self.cells]

    @tf.autograph.experimental.do_not_convert  # Python control flow only: see loops/registry.py
    def draw_dropout_masks(self, batch_size):
        return [c.draw_dropout_masks(batch_size) for c in self.cells]

    def reset_dropout_mask(self):
        for c in self.cells:
            c.reset_dropout_mask()

    @tf.autograph.experimental.do_not_convert  # Python control flow only: see loops/registry.py
    def step_weights(self):
        """Every cell's :meth:`~lowlevel.cells.RecurrentCell.step_weights`, one entry per
        cell: the ``weights`` of :meth:`step`."""
        return [c.step_weights() for c in self.cells]

    @tf.autograph.experimental.do_not_convert  # Python control flow only: see loops/registry.py
    def cast_weights(self, dtype):
        """Every cell's :meth:`~lowlevel.cells.RecurrentCell.cast_weights`, one per cell."""
        return [c.cast_weights(dtype) for c in self.cells]

    # ------------------------------------------------------------------ step
    @tf.autograph.experimental.do_not_convert  # Python control flow only: see loops/registry.py
    def step(self, x_t, states, masks=None, weights=None, matmul=tf.matmul):
        """One step of every cell, bottom to top; returns ``(output, new_states)``.

        ``masks`` and ``weights`` (as :meth:`step_weights` returns them), when given,
        hold one entry per cell, passed to that cell's ``step`` with ``matmul``.
        """
        masks = masks or [(None, None)] * len(self.cells)
        weights = weights or [None] * len(self.cells)
        new_states = []
        for cell, cell_states, cell_masks, cell_weights in zip(self.cells, states, masks,
                                                               weights):
            x_t, cell_states = cell.step(x_t, cell_states, cell_masks, weights=cell_weights,
                                         matmul=matmul)
            new_states.append(cell_states)
        return x_t, new_states

    @tf.autograph.experimental.do_not_convert  # Python control flow only, as a cell's call
    def __call__(self, x_t, states, training=False):
        """``output, new_states = stack(x_t, states, training=False)``."""
        if not self.built:
            self.build(tf.convert_to_tensor(x_t).shape[-1])
        if not isinstance(states, (list, tuple)) or len(states) != len(self.cells):
            raise ValueError(
                f"`states` must be a list with one entry per cell ({len(self.cells)}); "
                f"received {type(states).__name__} of length "
                f"{len(states) if isinstance(states, (list, tuple)) else 'n/a'}."
            )
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            x_t, cell_states = cell(x_t, cell_states, training=training)
            new_states.append(cell_states)
        return x_t, new_states

    def get_config(self):
        return {"cells": [{"class": type(c), "config": c.get_config()} for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = keras_config.translate(cls, config)  # also a Keras StackedRNNCells config
        return cls([c["class"].from_config(c["config"]) for c in config["cells"]])


def stack_layers(layers, name=None) -> RNN:
    """Run a stack of sequence layers as one time loop: ``RNN(StackedCells(cells))``.

    ``stack_layers([lowlevel.LSTM(64, return_sequences=True), lowlevel.LSTM(64)])(x)``
    computes what calling the two layers in turn computes (the same cells and
    variables, outputs and gradients equal: ``tests/layers/test_stacking.py``), but steps every
    layer at each time step, the tutorial's ``MyRNN`` order. The serial chain of
    ``L`` layers over ``T`` steps shortens from ``L * T`` dependent steps to ``T + L - 1``:
    layer ``l`` at step ``t`` and layer ``l - 1`` at step ``t + 1`` depend on nothing of
    each other, so the loop's executor runs them side by side on two cores (a
    wavefront). Measured with ``lowlevel bench`` (implementation ``lowlevel_stacked``).

    Every layer but the last must return sequences and none may go backwards, return
    states, be stateful or differ in ``implementation`` or ``compute_dtype``; the result
    returns what the last layer returns. Its loop must run a :class:`StackedCells`
    (``'bptt'`` differentiates one cell by hand, and cannot: a ``ValueError`` when
    called, see :func:`lowlevel.loops.registry.cannot_run`).

    Args:
        layers: a non-empty list of lowlevel sequence layers (``SimpleRNN``, ``LSTM``,
            ``GRU``, ``RNN``), bottom first, meeting the conditions above.
        name: the returned layer's name.

    Returns:
        An :class:`~lowlevel.layers.rnn.RNN` of a :class:`StackedCells` of the layers'
        own cells (the same variables): ``[batch, time, features]`` ->
        ``[batch, units]``, or ``[batch, time, units]`` if the last layer returns
        sequences.
    """
    layers = list(layers)
    if not layers or not all(isinstance(layer, RNN) for layer in layers):
        raise TypeError("`layers` must be a non-empty list of lowlevel sequence layers; "
                        f"received {[type(layer).__name__ for layer in layers]}.")
    reason = cannot_stack(layers)
    if reason is not None:
        raise ValueError(reason)
    return RNN(StackedCells([layer.cell for layer in layers]),
               return_sequences=layers[-1].return_sequences,
               implementation=layers[0].implementation,
               compute_dtype=layers[0]._compute_dtype, name=name)


def cannot_stack(layers):
    """``None`` if :func:`stack_layers` of these sequence layers computes what calling
    them in turn computes, else why not (one line naming the layer)."""
    for i, layer in enumerate(layers):
        if i < len(layers) - 1 and not layer.return_sequences:
            return (f"`layers[{i}]` must return sequences to feed layers[{i + 1}]; "
                    "build it with return_sequences=True.")
        if (layer.go_backwards or layer.return_state or layer.zero_output_for_mask
                or layer.stateful):
            return (f"`layers[{i}]` must have go_backwards, return_state, "
                    "zero_output_for_mask and stateful False to be stacked per "
                    "step (a stateful stack: RNN([cell, ...], stateful=True)).")
        for attribute in ("implementation", "compute_dtype", "dtype"):
            if getattr(layer, attribute) != getattr(layers[0], attribute):
                return (f"`layers[{i}].{attribute}` {getattr(layer, attribute)!r} "
                        f"differs from layers[0]'s {getattr(layers[0], attribute)!r}.")
    return None


def runs_as_one_loop(layers) -> bool:
    """Whether these distinct consecutive sequence layers, stepped as one loop by
    :func:`stack_layers`, compute what they compute in turn, on a loop that can run them
    so (not ``'bptt'``, which differentiates one cell by hand)."""
    if not all(isinstance(layer, RNN) for layer in layers):
        return False
    if len({id(layer) for layer in layers}) < len(layers):  # one layer twice: its own weights
        return False
    if cannot_stack(layers) is not None:
        return False
    stack = StackedCells([layer.cell for layer in layers])
    return registry.cannot_run(layers[0].implementation, stack) is None
