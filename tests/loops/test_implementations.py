"""Every ``implementation`` of the sequence layers computes the reference's numbers and Keras's.

The loops are named in :mod:`lowlevel.loops.registry`: ``'reference'`` is :func:`lowlevel.loops.reference.unroll`, ``'fast'`` :func:`lowlevel.loops.fast.fast_unroll`,
``'bptt'`` :func:`lowlevel.loops.bptt.bptt_unroll` (hand-written gradient), ``'unrolled'``
:func:`lowlevel.loops.unrolled.chunked_unroll` (no loop, compiled chunks). Outputs, returned
states and gradients with respect to inputs, initial states and weights must agree
with Keras (through :mod:`lowlevel.parity`, its case naming the implementation) and
with the reference path, to the dtype's tolerance, with masks and ``go_backwards``. A
named loop that cannot serve a call is an error naming it; ``'auto'`` runs one that can.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
import lowlevel.layers.rnn
from lowlevel import parity
from lowlevel.loops import registry
from lowlevel.loops.fast import fast_unroll
from lowlevel.tolerances import assert_close, scaled_error, tolerance
from lowlevel.loops.reference import unroll
from lowlevel.loops.unrolled import CHUNK_SIZE, chunked_unroll
from traced_graphs import nodes

IMPLEMENTATIONS = tuple(registry.LOOPS)  # every loop; 'auto' runs one of them
# tests/parity/test_parity.py runs the whole matrix on the default ('auto'), which
# chooses per call (registry.choose): every loop is run here by name as well.
NAMED_LOOPS = list(IMPLEMENTATIONS)
NOT_REFERENCE = [i for i in IMPLEMENTATIONS if i != "reference"]
KINDS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})]

# Options crossed with every kind; each row runs in one dtype and mode to stay small.
PARITY_CASES = [
    ({"return_sequences": True, "return_state": True, "initial_state": True}, "float64", "eager"),
    ({"mask": "random", "go_backwards": True, "return_sequences": True}, "float64", "function"),
    ({"mask": "left", "go_backwards": True, "return_state": True, "initial_state": True},
     "float32", "function"),
]


@pytest.mark.parametrize("implementation", NAMED_LOOPS)
@pytest.mark.parametrize("options,dtype,mode", PARITY_CASES,
                         ids=[f"{parity.case('LSTM', **o).label()}-{d}-{m}"
                              for o, d, m in PARITY_CASES])
@pytest.mark.parametrize("kind,extra", KINDS, ids=[k + str(e) for k, e in KINDS])
def test_every_implementation_equals_keras_outputs_states_and_gradients(
        implementation, kind, extra, options, dtype, mode):
    result = parity.run_case(parity.case(kind, dtype, "/CPU:0", mode, **options, **extra,
                                         implementation=implementation))
    assert result.ok, (f"{implementation}: output error {result.output_error:.3g}, gradient "
                       f"error {result.gradient_error:.3g}, tolerance {result.tolerance:.0e}")


@pytest.mark.parametrize("implementation", NAMED_LOOPS)
@pytest.mark.parametrize("component,options", [
    ("StackedCells", {"stack": ("LSTM", "GRU"), "return_sequences": True, "mask": "random"}),
    ("Bidirectional", {"layer": "GRU", "mask": "right", "return_sequences": True}),
    ("Bidirectional", {"layer": "LSTM", "return_state": True, "initial_state": True}),
])
def test_composites_on_every_implementation_equal_keras(implementation, component, options):
    case = parity.case(component, "float64", "/CPU:0", "function", **options,
                       implementation=implementation)
    if component == "StackedCells" and implementation == "bptt":
        # bptt differentiates one cell by hand: a stack is an error naming it, no fallback.
        with pytest.raises(ValueError, match="implementation='bptt' cannot run this layer: "
                                             "StackedCells has no `backward` step"):
            parity.run_case(case)
        return
    result = parity.run_case(case)
    assert result.ok, (result.output_error, result.gradient_error)


# ------------------------------------------------------------ against the reference
def _run(layer, x, initial_state, mask, mode, training):
    variables = list(layer.trainable_variables)

    def compute(x, initial_state):
        with tf.GradientTape() as tape:
            tape.watch([x, *initial_state])
            out = tf.nest.flatten(layer(x, initial_state=initial_state or None, mask=mask,
                                        training=training))
            loss = tf.add_n([tf.reduce_sum(o * _distinct_weights(o)) for o in out])
        return out, tape.gradient(loss, [x, *initial_state, *variables])

    if mode == "function":
        compute = tf.function(compute)
    return compute(x, initial_state)


def _distinct_weights(o):
    """``cos(k)`` for the k-th element: every output element weighs differently."""
    k = tf.cumsum(tf.ones([tf.size(o)], o.dtype))
    return tf.reshape(tf.cos(k), tf.shape(o))


def _twins(kind, extra, dtype, **options):
    layers = {impl: getattr(lowlevel, kind)(5, input_dim=4, dtype=dtype, implementation=impl,
                                            **extra, **options)
              for impl in IMPLEMENTATIONS}
    rng = np.random.default_rng(5)
    weights = [rng.normal(0, 0.5, w.shape) for w in layers["reference"].get_weights()]
    for layer in layers.values():
        layer.set_weights(weights)
    return layers


@pytest.mark.parametrize("dtype", ["float64"])  # float32 against Keras above
@pytest.mark.parametrize("options", [
    {"return_sequences": True, "return_state": True},
    {"go_backwards": True, "return_sequences": True, "zero_output_for_mask": True, "mask": 1},
    {"return_state": True, "mask": 1, "dropout": 0.3, "recurrent_dropout": 0.4, "seed": 3},
], ids=["sequences-states", "backwards-zero-output-mask", "dropout-mask"])
@pytest.mark.parametrize("kind,extra", KINDS, ids=[k + str(e) for k, e in KINDS])
def test_every_implementation_equals_the_reference_path_outputs_and_gradients(
        kind, extra, options, dtype):
    """Same seed, same dropout masks: every number of the reference path, in a tf.function."""
    options = dict(options)
    use_mask = options.pop("mask", 0)
    layers = _twins(kind, extra, dtype, **options)
    rng = np.random.default_rng(9)
    x = tf.constant(rng.normal(size=(3, 6, 4)), dtype)
    states = [tf.constant(rng.normal(size=(3, 5)), dtype)
              for _ in range(layers["reference"].cell.state_count)]
    mask = tf.constant(rng.random((3, 6)) < 0.6) if use_mask else None
    expected = _run(layers["reference"], x, states, mask, "function", True)
    for impl in NOT_REFERENCE:
        got = _run(layers[impl], x, states, mask, "function", True)
        for a, b in zip(got[0], expected[0]):
            assert_close(a, b, dtype, f"{impl} output")
        for a, b in zip(got[1], expected[1]):
            assert_close(a, b, dtype, f"{impl} gradient")


def test_eager_calls_of_every_implementation_equal_the_compiled_reference():
    layers = _twins("LSTM", {}, "float64", return_sequences=True)
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 4, 4)))
    mask = tf.constant([[True, False, True, True], [False, True, True, False]])
    expected = _run(layers["reference"], x, [], mask, "function", False)
    for impl in NOT_REFERENCE:
        layers[impl]._compiled_forward = layers[impl]._forward  # run eagerly, step by step
        got = _run(layers[impl], x, [], mask, "eager", False)
        for a, b in zip(got[0] + got[1], expected[0] + expected[1]):
            assert_close(a, b, tf.float64, f"{impl} eager")


# ------------------------------------------------------------- the compiled loops
class Accumulator:
    """``total += x_t``; outputs the total (see tests/loops/test_unroll.py)."""

    def step(self, x_t, states):
        (total,) = states
        total = total + x_t
        return total, [total]


def _fast(output_size):
    def loop(step, x, init, **options):
        return fast_unroll(step, x, init, output_size=output_size, **options)
    return loop


def _chunked(chunk_size):
    def loop(step, x, init, **options):
        return chunked_unroll(lambda x_t, states, weights, matmul: step(x_t, states), x, init,
                              output_size=1, chunk_size=chunk_size, **options)
    return loop


# fast_unroll peeling its first step (output_size None) or not; chunked_unroll in one
# chunk (7), in chunks with a remainder (2), and a step per chunk (1).
LOOPS = {"fast-peeled": _fast(None), "fast": _fast(1), "chunks-of-1": _chunked(1),
         "chunks-of-2": _chunked(2), "one-chunk": _chunked(7)}


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("mode", ["eager", "function"])
def test_compiled_loops_equal_unroll_on_the_accumulator_with_masks_and_go_backwards(
        mode, loop):
    x = tf.constant(np.tile(2.0 ** np.arange(5), (2, 1))[:, :, None])  # [2, 5, 1]
    mask = tf.constant([[True, True, False, True, False], [False, False, True, True, False]])
    for options in [{}, {"mask": mask}, {"mask": mask, "go_backwards": True},
                    {"mask": mask, "zero_output_for_mask": True}]:
        def both(x):
            init = [tf.zeros([2, 1], tf.float64)]
            return (unroll(Accumulator().step, x, init, return_sequences=True, **options),
                    LOOPS[loop](Accumulator().step, x, init, return_sequences=True, **options))
        if mode == "function":
            both = tf.function(both)
        expected, got = both(x)
        for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(expected)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_fast_unroll_without_return_sequences_returns_no_sequence():
    x = tf.ones([2, 3, 1], tf.float64)
    last, sequence, (total,) = fast_unroll(Accumulator().step, x, [tf.zeros([2, 1], tf.float64)],
                                           output_size=1)
    assert sequence is None
    np.testing.assert_array_equal(last.numpy(), [[3.0], [3.0]])


# ------------------------------------------------------------- the unrolled chunks
def test_chunked_unroll_hands_every_step_the_same_weights():
    seen = []

    def step(x_t, states, weights, matmul):
        seen.append(weights)
        return states[0] + weights * x_t, [states[0] + weights * x_t]

    weights = tf.constant(3.0, tf.float64)
    last, _, _ = chunked_unroll(step, tf.ones([1, 4, 1], tf.float64),
                                [tf.zeros([1, 1], tf.float64)], weights=weights,
                                output_size=1, chunk_size=3)
    assert len(seen) == 4 and last.numpy().item() == 12.0


@pytest.mark.parametrize("kind,extra", KINDS, ids=[k + str(e) for k, e in KINDS])
def test_unrolled_over_several_chunks_equals_the_reference_outputs_and_gradients(kind, extra):
    """More steps than one chunk, and a remainder: the chunks hand states on exactly."""
    time = 2 * CHUNK_SIZE + 3
    layers = _twins(kind, extra, "float64", return_sequences=True, return_state=True,
                    go_backwards=True)
    rng = np.random.default_rng(11)
    x = tf.constant(rng.normal(size=(3, time, 4)))
    states = [tf.constant(rng.normal(size=(3, 5)))
              for _ in range(layers["reference"].cell.state_count)]
    mask = tf.constant(rng.random((3, time)) < 0.7)
    expected = _run(layers["reference"], x, states, mask, "function", False)
    got = _run(layers["unrolled"], x, states, mask, "function", False)
    for a, b in zip(got[0] + got[1], expected[0] + expected[1]):
        assert_close(a, b, tf.float64, f"unrolled {kind} over {time} steps")


def test_unrolled_input_gradient_is_one_concat_of_chunks_not_a_zero_tensor_per_chunk():
    """The chunks are cut with tf.split: the gradient for an embedding's output (say)
    joins the chunks' gradients once, instead of a full-size StridedSliceGrad each."""
    layer = lowlevel.LSTM(5, input_dim=4, implementation="unrolled")
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 3 * CHUNK_SIZE, 4)), tf.float32)

    @tf.function
    def input_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return tape.gradient(y, x)

    ops = [node.op for node in nodes(input_gradient.get_concrete_function(x))]
    assert "StridedSliceGrad" not in ops
    assert ops.count("ConcatV2") >= 1


