"""Classic API mistakes get one clear error naming the argument: a sequence of zero
time steps, a list of things that are not cells, and word ids given to a recurrent
layer whose Embedding was forgotten (before: a StridedSlice error, an AttributeError,
and a silent cast of the ids to floats)."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.models import SentimentClassifier


def test_unroll_of_zero_time_steps_names_inputs():
    with pytest.raises(ValueError, match=r"`inputs` must have at least one time step; "
                                         r"received time = 0"):
        lowlevel.unroll(lambda x, s: (x, s), tf.zeros([2, 0, 3]), [tf.zeros([2, 3])])


def test_unroll_of_zero_time_steps_inside_tf_function_fails_when_run():
    step = lambda x, s: (x, [x])
    run = tf.function(lambda x: lowlevel.unroll(step, x, [tf.zeros([2, 3])])[0],
                      input_signature=[tf.TensorSpec([2, None, 3])])
    assert run(tf.ones([2, 4, 3])).shape == [2, 3]
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least one time step"):
        run(tf.zeros([2, 0, 3]))


def test_the_cell_style_classifier_on_zero_time_steps_names_ids():
    model = SentimentClassifier(cell="simple", style="cell", num_words=20, embedding_dim=3,
                                units=2, num_layers=1, dropout=0.0, head_units=2,
                                head_dropout=0.0, seed=0)
    with pytest.raises(ValueError, match="`ids` must have at least one time step"):
        model(tf.zeros([2, 0], tf.int32))


@pytest.mark.parametrize("cells, bad", [([1, 2], r"`cells\[0\]`.*received int: 1"),
                                        (["lstm"], r"`cells\[0\]`.*received str"),
                                        (5, "`cells` must be a list")])
def test_stacked_cells_of_non_cells_name_the_entry(cells, bad):
    with pytest.raises(TypeError, match=bad):
        lowlevel.StackedCells(cells)


def test_stacked_cells_of_cells_still_build():
    stack = lowlevel.StackedCells([lowlevel.GRUCell(3, input_dim=2), lowlevel.GRUCell(4)])
    assert stack.built


@pytest.mark.parametrize("ids", [
    tf.constant([[1, 5, 7]])[:, :, None],         # an int32 tensor
    np.array([[[1], [5], [7]]]),                   # a NumPy int array: was cast silently
    [[[1], [5], [7]]],                             # a list of ints: was cast silently
    tf.constant([[[True], [False]]]),              # booleans
], ids=["int tensor", "numpy ints", "list of ints", "bool tensor"])
def test_integer_inputs_to_a_sequence_layer_suggest_the_embedding(ids):
    with pytest.raises(TypeError, match=r"`inputs` must be floating point.*Embedding"):
        lowlevel.LSTM(3)(ids)


def test_float_numpy_inputs_are_still_converted():
    assert lowlevel.LSTM(3)(np.ones([1, 2, 1])).shape == [1, 3]
