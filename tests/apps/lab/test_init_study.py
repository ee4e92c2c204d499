"""The initialisation study's variants set the weights they name, and the forget
bias shows in the gradient at step 0 as the closed forms say."""

import numpy as np
import pytest

from lowlevel.apps.lab import init

CONFIG = init.InitConfig(time_steps=20, units=4, steps=0, eval_batch=10, seeds=1)


def _weights(cell, variant):
    model = init.initialised_model(cell, variant, CONFIG, seed=0)
    return model, model.rnn.cell.recurrent_kernel.numpy(), model.rnn.cell.bias.numpy()


def test_irnn_is_relu_with_identity_recurrence_and_zero_bias():
    model, u, bias = _weights("simple", "irnn")
    np.testing.assert_array_equal(u, np.eye(4))
    np.testing.assert_array_equal(bias, 0.0)
    assert model.rnn.cell.activation(np.array([-1.0])).numpy()[0] == 0.0  # ReLU


def test_glorot_draws_the_recurrent_kernel_within_its_limit():
    _, u, _ = _weights("simple", "glorot")
    assert np.all(np.abs(u) <= np.sqrt(6.0 / 8))  # limit sqrt(6 / (fan_in + fan_out))
    assert not np.allclose(u @ u.T, np.eye(4))  # not the orthogonal default


def test_chrono_sets_forget_bias_log_uniform_1_to_T_minus_1_and_input_bias_minus_it():
    _, _, bias = _weights("lstm", "chrono")  # columns i, f, c, o
    b_i, b_f = bias[:4], bias[4:8]
    assert np.all((b_f >= 0) & (b_f <= np.log(CONFIG.time_steps - 1)))
    np.testing.assert_allclose(b_i, -b_f)
    np.testing.assert_array_equal(bias[8:], 0.0)


def test_forget0_zeroes_and_update1_sets_the_update_gate_input_bias():
    _, _, lstm_bias = _weights("lstm", "forget0")
    np.testing.assert_array_equal(lstm_bias, 0.0)
    _, _, gru_bias = _weights("gru", "update1")  # [2, 3 units]: (input, recurrent) x (z, r, h)
    np.testing.assert_array_equal(gru_bias[0, :4], 1.0)
    np.testing.assert_array_equal(gru_bias[0, 4:], 0.0)
    np.testing.assert_array_equal(gru_bias[1], 0.0)


def test_unknown_variant_is_refused_naming_it():
    with pytest.raises(ValueError, match="`init` must be one of .*received 'he'"):
        init.initialised_model("simple", "he", CONFIG, seed=0)


def test_forget_bias_one_carries_the_gradient_further_than_zero_at_step_0():
    """Rates at init: σ(1) + ρ/4 ≈ 0.98 with bias 1, ½ + ρ/4 = 0.75 with bias 0: over
    19 steps the ratio differs by (0.98/0.75)^19, about 150."""
    ratios = {v: init.init_case("lstm", v, CONFIG)["grad_ratio_at_init"]
              for v in ("forget1", "forget0")}
    assert ratios["forget1"] > 10 * ratios["forget0"]
