"""``lowlevel.from_keras`` / ``lowlevel.to_keras``: after conversion in either direction,
the twin computes the same outputs and the same gradients (inputs and every weight)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

BATCH, TIME, FEATURES = 3, 5, 4


def keras_objects(dtype):
    """Keras objects, each with the input it takes (``[batch, time, features]``, a cell's
    ``[batch, features]`` plus states, or ids)."""
    k = keras.layers
    return {
        "SimpleRNNCell": k.SimpleRNNCell(3, activation="relu", dtype=dtype),
        "LSTMCell": k.LSTMCell(3, unit_forget_bias=False, dtype=dtype),
        "GRUCell": k.GRUCell(3, reset_after=False, dtype=dtype),
        "SimpleRNN": k.SimpleRNN(3, return_sequences=True, dtype=dtype),
        "LSTM": k.LSTM(3, return_state=True, go_backwards=True, dtype=dtype),
        "GRU": k.GRU(3, return_sequences=True, return_state=True, dtype=dtype),
        "GRU_v1": k.GRU(3, reset_after=False, use_bias=False, dtype=dtype),
        "RNN(StackedRNNCells)": k.RNN(k.StackedRNNCells([k.LSTMCell(2, dtype=dtype),
                                                         k.GRUCell(3, dtype=dtype)], dtype=dtype),
                                      return_sequences=True, dtype=dtype),
        "Bidirectional(LSTM)": k.Bidirectional(k.LSTM(3, return_sequences=True, dtype=dtype),
                                               dtype=dtype),
        "Bidirectional(GRU, ave)": k.Bidirectional(k.GRU(3, dtype=dtype), merge_mode="ave",
                                                   dtype=dtype),
        "Embedding": k.Embedding(11, 3, mask_zero=True, dtype=dtype),
    }


def inputs_for(name, dtype, seed=3):
    rng = np.random.default_rng(seed)
    if name == "Embedding":
        return tf.constant(rng.integers(0, 11, [BATCH, TIME]))
    if name.endswith("Cell"):
        return tf.constant(rng.normal(size=[BATCH, FEATURES]), dtype)
    return tf.constant(rng.normal(size=[BATCH, TIME, FEATURES]), dtype)


def build_with_random_weights(obj, name, dtype):
    if name == "Embedding":
        obj.build((None, None))
    elif name.endswith("Cell"):
        obj.build((None, FEATURES))
    else:
        obj.build((None, None, FEATURES))
    rng = np.random.default_rng(7)
    obj.set_weights([rng.normal(0, 0.5, w.shape).astype(dtype) for w in obj.get_weights()])
    return obj


def states_for(obj, dtype):
    size = obj.state_size
    sizes = size if isinstance(size, (list, tuple)) else [size]
    rng = np.random.default_rng(5)
    return [tf.constant(rng.normal(size=[BATCH, s]), dtype) for s in sizes]


def outputs_and_gradients(obj, name, x, dtype):
    """Every returned tensor, flat, and ``d L / d (x, weights)`` for a fixed weighted sum L."""
    states = states_for(obj, dtype) if name.endswith("Cell") else None
    weights = list(obj.trainable_weights if isinstance(obj, keras.layers.Layer)
                   else obj.trainable_variables)
    sources = [] if name == "Embedding" else [x] + (states or [])
    with tf.GradientTape() as tape:
        tape.watch(sources)
        out = obj(x, states) if states is not None else obj(x)
        flat = tf.nest.flatten(out)
        loss = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float64) * tf.cos(1.0 + 0.37 * tf.reshape(
            tf.range(tf.size(t), dtype=tf.float64), tf.shape(t)))) for t in flat])
    grads = tape.gradient(loss, sources + weights)
    return flat, [tf.convert_to_tensor(g) for g in grads]


def assert_same_function(ours, theirs, name, dtype):
    x = inputs_for(name, dtype)
    our_out, our_grads = outputs_and_gradients(ours, name, x, dtype)
    their_out, their_grads = outputs_and_gradients(theirs, name, x, dtype)
    assert len(our_out) == len(their_out) and len(our_grads) == len(their_grads)
    for i, (a, b) in enumerate(zip(our_out, their_out)):
        assert_close(a, b, dtype, f"{name} output {i}")
    for i, (a, b) in enumerate(zip(our_grads, their_grads)):
        assert_close(a, b, dtype, f"{name} gradient {i}")


NAMES = list(keras_objects("float32"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_from_keras_twin_has_equal_outputs_and_gradients(name, dtype):
    theirs = build_with_random_weights(keras_objects(dtype)[name], name, dtype)
    ours = lowlevel.from_keras(theirs)
    assert type(ours).__name__ == {"RNN(StackedRNNCells)": "RNN", "GRU_v1": "GRU"}.get(
        name, name.split("(")[0])
    assert_same_function(ours, theirs, name, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_to_keras_twin_has_equal_outputs_and_gradients(name, dtype):
    """lowlevel -> Keras: built from a lowlevel object holding its own (random) weights."""
    ours = lowlevel.from_keras(build_with_random_weights(keras_objects(dtype)[name], name, dtype))
    rng = np.random.default_rng(13)  # new weights, so nothing of the first Keras object remains
    ours.set_weights([rng.normal(0, 0.5, w.shape).astype(dtype) for w in ours.get_weights()])
    theirs = lowlevel.to_keras(ours)
    assert isinstance(theirs, keras.layers.Layer)
    for a, b in zip(theirs.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert_same_function(ours, theirs, name, dtype)


def test_unbuilt_objects_convert_to_unbuilt_objects_of_the_same_configuration():
    ours = lowlevel.from_keras(keras.layers.GRU(4, reset_after=False, go_backwards=True))
    assert not ours.cell.built and ours.units == 4 and ours.go_backwards
    assert ours.cell.reset_after is False
    theirs = lowlevel.to_keras(lowlevel.LSTM(5, return_sequences=True))
    assert not theirs.built and theirs.units == 5 and theirs.return_sequences


@pytest.mark.parametrize("style", ["cell", "layer"])
@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_tutorial_model_converts_both_ways_with_equal_logits_and_gradients(cell, style):
    from lowlevel_reference import build_model
    from lowlevel.models import SentimentClassifier

    maxlen = 6
    theirs = build_model(cell, style, units=4, num_words=30, embedding_dim=3, maxlen=maxlen,
                         dropout=0.25)
    rng = np.random.default_rng(2)
    theirs.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                        for w in theirs.get_weights()])
    ids = tf.constant(rng.integers(0, 30, [5, maxlen]), tf.int32)

    ours = lowlevel.from_keras(theirs)
    assert isinstance(ours, SentimentClassifier) and ours.style == style
    back = lowlevel.to_keras(ours, maxlen=maxlen)
    assert type(back) is type(theirs)

    def logits_and_gradients(model, keras_side):
        variables = model.trainable_weights if keras_side else model.trainable_variables
        with tf.GradientTape() as tape:
            logits = (model(ids, return_logits=True) if keras_side else model(ids))
            loss = tf.reduce_sum(logits * tf.constant([[1.0], [-2.0], [0.5], [3.0], [-1.0]]))
        return logits, [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]

    expected, expected_grads = logits_and_gradients(theirs, True)
    for model, keras_side in ((ours, False), (back, True)):
        logits, grads = logits_and_gradients(model, keras_side)
        assert_close(logits, expected, "float32", "logits")
        assert len(grads) == len(expected_grads)
        for a, b in zip(grads, expected_grads):
            assert_close(a, b, "float32", "weight gradient")


def test_from_keras_names_what_it_cannot_convert():
    with pytest.raises(TypeError, match="`obj` must be a Keras recurrent cell or layer"):
        lowlevel.from_keras(np.zeros(3))
    with pytest.raises(ValueError, match="'Dense' has no lowlevel equivalent"):
        lowlevel.from_keras(keras.layers.Dense(3))
    with pytest.raises(TypeError, match="`obj` must be a lowlevel cell"):
        lowlevel.to_keras(keras.layers.Dense(3))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stacked_cells_convert_both_ways_with_equal_steps(dtype):
    """``StackedRNNCells`` <-> :class:`lowlevel.StackedCells`, stepped once with states
    nested per cell."""
    k = keras.layers
    theirs = k.StackedRNNCells([k.LSTMCell(2, dtype=dtype), k.GRUCell(3, dtype=dtype)],
                               dtype=dtype)
    theirs.build((None, FEATURES))
    rng = np.random.default_rng(4)
    theirs.set_weights([rng.normal(0, 0.5, w.shape).astype(dtype) for w in theirs.get_weights()])
    x = tf.constant(rng.normal(size=[BATCH, FEATURES]), dtype)
    states = [[tf.constant(rng.normal(size=[BATCH, 2]), dtype)] * 2,
              [tf.constant(rng.normal(size=[BATCH, 3]), dtype)]]
    ours = lowlevel.from_keras(theirs)
    back = lowlevel.to_keras(ours)
    assert isinstance(ours, lowlevel.StackedCells) and isinstance(back, k.StackedRNNCells)
    expected = tf.nest.flatten(theirs(x, states))
    for model in (ours, back):
        actual = tf.nest.flatten(model(x, states))
        assert len(actual) == len(expected)
        for a, b in zip(actual, expected):
            assert_close(a, b, dtype, "stacked cells step")