def test_unrolled_without_a_known_number_of_steps_is_an_error_and_auto_runs_the_fast_loop():
    layer = lowlevel.LSTM(5, input_dim=4, implementation="unrolled", return_sequences=True)
    call = tf.function(lambda x: layer(x),
                       input_signature=[tf.TensorSpec([None, None, 4], tf.float32)])
    with pytest.raises(ValueError, match="implementation='unrolled' cannot run this layer: "
                                         "the number of time steps is unknown"):
        call.get_concrete_function()
    auto = lowlevel.LSTM(5, input_dim=4, return_sequences=True)
    reference = lowlevel.LSTM(5, input_dim=4, implementation="reference", return_sequences=True)
    reference.set_weights(auto.get_weights())
    call = tf.function(lambda x: auto(x),
                       input_signature=[tf.TensorSpec([None, None, 4], tf.float32)])
    ops = [node.op for node in nodes(call.get_concrete_function())]
    assert "While" in ops or "StatelessWhile" in ops
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 7, 4)), tf.float32)
    assert_close(call(x), reference(x), tf.float32, "auto, time unknown when traced")


# ------------------------------------------------------------------ the argument
@pytest.mark.parametrize("implementation", registry.IMPLEMENTATIONS)
def test_implementation_round_trips_through_get_config(implementation):
    layer = lowlevel.GRU(3, input_dim=2, implementation=implementation, reset_after=False)
    assert layer.get_config()["implementation"] == implementation
    assert lowlevel.layers.rnn.clone(layer).implementation == implementation
    rnn = lowlevel.RNN(lowlevel.LSTMCell(3), implementation=implementation)
    assert lowlevel.RNN.from_config(rnn.get_config()).implementation == implementation


