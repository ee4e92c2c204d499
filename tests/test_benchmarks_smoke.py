"""The step-speed benchmarks, run once at the tiny ``quick`` size without timing.

Uses the same builders as ``benchmarks/test_step_speed.py``, so a benchmark that
compares different computations (or crashes) fails here first.
"""

import math
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
import step_builders  # noqa: E402
from lowlevel.tolerances import assert_close  # noqa: E402

SIZE = "quick"
IMPLS = [i for i in step_builders.IMPLEMENTATIONS if i != "keras_layer"]


def _cases(phase):
    return [pytest.param(kind, impl, id=f"{kind}-{impl}")
            for kind in step_builders.KINDS for impl in step_builders.IMPLEMENTATIONS
            if step_builders.applies(kind, impl, phase, SIZE) is None]


_keras_cache = {}


def _keras_reference(kind):
    """Forward output and first-step loss of the baseline (two stacked Keras layers)."""
    if kind not in _keras_cache:
        case = step_builders.build_case(kind, "keras_layer", SIZE)
        _keras_cache[kind] = (case.forward(case.x).numpy(),
                              case.train_step(case.x, case.target).numpy())
    return _keras_cache[kind]


@pytest.mark.parametrize("kind, implementation", _cases("forward"))
def test_benchmark_forward_equals_keras_layer_output(kind, implementation):
    case = step_builders.build_case(kind, implementation, SIZE)
    out = case.forward(case.x)
    size = step_builders.SIZES[SIZE]
    assert out.shape == (size["batch"], size["units"])
    expected, _ = _keras_reference(kind)
    assert_close(out, expected, tf.float32, f"{kind} {implementation} forward")


@pytest.mark.parametrize("kind, implementation", _cases("train_step"))
def test_benchmark_train_step_returns_finite_keras_loss(kind, implementation):
    case = step_builders.build_case(kind, implementation, SIZE)
    loss = float(case.train_step(case.x, case.target).numpy())
    assert math.isfinite(loss)
    # The loss is taken before the update: same weights and data give the same loss.
    _, expected = _keras_reference(kind)
    assert_close(np.float64(loss), np.float64(expected), tf.float32,
                 f"{kind} {implementation} first train-step loss")
    assert math.isfinite(float(case.train_step(case.x, case.target).numpy()))


def test_keras_lstm_to_block_lstm_v2_stacks_kernels_and_keeps_gate_order_i_f_c_o():
    units, input_dim = 2, 3
    gate_of_column = np.repeat(np.arange(4.0), units)  # i, f, c, o as Keras fuses them
    kernel = np.tile(gate_of_column, (input_dim, 1))
    recurrent = np.tile(gate_of_column, (units, 1)) + 10.0
    w, b = step_builders.keras_lstm_to_block_lstm(kernel, recurrent, gate_of_column)
    assert w.shape == (input_dim + units, 4 * units)
    np.testing.assert_array_equal(w[:input_dim], kernel)
    np.testing.assert_array_equal(w[input_dim:], recurrent)
    np.testing.assert_array_equal(b, gate_of_column)
