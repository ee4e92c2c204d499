"""Keras's call contract: returned structures, ``RNN([cells])`` and ``unroll=``.

What Keras 3 returns is the reference: ``(output, *states)`` as a tuple, a stack's states
one list per cell, ``Bidirectional``'s halves as a tuple. Compared as
:func:`lowlevel.parity.structure` writes them (types, nesting, lengths), and by value
after copying the weights.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.parity import structure
from lowlevel.tolerances import assert_close

X = np.random.default_rng(0).normal(size=[2, 5, 3])


def _same_weights(ours, theirs, input_dim=3):
    theirs.build((None, None, input_dim))
    rng = np.random.default_rng(1)
    theirs.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype)
                        for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())


def _assert_returns_as_keras(ours, theirs, **call):
    expected, actual = theirs(X, **call), ours(X, **call)
    assert structure(actual) == structure(expected)
    for a, b in zip(tf.nest.flatten(actual), tf.nest.flatten(expected)):
        assert_close(a, b, tf.float64, type(ours).__name__)


def test_rnn_of_a_list_of_cells_is_a_stack_returning_one_state_list_per_cell():
    """``keras.layers.RNN([LSTMCell(2), LSTMCell(2)], return_state=True)(x)``: 3 items,
    the output and one ``[h, c]`` per cell (keras ``stacked_rnn_cells_test.py``)."""
    ours = lowlevel.RNN([lowlevel.LSTMCell(2, dtype="float64"),
                         lowlevel.LSTMCell(2, dtype="float64")], return_state=True)
    assert isinstance(ours.cell, lowlevel.StackedCells)
    ours.build(3)
    theirs = keras.layers.RNN(keras.layers.StackedRNNCells(
        [keras.layers.LSTMCell(2, dtype="float64"), keras.layers.LSTMCell(2, dtype="float64")],
        dtype="float64"), return_state=True, dtype="float64")
    _same_weights(ours, theirs)
    returned = ours(X)
    assert structure(returned) == "tuple[T, list[T, T], list[T, T]]"
    _assert_returns_as_keras(ours, theirs)


@pytest.mark.parametrize("kind, expected", [("SimpleRNN", "tuple[T, T]"),
                                            ("LSTM", "tuple[T, T, T]"),
                                            ("GRU", "tuple[T, T]")])
def test_a_single_cells_return_state_is_output_then_its_states_in_a_tuple(kind, expected):
    ours = getattr(lowlevel, kind)(4, return_state=True, return_sequences=True,
                                   dtype="float64", input_dim=3)
    theirs = getattr(keras.layers, kind)(4, return_state=True, return_sequences=True,
                                         dtype="float64")
    _same_weights(ours, theirs)
    assert structure(ours(X)) == expected
    _assert_returns_as_keras(ours, theirs)


@pytest.mark.parametrize("merge_mode", ["concat", None])
@pytest.mark.parametrize("return_state", [False, True])
def test_bidirectional_returns_keras_structure(merge_mode, return_state):
    """``(output, *forward_states, *backward_states)``; ``merge_mode=None``: the two
    halves as a tuple, followed by the states."""
    ours = lowlevel.Bidirectional(lowlevel.LSTM(2, return_state=return_state, dtype="float64",
                                                input_dim=3), merge_mode=merge_mode)
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(2, return_state=return_state,
                                                          dtype="float64"),
                                        merge_mode=merge_mode, dtype="float64")
    _same_weights(ours, theirs)
    _assert_returns_as_keras(ours, theirs)
    _assert_returns_as_keras(ours, theirs, mask=tf.constant(np.arange(5) < [[5], [2]]))


def test_unroll_true_selects_the_unrolled_loop_and_equals_keras_unroll():
    ours = lowlevel.GRU(3, unroll=True, return_sequences=True, dtype="float64", input_dim=3)
    assert ours.implementation == "unrolled" and ours.unroll
    assert lowlevel.RNN(lowlevel.LSTMCell(2), unroll=True,
                        implementation="unrolled").implementation == "unrolled"
    theirs = keras.layers.GRU(3, unroll=True, return_sequences=True, dtype="float64")
    _same_weights(ours, theirs)
    _assert_returns_as_keras(ours, theirs)
    assert lowlevel.GRU.from_config(ours.get_config()).implementation == "unrolled"
    assert not lowlevel.GRU(3).unroll


@pytest.mark.parametrize("implementation", ["auto", "fast", "reference", "bptt"])
def test_unroll_true_with_another_implementation_is_an_error_naming_both(implementation):
    with pytest.raises(ValueError, match=f"`unroll=True` selects implementation='unrolled'; "
                                         f"received implementation='{implementation}'"):
        lowlevel.LSTM(2, unroll=True, implementation=implementation)
