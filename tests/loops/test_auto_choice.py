"""``implementation='auto'`` picks as ``docs/speed.md`` ("'auto': the rules") documents,
and every loop it can pick computes what the reference loop computes for that situation
(outputs and gradients, float64 at 1e-10)."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.loops import registry
from lowlevel.loops.request import Request
from lowlevel.tolerances import assert_close

DTYPE = tf.float64
LONG = registry.UNROLLED_MAX_CELL_STEPS + 1


def _request(time_steps, cells=1, batch=3, kind="SimpleRNN", upper=None, eager=False,
             training=False):
    make = getattr(lowlevel, kind + "Cell")
    cell = make(4, input_dim=3, dtype=DTYPE)
    if cells > 1:
        upper = getattr(lowlevel, (upper or kind) + "Cell")
        cell = lowlevel.StackedCells([cell] + [upper(4, input_dim=4, dtype=DTYPE)
                                               for _ in range(cells - 1)])
    inputs = tf.zeros([batch, time_steps, 3], DTYPE) if time_steps is not None else \
        tf.TensorSpec([batch, None, 3], DTYPE)
    return Request(cell, inputs, None, called_eagerly=eager, training=training)


# (situation, request, the documented choice)
SITUATIONS = [
    ("length unknown when tracing", lambda: _request(None), "fast"),
    ("length unknown, a stack", lambda: _request(None, cells=2), "fast"),
    ("short: one layer, at the limit", lambda: _request(registry.UNROLLED_MAX_CELL_STEPS),
     "unrolled"),
    ("short: a stack within the limit",
     lambda: _request(registry.UNROLLED_MAX_CELL_STEPS // 2, cells=2), "unrolled"),
    ("long: one layer past the limit", lambda: _request(LONG), "fast"),
    ("long: a stack past the limit",
     lambda: _request(registry.UNROLLED_MAX_CELL_STEPS // 2 + 1, cells=2), "fast"),
    ("short LSTM", lambda: _request(10, kind="LSTM"), "unrolled"),
    ("short GRU stack", lambda: _request(10, cells=2, kind="GRU"), "unrolled"),
    ("short stack, a GRU above a SimpleRNN",
     lambda: _request(10, cells=2, upper="GRU"), "unrolled"),
    ("long LSTM stack", lambda: _request(registry.UNROLLED_MAX_CELL_STEPS // 2 + 1, cells=2,
                                         kind="LSTM"), "fast"),
    ("length unknown, an LSTM", lambda: _request(None, kind="LSTM"), "fast"),
    ("called eagerly, short", lambda: _request(10, eager=True), "fast"),
    ("called eagerly, a short LSTM stack", lambda: _request(10, cells=2, kind="LSTM",
                                                             eager=True), "fast"),
]


@pytest.mark.parametrize("situation, request_of, expected", SITUATIONS,
                         ids=[s[0] for s in SITUATIONS])
def test_auto_picks_as_documented(situation, request_of, expected):
    request = request_of()
    assert registry.choose(request) == expected
    assert registry.serving("auto", request) == expected
    assert registry.choose(request) in registry.CANDIDATES


def _layers(kind, implementation):
    """Two stacked layers of ``kind`` (random weights, a dropout-free float64 stack)."""
    rng = np.random.default_rng(0)
    layers = [getattr(lowlevel, kind)(4, input_dim=3, return_sequences=True, dtype=DTYPE,
                                      implementation=implementation),
              getattr(lowlevel, kind)(4, input_dim=4, dtype=DTYPE,
                                      implementation=implementation)]
    for layer in layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    return lowlevel.stack_layers(layers), layers


def _output_and_gradients(model, variables, x, mask, known_length):
    def call(x, mask):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x, mask=mask)
            loss = tf.reduce_sum(tf.sin(y))
        return y, tape.gradient(loss, [x, *variables])

    spec = [tf.TensorSpec([x.shape[0], x.shape[1] if known_length else None, 3], DTYPE),
            tf.TensorSpec([x.shape[0], x.shape[1] if known_length else None], tf.bool)]
    return tf.function(call, input_signature=spec)(x, mask)


@pytest.mark.parametrize("kind, time_steps, known_length, chosen", [
    ("SimpleRNN", 20, True, "unrolled"),  # short enough to trace quickly in a test
    ("SimpleRNN", LONG // 2 + 1, True, "fast"),
    ("LSTM", 10, True, "unrolled"),
    ("GRU", 10, True, "unrolled"),
    ("GRU", 7, False, "fast"),
    ("LSTM", 7, False, "fast"),
], ids=["short-SimpleRNN", "long-SimpleRNN", "short-LSTM", "short-GRU",
        "unknown-length-GRU", "unknown-length-LSTM"])
def test_every_choice_of_auto_equals_the_reference_loop(kind, time_steps, known_length,
                                                         chosen):
    auto, auto_layers = _layers(kind, "auto")
    reference, reference_layers = _layers(kind, "reference")
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=[3, time_steps, 3]), DTYPE)
    mask = tf.constant(rng.random([3, time_steps]) > 0.2)
    spec = tf.TensorSpec([3, time_steps if known_length else None, 3], DTYPE)
    assert registry.choose(Request(auto.cell, spec, None)) == chosen

    y, g = _output_and_gradients(auto, auto.trainable_variables, x, mask, known_length)
    y_ref, g_ref = _output_and_gradients(reference, reference.trainable_variables, x, mask,
                                         known_length)
    assert_close(y, y_ref, DTYPE, f"'auto' ({chosen}) output")
    for i, (a, b) in enumerate(zip(g, g_ref)):
        assert_close(a, b, DTYPE, f"'auto' ({chosen}) gradient {i}")


def test_named_loops_keep_their_meaning():
    request = _request(registry.UNROLLED_MAX_CELL_STEPS)
    for name in registry.CANDIDATES:
        assert registry.serving(name, request) == name
    with pytest.raises(ValueError, match="implementation='unrolled' cannot run this layer"):
        registry.serving("unrolled", _request(None))


def test_a_training_call_unrolls_only_where_grappler_is_off():
    """Rule 3: read when the call is traced, from TensorFlow's optimizer options."""
    training = _request(10, kind="LSTM", training=True)
    assert registry.choose(training) == "fast"  # as a plain tf.function traces it
    with lowlevel.compiled.grappler_off():      # as lowlevel.compiled.function does
        assert registry.choose(training) == "unrolled"
    assert registry.choose(_request(10, kind="LSTM")) == "unrolled"  # inference


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_the_loop_follows_how_the_layer_is_called(kind, monkeypatch):
    """The layer tells the registry how it was called (eagerly; training, and under which
    compilation): the loop each call ran is recorded where the registry hands the
    request to it, and every call computes the same."""
    ran = []
    for name in ("fast", "unrolled"):
        loop = registry.LOOPS[name]
        monkeypatch.setattr(loop, "run", lambda request, run=loop.run, name=name:
                            ran.append(name) or run(request))
    model, layers = _layers(kind, "auto")
    x = tf.constant(np.random.default_rng(2).normal(size=[3, 6, 3]), DTYPE)
    expected = {"called eagerly": "fast", "inference in tf.function": "unrolled",
                "training in tf.function": "fast",
                "training in lowlevel.compiled.function": "unrolled"}
    calls = {"called eagerly": model,
             "inference in tf.function": tf.function(lambda v: model(v)),
             "training in tf.function": tf.function(lambda v: model(v, training=True)),
             "training in lowlevel.compiled.function":
                 lowlevel.compiled.function(lambda v: model(v, training=True))}
    outputs = {}
    for how, call in calls.items():
        ran.clear()
        outputs[how] = call(x)
        assert ran == [expected[how]], how
    for how, y in outputs.items():
        assert_close(y, outputs["called eagerly"], DTYPE, f"{kind}, {how}")