def test_default_implementation_is_the_measured_fastest_and_named_in_the_config():
    assert lowlevel.LSTM(2).implementation == lowlevel.layers.rnn.DEFAULT_IMPLEMENTATION
    assert lowlevel.layers.rnn.DEFAULT_IMPLEMENTATION == "auto"
    request = lowlevel.loops.Request(lowlevel.LSTMCell(2, input_dim=3), tf.zeros([1, 4, 3]), None)
    assert registry.choose(request) in registry.CANDIDATES


@pytest.mark.parametrize("bad", ["cudnn", 2, None.__class__])
def test_unknown_implementation_is_an_error_naming_the_choices(bad):
    with pytest.raises(ValueError, match="`implementation` must be one of"):
        lowlevel.SimpleRNN(2, implementation=bad)


def test_bptt_with_an_activation_without_known_derivative_is_an_error_and_auto_stays_correct():
    layers = _twins("SimpleRNN", {"activation": "softsign"}, "float64")
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 3, 4)))
    with pytest.raises(ValueError, match="implementation='bptt' cannot run this layer: its "
                                         "`activation` 'softsign' has no known derivative"):
        layers["bptt"](x)
    auto = lowlevel.SimpleRNN(5, input_dim=4, dtype="float64", activation="softsign")
    auto.set_weights(layers["reference"].get_weights())
    expected = _run(layers["reference"], x, [], None, "function", False)
    got = _run(auto, x, [], None, "function", False)
    assert max(scaled_error(a, b) for a, b in zip(got[1], expected[1])) <= tolerance("float64")


