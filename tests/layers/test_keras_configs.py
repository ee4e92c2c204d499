"""Configs: ``get_config()`` / ``from_config()`` round trips for every cell and layer, and
``from_config`` of Keras's own config dicts building an equally-configured layer
(equal outputs to Keras's once the weights are copied). Also ``Embedding(weights=)``."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

FEATURES = 4
X = np.random.default_rng(0).normal(size=[3, 6, FEATURES])


def keras_layers():
    k = keras.layers
    return [
        k.SimpleRNNCell(3, activation="relu", use_bias=False, dropout=0.25, seed=4),
        k.LSTMCell(3, recurrent_activation="hard_sigmoid", unit_forget_bias=False),
        k.GRUCell(3, reset_after=False, recurrent_dropout=0.5),
        k.SimpleRNN(3, return_sequences=True, go_backwards=True, dtype="float64"),
        k.LSTM(3, return_state=True, kernel_initializer="ones", bias_initializer="ones"),
        k.GRU(3, return_sequences=True, zero_output_for_mask=True, unroll=True),
        k.GRU(3, reset_after=False, dtype="mixed_bfloat16"),
        k.RNN(k.StackedRNNCells([k.LSTMCell(2), k.SimpleRNNCell(3)]), return_state=True),
        k.Bidirectional(k.LSTM(3, return_sequences=True), merge_mode="mul"),
        k.Embedding(9, 3, mask_zero=True),
    ]


def ids(layer):
    return type(layer).__name__ + ("_" + layer.dtype_policy.name
                                   if layer.dtype_policy.name != "float32" else "")


def run(layer, x):
    if isinstance(layer, (lowlevel.Embedding, keras.layers.Embedding)):
        return tf.nest.flatten(layer(np.array([[1, 0, 8, 2]])))
    if hasattr(layer, "state_size") and not hasattr(layer, "return_sequences"):
        size = layer.state_size
        sizes = size if isinstance(size, (list, tuple)) else [size]
        states = [tf.ones([3, s], x.dtype) * 0.5 for s in sizes]
        return tf.nest.flatten(layer(x[:, 0], states))
    return tf.nest.flatten(layer(x))


@pytest.mark.parametrize("theirs", keras_layers(), ids=ids)
def test_from_config_of_a_keras_config_computes_what_keras_computes(theirs):
    """Our class's ``from_config(keras_layer.get_config())``, weights copied, equals Keras."""
    dtype = tf.as_dtype(theirs.dtype_policy.variable_dtype)
    compute = tf.as_dtype(theirs.dtype_policy.compute_dtype)
    x = tf.constant(X, dtype)
    if not isinstance(theirs, keras.layers.Embedding):
        theirs.build((None, FEATURES) if "Cell" in type(theirs).__name__
                     else (None, None, FEATURES))
    else:
        theirs.build((None, None))
    rng = np.random.default_rng(1)
    theirs.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in theirs.get_weights()])
    name = {"StackedRNNCells": "StackedCells"}.get(type(theirs).__name__, type(theirs).__name__)
    ours = getattr(lowlevel, name).from_config(theirs.get_config())
    if hasattr(ours, "cell") and not ours.cell.built:
        ours.build(FEATURES)
    ours.set_weights(theirs.get_weights())
    expected = run(theirs, x)
    actual = run(ours, x)
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected):
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        assert_close(a, b, compute if compute != tf.bfloat16 else tf.bfloat16, ids(theirs))


def test_keras_config_options_map_to_lowlevel_arguments():
    gru = lowlevel.GRU.from_config(keras.layers.GRU(3, unroll=True, dtype="mixed_bfloat16",
                                                    reset_after=False).get_config())
    assert gru.implementation == "unrolled"
    assert gru.dtype == tf.float32 and gru.compute_dtype == tf.bfloat16
    assert gru.cell.reset_after is False
    # Keras 2's integer `implementation` (kernel fusion, as gru_test.py's legacy test adds it).
    legacy = lowlevel.GRU.from_config({**keras.layers.GRU(3).get_config(), "implementation": 0})
    assert legacy.implementation == lowlevel.layers.rnn.DEFAULT_IMPLEMENTATION
    bi = lowlevel.Bidirectional.from_config(
        keras.layers.Bidirectional(keras.layers.GRU(2), merge_mode=None).get_config())
    assert bi.merge_mode is None and bi.backward_layer.go_backwards


