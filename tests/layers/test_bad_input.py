"""Errors that teach: every bad input raises with a message that names the argument,
what was expected and what was received."""

import re

import numpy as np
import pytest
import tensorflow as tf

import lowlevel

BATCH, TIME, INPUT_DIM, UNITS = 2, 5, 4, 3


def x_step(features=INPUT_DIM, dtype=np.float32):
    return np.ones((BATCH, features), dtype)


def x_seq(features=INPUT_DIM, time=TIME, dtype=np.float32):
    return np.ones((BATCH, time, features), dtype)


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


def expect(text):
    """A ``match`` pattern for literal ``text`` (message fragments contain ``[`` and ``(``)."""
    return re.escape(text)


# ------------------------------------------------------------------ inputs

@pytest.mark.parametrize("cell_class", [lowlevel.SimpleRNNCell, lowlevel.GRUCell])
def test_cell_rejects_inputs_of_rank_three(cell_class):
    cell = cell_class(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=expect(
            "`inputs` must have shape [?, 4]; received shape [2, 5, 4]")):
        cell(x_seq(), [zeros(BATCH, UNITS)])


def test_unbuilt_cell_rejects_inputs_of_rank_one():
    cell = lowlevel.SimpleRNNCell(UNITS)
    with pytest.raises(ValueError, match=expect(
            "`inputs` must have shape [?, ?]; received shape [4]")):
        cell(np.ones(INPUT_DIM, np.float32), [zeros(BATCH, UNITS)])


@pytest.mark.parametrize("layer_class", [lowlevel.SimpleRNN, lowlevel.LSTM, lowlevel.GRU])
def test_layer_rejects_inputs_of_rank_two(layer_class):
    with pytest.raises(ValueError, match=expect(
            "`inputs` must have shape [?, ?, ?]; received shape [2, 4]")):
        layer_class(UNITS)(x_step())


def test_layer_rejects_inputs_without_time_steps():
    with pytest.raises(ValueError, match=expect(
            "`inputs` must have at least one time step; received time = 0")):
        lowlevel.LSTM(UNITS)(x_seq(time=0))


def test_cell_rejects_inputs_with_another_input_dim():
    cell = lowlevel.LSTMCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=expect(
            "`inputs` must have shape [?, 4]; received shape [2, 5]")):
        cell(x_step(features=5), [zeros(BATCH, UNITS)] * 2)


def test_layer_rejects_inputs_with_another_input_dim():
    layer = lowlevel.GRU(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=expect(
            "`inputs` must have shape [?, ?, 4]; received shape [2, 5, 6]")):
        layer(x_seq(features=6))


def test_build_of_a_built_cell_rejects_another_input_dim():
    cell = lowlevel.SimpleRNNCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=r"`input_dim` mismatch: .* built for 4 input "
                                         r"features; received 7"):
        cell.build(7)


def test_float32_layer_rejects_a_float64_tensor_with_a_type_error():
    with pytest.raises(TypeError, match=expect(
            "`inputs` must have dtype float32; received a tensor of dtype float64")):
        lowlevel.LSTM(UNITS)(tf.constant(x_seq(dtype=np.float64)))


def test_float32_cell_rejects_a_float64_state_tensor_with_a_type_error():
    cell = lowlevel.SimpleRNNCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(TypeError, match=expect(
            "`states[0]` must have dtype float32; received a tensor of dtype float64")):
        cell(x_step(), [tf.zeros([BATCH, UNITS], tf.float64)])


def test_cell_rejects_inputs_that_are_not_numbers():
    cell = lowlevel.SimpleRNNCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(TypeError, match=expect("`inputs` must be convertible to a float32 "
                                               "tensor; received list")):
        cell([["a", "b", "c", "d"]], [zeros(1, UNITS)])


# ------------------------------------------------------------------ states

def test_lstm_cell_rejects_one_state_where_h_and_c_are_expected():
    cell = lowlevel.LSTMCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=expect(
            "`states` must be a list of 2 tensor(s) [h, c]; received 1")):
        cell(x_step(), [zeros(BATCH, UNITS)])


def test_gru_cell_rejects_two_states_where_h_is_expected():
    cell = lowlevel.GRUCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=expect(
            "`states` must be a list of 1 tensor(s) [h]; received 2")):
        cell(x_step(), [zeros(BATCH, UNITS)] * 2)


