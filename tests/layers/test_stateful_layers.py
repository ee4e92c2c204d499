"""Stateful layers (``stateful=True``) against Keras 3's, over consecutive calls.

The promise (``lowlevel/layers/stateful.py``): call ``k + 1`` starts from call ``k``'s
final states ``s_0^{(k+1)} = s_T^{(k)}`` (with a mask, the state after the last unmasked
step), gradients stop at the call's start, ``reset_state()`` zeroes the states, the batch
size is fixed. Checked value by value, gradients included, against Keras's stateful
layers after copying the weights, in every time loop.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.loops.registry import LOOPS
from lowlevel.tolerances import assert_close

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 3
CALLS = 3
DTYPE = "float64"


def _pair(kind, implementation, **options):
    """Keras's stateful layer and ours with its weights (random, non-zero biases)."""
    theirs = getattr(keras.layers, kind)(UNITS, stateful=True, dtype=DTYPE, **options)
    theirs.build((BATCH, None, FEATURES))
    rng = np.random.default_rng(5)
    theirs.set_weights([rng.normal(0, 0.5, w.shape) for w in theirs.get_weights()])
    ours = getattr(lowlevel, kind)(UNITS, stateful=True, dtype=DTYPE, input_dim=FEATURES,
                                   implementation=implementation, **options)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _inputs(call, masked):
    """Call ``call``'s inputs and mask (a different random mask per call; one row of the
    second call wholly masked: its states must pass through unchanged)."""
    rng = np.random.default_rng(100 + call)
    x = tf.constant(rng.normal(0, 1, [BATCH, TIME, FEATURES]), DTYPE)
    if not masked:
        return x, None
    mask = rng.random([BATCH, TIME]) < 0.6
    mask[:, 0] = True
    if call == 1:
        mask[-1] = False
    return x, tf.constant(mask)


def _call_and_gradients(layer, variables, x, mask):
    """Every returned tensor and ``∂L/∂(x, weights)`` for ``L = Σ w ⊙ y`` (fixed ``w``)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        returned = layer(x, mask=mask)
        flat = tf.nest.flatten(returned)
        loss = tf.add_n([_weighted_sum(y) for y in tf.nest.flatten(returned)])
    return returned, tape.gradient(loss, [x, *variables])


def _weighted_sum(y):
    """``Σ_k cos(1 + 0.37 k) y_k``: every element reaches the gradient with its own weight."""
    k = tf.reshape(tf.range(tf.size(y), dtype=y.dtype), tf.shape(y))
    return tf.reduce_sum(y * tf.cos(1.0 + 0.37 * k))


def _assert_same_calls(ours, theirs, masked, calls=CALLS, what=""):
    for call in range(calls):
        x, mask = _inputs(call, masked)
        expected, expected_grads = _call_and_gradients(theirs, theirs.trainable_weights, x, mask)
        actual, actual_grads = _call_and_gradients(ours, ours.trainable_variables, x, mask)
        assert tf.nest.map_structure(lambda _: 0, actual) == \
            tf.nest.map_structure(lambda _: 0, expected), f"{what} call {call}: structure"
        for a, b in zip(tf.nest.flatten(actual), tf.nest.flatten(expected)):
            assert_close(a, b, tf.float64, f"{what} call {call}: outputs and states")
        for a, b in zip(actual_grads, expected_grads):
            assert_close(a, b, tf.float64, f"{what} call {call}: gradients")
        for a, b in zip(tf.nest.flatten(ours.states), tf.nest.flatten(theirs.states)):
            assert_close(a, b, tf.float64, f"{what} call {call}: state variables")


@pytest.mark.parametrize("implementation", sorted(LOOPS))
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_each_call_starts_from_the_previous_calls_final_states_as_keras(kind, implementation):
    """``s_0^{(k+1)} = s_T^{(k)}`` over three calls, masks included, outputs and gradients
    equal to Keras's stateful layer; after ``reset_state()`` both start from zeros again."""
    ours, theirs = _pair(kind, implementation, return_sequences=True, return_state=True)
    _assert_same_calls(ours, theirs, masked=True, what=f"{kind}/{implementation}")
    ours.reset_state()
    theirs.reset_state()
    for v in tf.nest.flatten(ours.states):
        np.testing.assert_array_equal(v.numpy(), 0.0)
    _assert_same_calls(ours, theirs, masked=False, calls=2, what=f"{kind} after reset")