@pytest.mark.parametrize("keras_layer, message", [
    (lambda: keras.layers.LSTM(3, kernel_regularizer="l2"),
     "`kernel_regularizer` of the Keras config for LSTM must be None/False: lowlevel layers "
     "have no regularizers"),
    (lambda: keras.layers.SimpleRNN(3, trainable=False),
     "`trainable` of the Keras config for SimpleRNN must be True"),
    (lambda: keras.layers.Embedding(4, 2, embeddings_constraint="non_neg"),
     "`embeddings_constraint` of the Keras config for Embedding"),
    (lambda: keras.layers.LSTM(3, dtype="int32"),
     "`dtype` of the Keras config for LSTM must be a float policy"),
])
def test_keras_config_without_a_lowlevel_equivalent_is_refused_by_name(keras_layer, message):
    layer = keras_layer()
    cls = getattr(lowlevel, type(layer).__name__)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("`", "`")):
        cls.from_config(layer.get_config())


def our_objects():
    cells = [lowlevel.SimpleRNNCell(3, activation="relu", input_dim=FEATURES, dtype="float64"),
             lowlevel.LSTMCell(3, unit_forget_bias=False, input_dim=FEATURES),
             lowlevel.GRUCell(3, reset_after=False, dropout=0.5, seed=3, input_dim=FEATURES)]
    return cells + [
        lowlevel.SimpleRNN(3, return_sequences=True, input_dim=FEATURES),
        lowlevel.LSTM(3, return_state=True, go_backwards=True, implementation="reference",
                      input_dim=FEATURES),
        lowlevel.GRU(3, compute_dtype="bfloat16", input_dim=FEATURES),
        lowlevel.RNN(lowlevel.StackedCells([lowlevel.LSTMCell(2), lowlevel.GRUCell(3)])),
        lowlevel.StackedCells([lowlevel.GRUCell(2), lowlevel.SimpleRNNCell(3)]),
        lowlevel.Bidirectional(lowlevel.GRU(3, return_sequences=True), merge_mode="sum"),
        lowlevel.Embedding(9, 3, mask_zero=True, trainable=False, dtype="float64"),
    ]


@pytest.mark.parametrize("ours", our_objects(), ids=lambda o: type(o).__name__)
def test_get_config_from_config_round_trip_keeps_the_config_and_the_function(ours):
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()
    if isinstance(ours, lowlevel.StackedCells):
        return  # a cell stack: stepped by RNN above
    if hasattr(ours, "cell") and not ours.cell.built:
        ours.build(FEATURES)
    if hasattr(again, "cell") and not again.cell.built:
        again.build(FEATURES)
    if isinstance(ours, lowlevel.Bidirectional):
        ours(tf.constant(X, tf.float32)), again(tf.constant(X, tf.float32))
    again.set_weights(ours.get_weights())
    dtype = ours.dtype if hasattr(ours, "dtype") else tf.float32
    x = tf.constant(X, dtype)
    for a, b in zip(run(again, x), run(ours, x)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------- Embedding(weights=)
@pytest.mark.parametrize("wrap", [lambda m: [m], lambda m: m], ids=["list", "matrix"])
def test_embedding_weights_argument_starts_the_table_at_the_matrix_as_keras(wrap):
    matrix = np.random.default_rng(2).normal(size=[6, 3]).astype(np.float32)
    ours = lowlevel.Embedding(6, 3, weights=wrap(matrix))
    theirs = keras.layers.Embedding(6, 3, weights=wrap(matrix))
    ids_ = np.array([[5, 0, 2], [1, 1, 4]])
    np.testing.assert_array_equal(ours(ids_).numpy(), matrix[ids_])
    np.testing.assert_array_equal(ours(ids_).numpy(), np.asarray(theirs(ids_)))


def test_embedding_weights_of_the_wrong_shape_are_refused_by_name():
    with pytest.raises(ValueError, match=r"`weights\[0\]` \(embedding/embeddings\) of .* must "
                                         r"have shape \(6, 3\); received \(3, 6\)"):
        lowlevel.Embedding(6, 3, weights=[np.zeros([3, 6])])