@pytest.mark.parametrize("shape", [(BATCH, UNITS + 2), (BATCH + 1, UNITS), (UNITS,)])
def test_cell_rejects_a_state_of_the_wrong_shape(shape):
    cell = lowlevel.SimpleRNNCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=expect(
            f"`states[0]` must have shape [2, 3]; received shape {list(shape)}")):
        cell(x_step(), [zeros(*shape)])


def test_layer_rejects_an_initial_state_list_of_the_wrong_length():
    with pytest.raises(ValueError, match=expect(
            "`initial_state` must hold 2 tensor(s) of shape [batch, units]; received 1")):
        lowlevel.LSTM(UNITS)(x_seq(), initial_state=[zeros(BATCH, UNITS)])


def test_layer_rejects_an_initial_state_of_the_wrong_shape():
    with pytest.raises(ValueError, match=expect(
            "`initial_state[1]` must have shape [2, 3]; received shape [2, 4]")):
        lowlevel.LSTM(UNITS)(x_seq(), initial_state=[zeros(BATCH, UNITS), zeros(BATCH, 4)])


# ----------------------------------------------------------------- weights

def test_set_weights_rejects_the_wrong_number_of_arrays():
    cell = lowlevel.LSTMCell(UNITS, input_dim=INPUT_DIM)
    with pytest.raises(ValueError, match=r"`weights` for .* must be a list of 3 arrays "
                                         r".*; received 2"):
        cell.set_weights(cell.get_weights()[:2])


def test_set_weights_rejects_an_array_of_the_wrong_shape_naming_the_variable():
    cell = lowlevel.LSTMCell(UNITS, input_dim=INPUT_DIM)
    weights = cell.get_weights()
    weights[1] = np.zeros((UNITS, UNITS))
    with pytest.raises(ValueError, match=r"`weights\[1\]` \(.*recurrent_kernel\) of .* must "
                                         r"have shape \(3, 12\); received \(3, 3\)"):
        cell.set_weights(weights)


def test_layer_set_weights_rejects_a_gru_bias_of_the_reset_before_shape():
    layer = lowlevel.GRU(UNITS, input_dim=INPUT_DIM)  # reset_after: bias [2, 3u]
    weights = layer.get_weights()
    weights[2] = np.zeros(3 * UNITS)
    with pytest.raises(ValueError, match=r"`weights\[2\]` \(.*bias\) of .* must have shape "
                                         r"\(2, 9\); received \(9,\)"):
        layer.set_weights(weights)


def test_set_weights_with_a_wrong_shape_leaves_every_weight_unchanged():
    cell = lowlevel.SimpleRNNCell(UNITS, input_dim=INPUT_DIM)
    before = cell.get_weights()
    bad = [np.ones_like(before[0]), np.ones_like(before[1]), np.ones(UNITS + 1)]
    with pytest.raises(ValueError):
        cell.set_weights(bad)
    for got, want in zip(cell.get_weights(), before):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------- constructor arguments

@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_unknown_activation_is_rejected_naming_the_argument_and_the_value(argument):
    with pytest.raises(ValueError, match=r"Unknown `" + argument + r"`: expected a callable, "
                                         r"None or one of \[.*'tanh'.*\]; received 'tanhh'"):
        lowlevel.LSTMCell(UNITS, **{argument: "tanhh"})


def test_unknown_initializer_is_rejected_naming_the_argument():
    with pytest.raises(ValueError, match=r"Unknown `kernel_initializer`: 'glorot_unifrom'"):
        lowlevel.SimpleRNNCell(UNITS, kernel_initializer="glorot_unifrom", input_dim=INPUT_DIM)


@pytest.mark.parametrize("units", [0, -1, 2.5, True, "3", None])
@pytest.mark.parametrize("cls", [lowlevel.SimpleRNNCell, lowlevel.LSTMCell, lowlevel.GRUCell,
                                 lowlevel.LSTM])
def test_units_must_be_a_positive_integer(cls, units):
    with pytest.raises(ValueError, match=expect(
            f"`units` must be a positive integer; received {units!r}")):
        cls(units)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, True, "0.5"])
@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
def test_dropout_rates_must_lie_in_zero_one(argument, rate):
    with pytest.raises(ValueError, match=expect(
            f"`{argument}` must be a float in [0, 1); received {rate!r}")):
        lowlevel.GRUCell(UNITS, **{argument: rate})


@pytest.mark.parametrize("dtype", ["int32", tf.int64, "nonsense", np.complex64])
def test_dtype_must_be_a_float_dtype(dtype):
    with pytest.raises(TypeError, match=r"`dtype` must be one of \['float16', 'bfloat16', "
                                        r"'float32', 'float64'\]; received " +
                                        re.escape(repr(dtype))):
        lowlevel.SimpleRNNCell(UNITS, dtype=dtype)


