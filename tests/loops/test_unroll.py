"""Promises of the time loop, :func:`lowlevel.loops.reference.unroll`, and of the layers built on it.

A toy accumulator cell makes the loop's edge cases readable: its inputs are powers of
two, so every output is a sum that says exactly which steps were taken. Then real
layers are checked against their own cell stepped by hand in a Python loop.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close
from lowlevel.loops.reference import unroll

F64 = tf.float64
MODES = ["eager", "function"]


class Accumulator:
    """A toy cell: ``total += x_t``, ``count += 1``; the output is the new total.

    States ``[total [batch, features], count [batch, 1]]``. With inputs 1, 2, 4, 8, ...
    the total is a binary number whose bits are the steps that were taken.
    """

    def step(self, x_t, states):
        total, count = states
        total = total + x_t
        return total, [total, count + 1.0]

    @staticmethod
    def initial_states(batch, features=1):
        return [tf.zeros([batch, features], F64), tf.zeros([batch, 1], F64)]


def run_unroll(mode, inputs, mask=None, go_backwards=False, return_sequences=True, **kwargs):
    """``unroll`` of the accumulator, eagerly or compiled; returns NumPy arrays."""
    inputs = tf.constant(inputs, F64)
    cell = Accumulator()

    def run(x, m):
        return unroll(cell.step, x, Accumulator.initial_states(x.shape[0], x.shape[2]),
                      mask=m, go_backwards=go_backwards,
                      return_sequences=return_sequences, **kwargs)

    if mode == "function":
        run = tf.function(run)
    last, sequence, (total, count) = run(inputs, None if mask is None else tf.constant(mask))
    sequence = None if sequence is None else sequence.numpy()
    return last.numpy(), sequence, total.numpy(), count.numpy()


def powers_of_two(batch, time):
    """``[batch, time, 1]`` with ``x[b, t] = 2**t``."""
    return np.tile(2.0 ** np.arange(time), (batch, 1))[:, :, None]


# ---------------------------------------------------------------- the toy cell

@pytest.mark.parametrize("mode", MODES)
def test_unroll_of_one_time_step_is_one_call_of_step(mode):
    x = np.array([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]])  # [batch 2, time 1, features 3]
    last, sequence, total, count = run_unroll(mode, x)
    np.testing.assert_array_equal(last, x[:, 0])
    np.testing.assert_array_equal(sequence, x)
    np.testing.assert_array_equal(total, x[:, 0])
    np.testing.assert_array_equal(count, [[1.0], [1.0]])


@pytest.mark.parametrize("mode", MODES)
def test_unroll_without_mask_outputs_the_running_total_at_every_step(mode):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3))
    last, sequence, total, count = run_unroll(mode, x)
    assert sequence.shape == (2, 5, 3)
    np.testing.assert_allclose(sequence, np.cumsum(x, axis=1), rtol=1e-14)
    np.testing.assert_array_equal(last, sequence[:, -1])
    np.testing.assert_array_equal(total, last)
    np.testing.assert_array_equal(count, [[5.0], [5.0]])


@pytest.mark.parametrize("mode", MODES)
def test_unroll_return_sequences_false_returns_no_sequence_but_the_same_last_output(mode):
    x = powers_of_two(2, 4)
    last, sequence, _, _ = run_unroll(mode, x, return_sequences=False)
    assert sequence is None
    np.testing.assert_array_equal(last, [[15.0], [15.0]])


@pytest.mark.parametrize("mode", MODES)
def test_masked_steps_carry_state_and_repeat_the_previous_output(mode):
    x = powers_of_two(2, 5)  # 1, 2, 4, 8, 16 at every masked step too: skipping shows
    mask = np.array([[True, True, False, True, False],
                     [False, False, True, True, False]])
    last, sequence, total, count = run_unroll(mode, x, mask=mask)
    # Example 0 takes steps 0, 1, 3; example 1 takes steps 2, 3, and outputs zeros
    # before its first unmasked step.
    np.testing.assert_array_equal(sequence[..., 0], [[1, 3, 3, 11, 11],
                                                     [0, 0, 4, 12, 12]])
    np.testing.assert_array_equal(last[:, 0], [11, 12])
    np.testing.assert_array_equal(total[:, 0], [11, 12])
    np.testing.assert_array_equal(count[:, 0], [3, 2])


@pytest.mark.parametrize("mode", MODES)
def test_right_padded_steps_leave_the_final_state_of_the_unpadded_sequence(mode):
    x = powers_of_two(3, 5)
    lengths = [5, 3, 1]
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    last, _, total, count = run_unroll(mode, x, mask=mask)
    for b, n in enumerate(lengths):
        _, _, total_b, count_b = run_unroll(mode, x[b:b + 1, :n])
        np.testing.assert_array_equal(total[b], total_b[0])
        np.testing.assert_array_equal(last[b], total_b[0])
        np.testing.assert_array_equal(count[b], count_b[0])


@pytest.mark.parametrize("mode", MODES)
def test_zero_output_for_mask_outputs_zeros_at_masked_steps_and_still_carries_state(mode):
    x = powers_of_two(1, 4)
    mask = np.array([[True, False, True, False]])
    last, sequence, total, count = run_unroll(mode, x, mask=mask, zero_output_for_mask=True)
    np.testing.assert_array_equal(sequence[0, :, 0], [1, 0, 5, 0])
    np.testing.assert_array_equal(total[0], [5])
    np.testing.assert_array_equal(count[0], [2])


@pytest.mark.parametrize("mode", MODES)
def test_go_backwards_steps_from_the_last_time_step_and_returns_the_reversed_sequence(mode):
    x = powers_of_two(2, 4)  # 1, 2, 4, 8
    last, sequence, total, count = run_unroll(mode, x, go_backwards=True)
    # Processing order 8, 4, 2, 1; the sequence is returned in that order, as Keras does.
    np.testing.assert_array_equal(sequence[0, :, 0], [8, 12, 14, 15])
    np.testing.assert_array_equal(last[:, 0], [15, 15])
    np.testing.assert_array_equal(count[:, 0], [4, 4])


@pytest.mark.parametrize("mode", MODES)
def test_go_backwards_reverses_the_mask_with_the_inputs(mode):
    x = powers_of_two(1, 4)  # 1, 2, 4, 8
    mask = np.array([[True, False, True, True]])  # step t=1 (input 2) is skipped
    _, sequence, total, count = run_unroll(mode, x, mask=mask, go_backwards=True)
    np.testing.assert_array_equal(sequence[0, :, 0], [8, 12, 12, 13])
    np.testing.assert_array_equal(total[0], [13])
    np.testing.assert_array_equal(count[0], [3])


# ------------------------------------------------------------- real layers

LAYERS = [lowlevel.SimpleRNN, lowlevel.LSTM, lowlevel.GRU]
BATCH, TIME, INPUT_DIM, UNITS = 2, 5, 4, 3


def random_layer(layer_class, seed, **kwargs):
    rng = np.random.default_rng(seed)
    layer = layer_class(UNITS, input_dim=INPUT_DIM, dtype=F64, **kwargs)
    layer.set_weights([rng.normal(scale=0.6, size=w.shape) for w in layer.weights])
    return layer


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_output_shapes_follow_return_sequences_and_return_state(
        layer_class, return_sequences):
    x = np.ones((BATCH, TIME, INPUT_DIM), np.float32)
    layer = layer_class(UNITS, return_sequences=return_sequences, return_state=True)
    output, *states = layer(x)
    assert output.shape == ((BATCH, TIME, UNITS) if return_sequences else (BATCH, UNITS))
    assert len(states) == layer.cell.state_count
    assert all(s.shape == (BATCH, UNITS) for s in states)
    layer.return_state = False  # the same compiled loop; only the packaging differs
    assert isinstance(layer(x), tf.Tensor)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_equals_its_cell_stepped_by_hand_at_every_step(layer_class, go_backwards):
    layer = random_layer(layer_class, 1, return_sequences=True, return_state=True,
                         go_backwards=go_backwards)
    x = np.random.default_rng(2).normal(size=(BATCH, TIME, INPUT_DIM))

    sequence, *final_states = layer(x)

    states = layer.cell.get_initial_state(BATCH)
    order = range(TIME - 1, -1, -1) if go_backwards else range(TIME)
    for k, t in enumerate(order):  # the k-th output is the k-th step taken
        output, states = layer.cell(x[:, t], states)
        assert_close(sequence[:, k], output, F64, f"output of step {k} (t = {t})")
    for i, (got, want) in enumerate(zip(final_states, states)):
        assert_close(got, want, F64, f"final state {i}")


@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_with_right_padding_mask_gives_the_final_state_of_each_unpadded_sequence(
        layer_class):
    layer = random_layer(layer_class, 3, return_state=True)
    x = np.random.default_rng(4).normal(size=(BATCH, TIME, INPUT_DIM))
    lengths = [TIME, 2]
    mask = np.arange(TIME)[None, :] < np.array(lengths)[:, None]

    output, *states = layer(x, mask=mask)

    for b, n in enumerate(lengths):
        output_b, *states_b = layer(x[b:b + 1, :n])
        assert_close(output[b], output_b[0], F64, f"last output of example {b}")
        for i, (got, want) in enumerate(zip(states, states_b)):
            assert_close(got[b], want[0], F64, f"state {i} of example {b}")


@pytest.fixture
def restore_run_functions_eagerly():
    """Puts ``tf.config.run_functions_eagerly`` back as it was, even if the test fails."""
    previous = tf.config.functions_run_eagerly()
    yield
    tf.config.run_functions_eagerly(previous)


@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_gives_the_same_results_compiled_and_run_eagerly(
        layer_class, restore_run_functions_eagerly):
    layer = random_layer(layer_class, 5, return_sequences=True, return_state=True)
    x = np.random.default_rng(6).normal(size=(BATCH, TIME, INPUT_DIM))
    mask = np.array([[True] * TIME, [True, False, True, True, False]])

    tf.config.run_functions_eagerly(False)
    compiled = [r.numpy() for r in layer(x, mask=mask)]
    tf.config.run_functions_eagerly(True)  # the tf.range loop now runs step by step
    eager = [r.numpy() for r in layer(x, mask=mask)]

    for i, (got, want) in enumerate(zip(eager, compiled)):
        assert_close(got, want, F64, f"result {i} run eagerly vs compiled")


# ---------------------------------------------------------------- when it is converted

_COUNT_CONVERSIONS = """
import tensorflow as tf
calls = []
to_graph = tf.autograph.to_graph
tf.autograph.to_graph = lambda fn, **options: calls.append(fn.__name__) or to_graph(fn, **options)
import lowlevel.loops.registry
from lowlevel.loops.reference import unroll
at_import = list(calls)
compiled = tf.function(lambda x: unroll(lambda x_t, s: (x_t + s, x_t + s), x, tf.zeros([1, 1])))
compiled(tf.ones([1, 3, 1]))
compiled(tf.ones([1, 4, 1]))
print(at_import, calls)
"""


def test_the_loop_is_converted_by_autograph_at_its_first_call_not_at_import():
    """Most programs never run the readable loop; converting it at import cost them all.
    Converted once, whatever calls it later."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    out = subprocess.run([sys.executable, "-c", _COUNT_CONVERSIONS], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split("\n")[-2] == "[] ['unroll']"
