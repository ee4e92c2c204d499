"""``lowlevel.Sequential`` computes what its layers compute in turn, and what Keras's does.

The promise (``lowlevel/layers/sequential.py``): outputs and gradients (every variable,
and the inputs) equal calling the layers one after the other, and equal
``keras.Sequential`` of the same layers with the weights copied; consecutive sequence
layers are stepped as one loop exactly when that is the same function (one case per
reason it is not); ``weights`` are listed in Keras's order; the checkpoint layout does
not depend on the stacking.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.models import Dense
from lowlevel.tolerances import assert_close

DTYPE = tf.float64
BATCH, TIME, WORDS, DIM, UNITS = 3, 6, 12, 4, 5
KINDS = ["SimpleRNN", "LSTM", "GRU"]


def _ids():
    """Ids with trailing padding (0) in one row, masked by ``mask_zero``."""
    ids = np.random.default_rng(0).integers(1, WORDS, [BATCH, TIME])
    ids[1, 4:] = 0
    return tf.constant(ids)


def _ours(kind, **options):
    layer = getattr(lowlevel, kind)
    return lowlevel.Sequential([
        lowlevel.Embedding(WORDS, DIM, mask_zero=True, dtype=DTYPE),
        layer(UNITS, input_dim=DIM, return_sequences=True, dtype=DTYPE, **options),
        layer(UNITS, input_dim=UNITS, return_sequences=True, dtype=DTYPE, **options),
        layer(UNITS, input_dim=UNITS, dtype=DTYPE, **options),
        Dense(UNITS, 2, dtype=DTYPE),
    ])


def _theirs(kind):
    layer = getattr(keras.layers, kind)
    model = keras.Sequential([
        keras.Input((TIME,), dtype="int64"),
        keras.layers.Embedding(WORDS, DIM, mask_zero=True, dtype="float64"),
        layer(UNITS, return_sequences=True, dtype="float64"),
        layer(UNITS, return_sequences=True, dtype="float64"),
        layer(UNITS, dtype="float64"),
        keras.layers.Dense(2, dtype="float64"),
    ])
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


def _output_and_gradients(apply, variables, x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(apply(x)))
    return apply(x), tape.gradient(loss, variables)


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_equals_its_layers_in_turn_and_keras_sequential(kind):
    ours, theirs = _ours(kind), _theirs(kind)
    ours.set_weights(theirs.get_weights())
    assert ours.runs == [[0], [1, 2, 3], [4]]  # the three recurrent layers as one loop
    x = _ids()

    def in_turn(ids):
        embedding, *recurrent, head = ours.layers
        h, mask = embedding(ids), embedding.compute_mask(ids)
        for layer in recurrent:
            h = layer(h, mask=mask)
        return head(h)

    ours_y, ours_g = _output_and_gradients(ours, ours.trainable_variables, x)
    turn_y, turn_g = _output_and_gradients(in_turn, ours.trainable_variables, x)
    keras_y, keras_g = _output_and_gradients(theirs, theirs.trainable_variables, x)
    assert_close(ours_y, turn_y, DTYPE, "Sequential vs layers in turn")
    assert_close(ours_y, keras_y, DTYPE, "Sequential vs keras.Sequential")
    assert len(ours_g) == len(keras_g) == len(ours.weights)
    for i, (a, b, k) in enumerate(zip(ours_g, turn_g, keras_g)):
        assert_close(a, b, DTYPE, f"gradient {i} vs layers in turn")
        assert_close(a, k, DTYPE, f"gradient {i} vs keras.Sequential")


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_lists_weights_in_keras_order(kind):
    ours, theirs = _ours(kind), _theirs(kind)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.name.split("/")[-1].split(":")[0] for w in ours.weights] == \
        [w.path.split("/")[-1] for w in theirs.weights]
    refs = [w.ref() for w in ours.variables]
    assert len(refs) == len(set(refs)) == len(ours.weights)  # each variable once


def _layers(first=None, second=None, third=None):
    """Three GRU layers (the top one returning the last output), options per layer."""
    options = [first or {}, second or {}, third or {}]
    sizes = [DIM, UNITS, UNITS]
    return [lowlevel.GRU(UNITS, input_dim=sizes[i], dtype=DTYPE,
                         **{"return_sequences": i < 2, **options[i]}) for i in range(3)]


@pytest.mark.parametrize("layers, runs", [
    pytest.param(_layers(), [[0, 1, 2]], id="all-stack"),
    pytest.param(_layers(second={"go_backwards": True}), [[0], [1], [2]], id="go_backwards"),
    pytest.param(_layers(first={"stateful": True}), [[0], [1, 2]], id="stateful"),
    pytest.param(_layers(third={"return_state": True}), [[0, 1], [2]], id="return_state"),
    pytest.param(_layers(second={"zero_output_for_mask": True}), [[0], [1], [2]],
                 id="zero_output_for_mask"),
    pytest.param(_layers(third={"implementation": "reference"}), [[0, 1], [2]],
                 id="implementation"),
    pytest.param(_layers(first={"return_sequences": False}), [[0], [1, 2]],
                 id="last-output-only"),
    pytest.param([lowlevel.GRU(UNITS, input_dim=DIM, return_sequences=True,
                               compute_dtype="bfloat16"),
                  lowlevel.GRU(UNITS, input_dim=UNITS)], [[0], [1]], id="compute_dtype"),
    pytest.param(_layers(*[{"implementation": "bptt"}] * 3), [[0], [1], [2]],
                 id="loop-cannot-run-stacked-cells"),
    pytest.param([_layers()[0], Dense(UNITS, UNITS, dtype=DTYPE), *_layers()[1:]],
                 [[0], [1], [2, 3]], id="not-a-sequence-layer"),
])
def test_sequential_stacks_exactly_when_the_function_is_the_same(layers, runs):
    assert lowlevel.Sequential(layers).runs == runs


@pytest.mark.parametrize("options", [
    dict(second={"go_backwards": True}), dict(third={"implementation": "bptt"}), {}],
    ids=["go_backwards", "bptt-top", "stacked"])
def test_sequential_whether_stacked_or_not_equals_layers_in_turn(options):
    layers = _layers(**options)
    rng = np.random.default_rng(2)
    for layer in layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    model = lowlevel.Sequential(layers)
    x = tf.constant(rng.normal(size=[BATCH, TIME, DIM]), DTYPE)

    def in_turn(v):
        for layer in layers:
            v = layer(v)
        return v

    y, g = _output_and_gradients(model, model.trainable_variables, x)
    y_turn, g_turn = _output_and_gradients(in_turn, model.trainable_variables, x)
    assert_close(y, y_turn, DTYPE, "output")
    for a, b in zip(g, g_turn):
        assert_close(a, b, DTYPE, "gradient")


def test_sequential_checkpoint_layout_does_not_depend_on_stacking(tmp_path):
    def keys(implementation):
        model = lowlevel.Sequential(_layers(*[{"implementation": implementation}] * 3))
        model(tf.zeros([BATCH, TIME, DIM], DTYPE))
        path = tf.train.Checkpoint(model=model).write(str(tmp_path / implementation))
        return sorted(name for name, _ in tf.train.list_variables(path))

    stacked, in_turn = keys("fast"), keys("bptt")
    assert lowlevel.Sequential(_layers()).runs == [[0, 1, 2]]
    assert stacked == in_turn
    weights = [name for name in stacked if name.startswith("model/layers/") and "_rng" not in name]
    assert len(weights) == 9  # 3 layers x 3 weights, once each, under the layers


def test_sequential_passes_training_to_the_layers_that_take_it():
    layers = _layers(first={"dropout": 0.5, "seed": 1})
    model = lowlevel.Sequential([*layers, tf.nn.relu])
    x = tf.ones([BATCH, TIME, DIM], DTYPE)
    assert_close(model(x), model(x), DTYPE, "inference is deterministic")
    assert np.max(np.abs(model(x, training=True) - model(x))) > 0


def test_sequential_rejects_what_is_not_a_list_of_layers():
    with pytest.raises(TypeError, match="`layers` must be a non-empty list of callables"):
        lowlevel.Sequential([])
    with pytest.raises(TypeError, match="`layers` must be a non-empty list of callables"):
        lowlevel.Sequential([lowlevel.GRU(3), 3])
    with pytest.raises(TypeError, match="`layers` must be a list"):
        lowlevel.Sequential(lowlevel.GRU(3))