def test_rnn_rejects_something_that_is_not_a_cell():
    with pytest.raises(TypeError, match=r"`cell` must be a lowlevel cell .*; received str"):
        lowlevel.RNN("lstm")


# -------------------------------------------------------------------- masks

def test_mask_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=expect(
            "`mask` must have shape [2, 5]; received shape [2, 4]")):
        lowlevel.LSTM(UNITS)(x_seq(), mask=np.ones((BATCH, TIME - 1), bool))


def test_mask_that_is_not_boolean_is_rejected_with_a_type_error():
    with pytest.raises(TypeError, match=expect(
            "`mask` must be a bool tensor; received dtype int64")):
        lowlevel.LSTM(UNITS)(x_seq(), mask=np.ones((BATCH, TIME), np.int64))


# ------------------------------------------------------------------ training

SYMBOLIC_TRAINING = "`training` must be a Python bool; received a tensor whose value is known"


@pytest.mark.parametrize("call", [
    lambda x, t: lowlevel.LSTM(UNITS)(x, training=t),
    lambda x, t: lowlevel.GRUCell(UNITS, dropout=0.5)(x[:, 0], [tf.zeros([BATCH, UNITS])],
                                                      training=t),
], ids=["layer", "cell with dropout"])
def test_training_known_only_when_the_function_runs_is_rejected_naming_it(call):
    """It would decide Python control flow (which steps draw dropout masks)."""
    with pytest.raises(TypeError, match=expect(SYMBOLIC_TRAINING)):
        tf.function(call)(tf.constant(x_seq()), tf.constant(True))


def test_training_as_a_tensor_known_when_tracing_is_read():
    layer = lowlevel.GRU(UNITS, dropout=0.5, seed=1)
    x = tf.constant(x_seq())
    np.testing.assert_array_equal(layer(x, training=tf.constant(False)), layer(x))
    assert not np.array_equal(layer(x, training=tf.constant(True)), layer(x))


# ----------------------------------------------------------- Bidirectional

@pytest.mark.parametrize("merge_mode", ["avg", "CONCAT", ""])
def test_bidirectional_rejects_an_unknown_merge_mode(merge_mode):
    with pytest.raises(ValueError, match=r"`merge_mode` must be one of \('concat', 'sum', "
                                         r"'mul', 'ave', None\); received " +
                                         re.escape(repr(merge_mode))):
        lowlevel.Bidirectional(lowlevel.LSTM(UNITS), merge_mode=merge_mode)


# ---------------------------------------------------------------- Embedding

@pytest.mark.parametrize("bad_id, position", [(7, (0, 1)), (5, (1, 0)), (-1, (1, 2))])
def test_embedding_rejects_an_out_of_range_id_eagerly_naming_it(bad_id, position):
    embedding = lowlevel.Embedding(5, 2)
    ids = np.array([[0, 1, 2], [3, 4, 0]])
    ids[position] = bad_id
    with pytest.raises(ValueError, match=expect(
            f"`ids` must lie in [0, input_dim=5); received id {bad_id} at position "
            f"{position}")):
        embedding(ids)


def test_embedding_rejects_an_out_of_range_id_inside_tf_function_naming_it():
    embedding = lowlevel.Embedding(5, 2)
    lookup = tf.function(embedding.__call__)
    lookup(tf.constant([[0, 4]]))  # in range: traced once, runs
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"`ids` must lie in \[0, input_dim=5\).*\[17\]"):
        lookup(tf.constant([[0, 17]]))


@pytest.mark.parametrize("ids", [np.array([[0.0, 1.0]]), tf.constant([[1.5]]),
                                 np.array([[True, False]])])
def test_embedding_rejects_non_integer_ids_with_a_type_error(ids):
    dtype = tf.convert_to_tensor(ids).dtype.name
    with pytest.raises(TypeError, match=expect(
            f"`ids` must be an integer tensor; received dtype {dtype}")):
        lowlevel.Embedding(5, 2)(ids)


@pytest.mark.parametrize("argument", ["input_dim", "output_dim"])
def test_embedding_sizes_must_be_positive_integers(argument):
    kwargs = {"input_dim": 5, "output_dim": 2, argument: 0}
    with pytest.raises(ValueError, match=expect(
            f"`{argument}` must be a positive integer; received 0")):
        lowlevel.Embedding(**kwargs)
