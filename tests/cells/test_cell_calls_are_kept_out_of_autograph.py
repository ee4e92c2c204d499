"""A cell called inside a user's ``tf.function`` is traced as written, not converted by
AutoGraph, as the layers are (``tests/layers/test_autograph_is_kept_out.py``): the
tutorial's cell style calls each cell at every step, and converting the call (and all it
calls) at every step lengthened the first training step (docs/speed.md, "The default
path's first call")."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

CELLS = [lowlevel.SimpleRNNCell, lowlevel.LSTMCell, lowlevel.GRUCell, lowlevel.StackedCells]


@pytest.mark.parametrize("cell_class", CELLS, ids=lambda c: c.__name__)
def test_cell_calls_are_marked_not_to_be_converted(cell_class, kept_out_of_autograph):
    assert kept_out_of_autograph(cell_class.__call__)


@pytest.mark.parametrize("cell_class", CELLS[:3], ids=lambda c: c.__name__)
def test_a_cell_stepped_in_a_converted_tf_range_loop_traces_to_its_eager_result(cell_class):
    """The user's loop is AutoGraph's (``tf.range``, a ``tf.while_loop``), the cell's call
    inside it is not; outputs equal the eager steps (float64)."""
    cell = cell_class(3, input_dim=2, dtype=tf.float64)
    x = tf.constant(np.random.default_rng(7).normal(size=(4, 5, 2)))

    def run(x):
        states = cell.get_initial_state(4)
        output = tf.zeros([4, 3], tf.float64)
        for t in tf.range(x.shape[1]):
            output, states = cell(x[:, t], states, training=True)
        return output

    assert_close(tf.function(run)(x), run(x), tf.float64, f"{cell_class.__name__} in tf.range")


@pytest.mark.parametrize("cell_class", CELLS[:3], ids=lambda c: c.__name__)
def test_training_given_as_a_tensor_is_read_only_by_a_cell_with_dropout(cell_class):
    """Without dropout ``training`` changes nothing, so a symbolic one is accepted (while
    AutoGraph converted the call, its ``if`` became a ``tf.cond`` whose branches did not
    match, and the call failed)."""
    cell = cell_class(3, input_dim=2, dtype=tf.float64)
    x_t = tf.constant(np.random.default_rng(8).normal(size=(4, 2)))
    states = cell.get_initial_state(4)
    step = tf.function(lambda x_t, training: cell(x_t, states, training=training)[0])
    assert_close(step(x_t, tf.constant(True)), cell(x_t, states)[0], tf.float64,
                 f"{cell_class.__name__}, training a tensor")