@pytest.mark.parametrize("implementation", (*IMPLEMENTATIONS, "auto"))
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_every_loop_runs_where_autograph_converts_nothing(kind, implementation):
    """A layer is traced into its caller's function; where AutoGraph converts nothing
    (``tf.function(..., autograph=False)``, or ``lowlevel.Sequential``'s call inside a
    user's step) every loop still runs, with its eager outputs and gradients (float64)."""
    layer = getattr(lowlevel, kind)(4, input_dim=3, return_sequences=True, dtype=tf.float64,
                                    implementation=implementation)
    model = lowlevel.Sequential([layer])
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 7, 3)))

    def output_and_gradients(x, call):
        with tf.GradientTape() as tape:
            y = call(x)
            loss = tf.reduce_sum(tf.sin(y))
        return y, tape.gradient(loss, layer.trainable_variables)

    expected_y, expected_gradients = output_and_gradients(x, layer)
    for where, compiled in [
            ("autograph=False", tf.function(lambda x: output_and_gradients(x, layer),
                                            autograph=False)),
            ("Sequential", tf.function(lambda x: output_and_gradients(x, model)))]:
        y, gradients = compiled(x)
        assert_close(y, expected_y, tf.float64, f"{implementation} output, {where}")
        for i, (g, e) in enumerate(zip(gradients, expected_gradients)):
            assert_close(g, e, tf.float64, f"{implementation} gradient {i}, {where}")
