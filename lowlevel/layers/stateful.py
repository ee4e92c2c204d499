"""Stateful sequence layers: states carried from one call to the next, as Keras's.

A layer built with ``stateful=True`` keeps its final states in non-trainable variables
(one per state tensor, in the cell's own nesting) and starts its next call from them
when no ``initial_state`` is given::

    s_0^{(k+1)} = s_T^{(k)}        (call k+1 starts where call k ended)

With a mask, ``s_T`` is the state after the last unmasked step, as every loop computes
it (:func:`lowlevel.loops.time_major.masked_update`). The variables are read as
constants: gradients stop at the call's start, which is truncated backpropagation
through time over consecutive batches. The batch size is fixed by the first call (or
by ``build(input_dim, batch_size=...)``); ``reset_state()`` sets the states to zero.

The variables are made under ``tf.init_scope()``, so a first call inside a
``tf.function`` creates them eagerly, outside the traced graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tensorflow as tf

if TYPE_CHECKING:
    from lowlevel.cells import RecurrentCell
    from lowlevel.layers.stacking import StackedCells


def create_state_variables(cell: RecurrentCell | StackedCells, batch_size: int | None,
                           argument: str = "inputs") -> list:
    """Zero states of ``cell`` for ``batch_size`` rows, as non-trainable variables in the
    cell's nesting (``[h]``, ``[h, c]``, or one list per cell of a stack)."""
    if batch_size is None:
        raise ValueError(f"`{argument}` must have a static batch size for a stateful layer "
                         "(stateful=True): its states are variables of shape [batch, units]; "
                         "received batch = None.")
    with tf.init_scope():  # eager even inside a tf.function: the variables outlive traces
        return tf.nest.map_structure(
            lambda zeros: tf.Variable(zeros, trainable=False, name="rnn_state"),
            cell.get_initial_state(int(batch_size)))


def check_batch_size(states: list, batch_size: int | None, argument: str = "inputs") -> None:
    """A ``ValueError`` naming the fixed and the received batch size, if they differ."""
    expected = tf.nest.flatten(states)[0].shape[0]
    if batch_size is not None and batch_size != expected:
        raise ValueError(f"`{argument}` must have batch size {expected}, the batch size of "
                         f"this stateful layer's states (stateful=True); received "
                         f"{batch_size} (reset_state() keeps the batch size: build a new "
                         "layer for another).")


def read(states: list) -> list:
    """The variables' current values, in their nesting. Nothing trainable produced them
    in this call, so gradients with respect to the weights stop here."""
    return tf.nest.map_structure(lambda v: v.read_value(), states)


def assign(states: list, final_states: list) -> None:
    """``s ← s_T`` for every state variable (cast back to the variables' dtype)."""
    for variable, value in zip(tf.nest.flatten(states), tf.nest.flatten(final_states)):
        variable.assign(tf.cast(value, variable.dtype))


def reset(states: list | None) -> None:
    """``s ← 0`` for every state variable (no-op before the states exist)."""
    for variable in tf.nest.flatten(states or []):
        variable.assign(tf.zeros_like(variable))
