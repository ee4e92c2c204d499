"""The initialisation study's variants set the weights they name, and the forget
bias shows in the gradient at step 0 as the closed forms say."""

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps.lab import init
from lowlevel.cells.gru import gru_gates
from lowlevel.cells.lstm import lstm_gates

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


CHRONO = init.InitConfig(time_steps=40, units=400)


def _gates_at_rest(cell):
    """The gates of one step of ``cell``'s chrono model at ``x = 0``, ``h = c = 0``:
    the keep rate (LSTM ``f``, GRU ``z``) and the write rate (LSTM ``i``, GRU ``1 - z``)."""
    rnn = init.initialised_model(cell, "chrono", CHRONO, seed=0).rnn.cell
    zero_x, zero_h = tf.zeros([1, 2]), tf.zeros([1, CHRONO.units])
    weights = (rnn.kernel, rnn.recurrent_kernel, rnn.bias, rnn.activation,
               rnn.recurrent_activation)
    if cell == "lstm":
        i, f = lstm_gates(zero_x, zero_h, zero_h, *weights)[2][:2]
        return f.numpy()[0], i.numpy()[0]
    z = gru_gates(zero_x, zero_h, zero_h, *weights, rnn.reset_after)[1][0].numpy()[0]
    return z, 1 - z


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chrono_forgetting_times_are_uniform_on_2_to_T_max(cell):
    """Keep rate σ(b) = 1 - 1/τ with τ - 1 ~ U(1, T_max - 1): for the LSTM's forget gate
    and for Keras's GRU update gate z (h = z h_prev + (1 - z) ĥ), so b_z > 0."""
    keep, write = _gates_at_rest(cell)
    np.testing.assert_allclose(write, 1 - keep, rtol=1e-5, atol=1e-6)  # LSTM: b_i = -b_f
    assert np.all(keep >= 0.5 - 1e-6)  # b >= 0: the gate keeps at least half the state
    tau = 1 / (1 - keep.astype(np.float64))
    assert tau.min() >= 2 - 1e-3 and tau.max() <= CHRONO.time_steps * (1 + 1e-3)
    u = np.sort((tau - 2) / (CHRONO.time_steps - 2))  # U(0, 1) if τ ~ U(2, T_max)
    ks = np.max(np.abs(u - np.arange(1, u.size + 1) / u.size))  # Kolmogorov–Smirnov
    assert ks < 1.63 / np.sqrt(u.size)  # 1% level
    assert u.max() > 0.9 and u.min() < 0.1  # the whole range, not a part of it


def test_chrono_gru_state_decays_as_z_to_the_steps_with_its_forgetting_time():
    """With U = 0 and x = 0 the candidate is 0, so the GRU's state is z^k h_0 after k
    steps: the 1/e time -1/log z lies in [τ - 1, τ] for τ = 1/(1 - z)."""
    model = init.initialised_model("gru", "chrono", CHRONO, seed=0)
    rnn = model.rnn.cell
    rnn.recurrent_kernel.assign(tf.zeros_like(rnn.recurrent_kernel))
    z, _ = _gates_at_rest("gru")
    h = tf.ones([1, CHRONO.units])
    for _ in range(10):
        h = gru_gates(tf.zeros([1, 2]), h, h, rnn.kernel, rnn.recurrent_kernel, rnn.bias,
                      rnn.activation, rnn.recurrent_activation, rnn.reset_after)[0]
    np.testing.assert_allclose(h.numpy()[0], z ** 10, rtol=1e-4)
    e_time, tau = -1 / np.log(z.astype(np.float64)), 1 / (1 - z.astype(np.float64))
    assert np.all((e_time >= tau - 1 - 1e-6) & (e_time <= tau + 1e-6))


def test_chrono_needs_a_horizon_above_2_and_is_lstm_or_gru_only():
    with pytest.raises(ValueError, match="`time_steps` > 2; received 2"):
        init.chrono_bias(np.random.default_rng(0), 4, 2)
    with pytest.raises(ValueError, match="for cell 'simple'; received 'chrono'"):
        init.initialised_model("simple", "chrono", CONFIG, seed=0)


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