@pytest.mark.parametrize("implementation", ["fast", "bptt"])
def test_stateful_bidirectional_carries_both_halves_states_as_keras(implementation):
    """Both halves' state variables and outputs equal Keras's call after call. (Without
    ``return_state``: Keras 3.15's stateful Bidirectional with a mask and return_state
    fails in its ``compute_mask``, a generator multiplied by 2; the states are compared
    through the variables.)"""
    ours, theirs = _pair("LSTM", implementation, return_sequences=True)
    theirs = keras.layers.Bidirectional(theirs, dtype=DTYPE)
    theirs.build((BATCH, None, FEATURES))
    ours = lowlevel.Bidirectional(ours)
    rng = np.random.default_rng(6)
    theirs.set_weights([rng.normal(0, 0.5, w.shape) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    _assert_same_calls(ours, theirs, masked=True, what="Bidirectional")
    ours.reset_states()
    theirs.reset_states()
    _assert_same_calls(ours, theirs, masked=False, calls=1, what="Bidirectional after reset")


def test_stateful_stack_of_cells_carries_each_cells_states_as_keras():
    """``RNN([LSTMCell, GRUCell], stateful=True)``: one ``[h, c]`` / ``[h]`` per cell."""
    # Keras's RNN([...]) would make a float32 StackedRNNCells: its dtype given here.
    theirs = keras.layers.RNN(keras.layers.StackedRNNCells(
        [keras.layers.LSTMCell(UNITS, dtype=DTYPE), keras.layers.GRUCell(2, dtype=DTYPE)],
        dtype=DTYPE), stateful=True, return_state=True, dtype=DTYPE)
    theirs.build((BATCH, None, FEATURES))
    rng = np.random.default_rng(8)
    theirs.set_weights([rng.normal(0, 0.5, w.shape) for w in theirs.get_weights()])
    ours = lowlevel.RNN([lowlevel.LSTMCell(UNITS, dtype=DTYPE), lowlevel.GRUCell(2, dtype=DTYPE)],
                        stateful=True, return_state=True)
    ours.build(FEATURES)
    ours.set_weights(theirs.get_weights())
    _assert_same_calls(ours, theirs, masked=True, what="stack")


def test_a_given_initial_state_is_used_and_the_final_states_are_kept_as_keras():
    ours, theirs = _pair("GRU", "fast")
    h0 = tf.constant(np.full([BATCH, UNITS], 0.5), DTYPE)
    x, _ = _inputs(0, masked=False)
    assert_close(ours(x, initial_state=[h0]), theirs(x, initial_state=[h0]), tf.float64, "given")
    assert_close(ours.states[0], theirs.states[0], tf.float64, "kept")
    assert_close(ours(x), theirs(x), tf.float64, "next call from the kept states")


def test_state_variables_are_non_trainable_and_made_outside_a_traced_function():
    """A first call inside ``tf.function`` makes the variables eagerly (``tf.init_scope``);
    later traces reuse them, and the trainable variables are the weights alone."""
    layer = lowlevel.LSTM(UNITS, stateful=True, input_dim=FEATURES)
    weights = len(layer.trainable_variables)
    step = tf.function(lambda x: layer(x))
    x = tf.ones([2, TIME, FEATURES])
    first = step(x).numpy()
    second = step(x).numpy()
    assert len(layer.trainable_variables) == weights
    assert [v.trainable for v in layer.states] == [False, False]
    assert not np.allclose(first, second)  # the second call started from the first's states
    fresh = lowlevel.LSTM(UNITS, input_dim=FEATURES)
    fresh.set_weights(layer.get_weights())
    np.testing.assert_allclose(first, fresh(x).numpy(), rtol=1e-6)


def test_build_with_batch_size_makes_the_state_variables_before_any_call():
    layer = lowlevel.GRU(UNITS, stateful=True)
    layer.build(FEATURES, batch_size=4)
    assert [tuple(v.shape) for v in layer.states] == [(4, UNITS)]


def test_a_stateful_layer_refuses_another_batch_size_naming_both():
    layer = lowlevel.SimpleRNN(UNITS, stateful=True, input_dim=FEATURES)
    layer(tf.ones([2, TIME, FEATURES]))
    with pytest.raises(ValueError, match="`inputs` must have batch size 2, .*received 3"):
        layer(tf.ones([3, TIME, FEATURES]))
    unknown_batch = tf.function(lowlevel.SimpleRNN(UNITS, stateful=True, input_dim=FEATURES))
    with pytest.raises(ValueError, match="static batch size"):
        unknown_batch.get_concrete_function(tf.TensorSpec([None, TIME, FEATURES]))


def test_reset_state_of_a_layer_that_is_not_stateful_says_so():
    with pytest.raises(AttributeError, match="stateful=True"):
        lowlevel.LSTM(UNITS).reset_state()
    with pytest.raises(AttributeError, match="stateful=True"):
        lowlevel.Bidirectional(lowlevel.LSTM(UNITS)).reset_states()


def test_stateful_travels_through_configs_and_keras_configs():
    ours = lowlevel.LSTM(UNITS, stateful=True)
    assert lowlevel.LSTM.from_config(ours.get_config()).stateful
    assert lowlevel.GRU.from_config(keras.layers.GRU(3, stateful=True).get_config()).stateful
    rnn = lowlevel.RNN.from_config(
        keras.layers.RNN(keras.layers.LSTMCell(2), stateful=True).get_config())
    assert rnn.stateful
    bi = lowlevel.Bidirectional(lowlevel.LSTM(UNITS, stateful=True))
    assert bi.stateful and bi.forward_layer.stateful and bi.backward_layer.stateful
    with pytest.raises(ValueError, match="batch size is not known yet"):
        lowlevel.to_keras(lowlevel.GRU(UNITS, stateful=True, input_dim=FEATURES))
    gru = lowlevel.GRU(UNITS, stateful=True)
    gru.build(FEATURES, batch_size=2)
    theirs = lowlevel.to_keras(gru)
    assert theirs.stateful and [tuple(s.shape) for s in theirs.states] == [(2, UNITS)]
    assert lowlevel.to_keras(lowlevel.RNN(lowlevel.GRUCell(UNITS), stateful=True)).stateful
    assert lowlevel.from_keras(keras.layers.Bidirectional(
        keras.layers.LSTM(2, stateful=True))).stateful


def _set_constant_weights(layer):
    """Keras's test weights: kernel 0.01, recurrent kernel 0.02, bias 0.03 (an LSTM's
    forget-gate block 1.0: Keras's ``unit_forget_bias`` adds it over the initializer)."""
    weights = [np.full(w.shape, c, "float32")
               for w, c in zip(layer.get_weights(), (0.01, 0.02, 0.03) * 2)]
    for i in range(2, len(weights), 3):
        units = weights[i - 1].shape[0]
        if weights[i].shape[-1] == 4 * units:  # LSTM: gates i, f, c, o
            weights[i][units:2 * units] = 1.0
    layer.set_weights(weights)


@pytest.mark.parametrize("kind, expected", [
    # keras/src/layers/rnn/{simple_rnn,lstm,gru}_test.py::test_statefulness (Keras 3.15)
    ("SimpleRNN", [[0.40559256] * 4, [0.7361247] * 4]),
    ("LSTM", [[0.3124785] * 4, [0.6863672] * 4]),
    ("GRU", [[0.29542392] * 4, [0.5885018] * 4]),
])
@pytest.mark.parametrize("implementation", sorted(LOOPS))
def test_keras_published_statefulness_numbers_hold(kind, expected, implementation):
    """Keras's own numbers: constant weights 0.01 / 0.02 / 0.03, ``arange`` inputs, the
    second call's output; the same after ``reset_state()`` and two more calls."""
    sequence = np.arange(24).reshape((2, 3, 4)).astype("float32")
    layer = getattr(lowlevel, kind)(4, stateful=True, input_dim=4, implementation=implementation)
    _set_constant_weights(layer)
    for _ in range(2):
        layer(sequence)
        assert_close(layer(sequence), np.array(expected, "float32"), tf.float32, kind)
        layer.reset_state()


def test_keras_published_bidirectional_statefulness_numbers_hold():
    """``bidirectional_test.py::test_statefulness`` (Keras 3.15)."""
    sequence = np.arange(24).reshape((2, 4, 3)).astype("float32")
    layer = lowlevel.Bidirectional(lowlevel.LSTM(2, stateful=True, input_dim=3))
    _set_constant_weights(layer)
    expected = np.array([[0.26234663, 0.26234663, 0.16959146, 0.16959146],
                         [0.6137073, 0.6137073, 0.5381646, 0.5381646]], "float32")
    for _ in range(2):
        layer(sequence)
        assert_close(layer(sequence), expected, tf.float32, "Bidirectional")
        layer.reset_state()


def test_mixed_precision_states_are_kept_in_the_variables_dtype_and_track_float32():
    """``compute_dtype='bfloat16'``: the state variables stay float32 (Keras keeps them in
    the variable dtype), and two calls follow the float32 stateful layer within bfloat16's
    tolerance."""
    exact = lowlevel.LSTM(UNITS, stateful=True, input_dim=FEATURES)
    rng = np.random.default_rng(0)  # seeded: the bfloat16 margin rides on no unseeded draw
    exact.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                       for w in exact.get_weights()])
    mixed = lowlevel.LSTM(UNITS, stateful=True, input_dim=FEATURES, compute_dtype="bfloat16")
    mixed.set_weights(exact.get_weights())
    for call in range(2):
        x = tf.cast(_inputs(call, masked=False)[0], tf.float32)
        assert_close(tf.cast(mixed(x), tf.float32), exact(x), tf.bfloat16, f"call {call}")
    assert [v.dtype for v in mixed.states] == [tf.float32, tf.float32]
