"""The gradient instruments measure the real layers, exactly.

Every instrument is checked against an independent computation in float64 (1e-10):
a hand-written NumPy backward recursion, a second tape through the real layer split
in two, the analytic Jacobian of the tanh cell. Then the promise of Pascanu, Mikolov &
Bengio (2013): gradients vanish below spectral radius 1 and grow above it.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel import gradients
from lowlevel.tolerances import assert_close

F64 = tf.float64
KINDS = ["SimpleRNN", "LSTM", "GRU"]


def _orthogonal(rng, n, width):
    """``[n, width]`` built from ``width / n`` random orthogonal ``[n, n]`` blocks."""
    return np.concatenate([np.linalg.qr(rng.normal(size=(n, n)))[0]
                           for _ in range(width // n)], axis=1)


def _layer(kind, units=4, input_dim=3, seed=0, bias_scale=0.3, **kwargs):
    """A float64 layer with seeded weights (biases non-zero so every term counts)."""
    layer = getattr(lowlevel, kind)(units, input_dim=input_dim, dtype=F64, **kwargs)
    rng = np.random.default_rng(seed)
    kernel, recurrent, *bias = layer.get_weights()
    weights = [rng.normal(0, 0.6, kernel.shape),
               _orthogonal(rng, units, recurrent.shape[1])]
    weights += [rng.normal(0, bias_scale, b.shape) for b in bias]
    layer.set_weights(weights)
    return layer


def _inputs(batch=3, time=5, features=3, scale=1.0, seed=1):
    return np.random.default_rng(seed).normal(0, scale, (batch, time, features))


def _half_sum_of_squares(y):
    return 0.5 * tf.reduce_sum(y * y)


def _one_trace_for_all_lengths(layer):
    """The layer's own ``_forward``, compiled once for every sequence length."""
    layer._compiled_forward = tf.function(layer._forward, reduce_retracing=True)
    return layer


# ------------------------------------------------- the rebuilt output is the layer's
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_rebuilt_output_equals_layer_call(kind, return_sequences):
    layer = _layer(kind, return_sequences=return_sequences)
    x = _inputs()
    state = [tf.constant(np.random.default_rng(2).normal(0, 0.5, (3, 4)))
             for _ in range(layer.cell.state_count)]
    for initial_state in (None, state):
        rebuilt, _ = gradients.state_gradients(layer, x, _half_sum_of_squares, initial_state)
        assert_close(rebuilt, layer(x, initial_state=initial_state), F64,
                     f"{kind} rebuilt output")


# --------------------------------------------- ∂L/∂h_t against independent computations
@pytest.mark.parametrize("return_sequences", [False, True])
def test_simple_rnn_state_gradients_equal_numpy_backward_recursion(return_sequences):
    """δ_{T-1} = ∂L/∂y_{T-1};  δ_{t-1} = (δ_t ⊙ (1 - h_t²)) Uᵀ + ∂L/∂y_{t-1}."""
    layer = _layer("SimpleRNN", units=5, return_sequences=return_sequences)
    w, u, b = layer.get_weights()
    x = _inputs(batch=4, time=7)
    h0 = np.random.default_rng(3).normal(0, 0.5, (4, 5))

    hs, h = [], h0  # forward in NumPy
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ w + h @ u + b)
        hs.append(h)
    # L = ½ Σ y², so ∂L/∂y_t = y_t for every output that enters the loss.
    direct = [hs[t] if return_sequences or t == len(hs) - 1 else np.zeros_like(h)
              for t in range(len(hs))]
    deltas = [None] * len(hs)
    deltas[-1] = direct[-1]
    for t in range(len(hs) - 1, 0, -1):
        deltas[t - 1] = (deltas[t] * (1 - hs[t] ** 2)) @ u.T + direct[t - 1]
    expected = np.stack(deltas, axis=1)  # [batch, time, units]

    _, grads = gradients.state_gradients(layer, x, _half_sum_of_squares, [h0])
    assert_close(grads, expected, F64, "∂L/∂h_t")
    norms = gradients.state_gradient_norms(layer, x, _half_sum_of_squares, [h0])
    assert_close(norms, np.linalg.norm(expected, axis=(0, 2)), F64, "‖∂L/∂h_t‖")


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_gated_state_gradients_equal_tape_through_split_layer(kind, return_sequences):
    """∂L/∂h_t from a second tape: the real layer run over x[:, :t+1], then again over
    x[:, t+1:] from the watched state (h_t, c_t) as its initial_state."""
    layer = _layer(kind, return_sequences=return_sequences)
    cell = layer.cell
    x = tf.constant(_inputs(time=5))
    time = x.shape[1]
    head = _one_trace_for_all_lengths(
        lowlevel.RNN(cell, return_sequences=True, return_state=True))
    tail = _one_trace_for_all_lengths(lowlevel.RNN(cell, return_sequences=True))

    _, grads = gradients.state_gradients(layer, x, _half_sum_of_squares)
    for t in range(time):
        sequence, *states = head(x[:, :t + 1])  # [batch, t+1, units], [h_t(, c_t)]
        h_t = tf.identity(states[0])
        with tf.GradientTape() as tape:
            tape.watch(h_t)
            rest = [h_t[:, None]]
            if t < time - 1:
                rest.append(tail(x[:, t + 1:], initial_state=[h_t, *states[1:]]))
            rest = tf.concat(rest, axis=1)  # [batch, time - t, units]
            output = (tf.concat([sequence[:, :t], rest], axis=1) if return_sequences
                      else rest[:, -1])
            loss = _half_sum_of_squares(output)
        assert_close(grads[:, t], tape.gradient(loss, h_t), F64, f"{kind} ∂L/∂h_{t}")


def test_lstm_cell_state_gradients_equal_tape_through_split_layer():
    """∂L/∂c_t (h_t held fixed) from a second tape: the layer over x[:, :t+1], then over
    x[:, t+1:] from the state (h_t, c_t) with c_t watched."""
    layer = _layer("LSTM")
    x = tf.constant(_inputs(time=5))
    head = _one_trace_for_all_lengths(lowlevel.RNN(layer.cell, return_state=True))
    tail = _one_trace_for_all_lengths(lowlevel.RNN(layer.cell))
    _, (grads_h, grads_c) = gradients.all_state_gradients(layer, x, _half_sum_of_squares)
    _, expected_h = gradients.state_gradients(layer, x, _half_sum_of_squares)
    assert_close(grads_h, expected_h, F64, "∂L/∂h_t of all_state_gradients")
    for t in range(x.shape[1] - 1):
        _, h_t, c_t = head(x[:, :t + 1])
        c_t = tf.identity(c_t)
        with tf.GradientTape() as tape:
            tape.watch(c_t)
            loss = _half_sum_of_squares(tail(x[:, t + 1:], initial_state=[h_t, c_t]))
        assert_close(grads_c[:, t], tape.gradient(loss, c_t), F64, f"∂L/∂c_{t}")
    # At the last step L = ½‖h_T‖², h_T held fixed: c_T reaches L only through h_T.
    assert_close(grads_c[:, -1], tf.zeros_like(grads_c[:, -1]), F64, "∂L/∂c_T")


@pytest.mark.parametrize("kind", KINDS)
def test_stack_norms_equal_each_layer_with_the_rest_of_the_stack_in_the_loss(kind):
    bottom = _layer(kind, input_dim=3, return_sequences=True, seed=4)
    top = _layer(kind, input_dim=4, seed=5)
    x = _inputs(time=4)
    norms = gradients.stack_state_gradient_norms([bottom, top], x, _half_sum_of_squares)
    expected_bottom = gradients.state_gradient_norms(
        bottom, x, lambda y: _half_sum_of_squares(top(y)))
    expected_top = gradients.state_gradient_norms(top, bottom(x), _half_sum_of_squares)
    assert_close(norms[0], expected_bottom, F64, "bottom layer norms")
    assert_close(norms[1], expected_top, F64, "top layer norms")


# ------------------------------------------------------------------ one-step Jacobians
def test_simple_rnn_step_jacobian_is_diag_one_minus_h_squared_times_u_transpose():
    cell = _layer("SimpleRNN", units=5).cell
    w, u, b = cell.get_weights()
    rng = np.random.default_rng(6)
    x_t, h_prev = rng.normal(size=(4, 3)), rng.normal(0, 0.5, (4, 5))
    h = np.tanh(x_t @ w + h_prev @ u + b)
    expected = (1 - h ** 2)[:, :, None] * u.T[None]  # [batch, out, in]

    jacobians = gradients.step_jacobians(cell, x_t, [h_prev])
    assert_close(jacobians, expected, F64, "J = diag(1 - h²) Uᵀ")
    assert_close(gradients.spectral_norms(jacobians),
                 [np.linalg.norm(j, 2) for j in expected], F64, "‖J‖_2")


def test_lstm_step_jacobian_of_c_wrt_c_prev_is_diag_f():
    """S = 2 * units for the state (h, c); in c = f * c_prev + i * g, ∂c/∂c_prev = diag(f)."""
    cell = _layer("LSTM").cell
    w, u, b = cell.get_weights()
    rng = np.random.default_rng(7)
    x_t, h_prev, c_prev = rng.normal(size=(3, 3)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    f = 1 / (1 + np.exp(-(x_t @ w + h_prev @ u + b)[:, 4:8]))

    jacobians = gradients.step_jacobians(cell, x_t, [h_prev, c_prev])
    assert jacobians.shape == (3, 8, 8)
    assert_close(jacobians[:, 4:, 4:], f[:, :, None] * np.eye(4)[None], F64, "∂c/∂c_prev")


@pytest.mark.parametrize("kind", KINDS)
def test_jacobian_product_norms_equal_norm_of_tape_jacobian_of_final_state(kind):
    """Row T-1 is ‖∂s_T/∂s_0‖_2, the Jacobian taken row by row through the real layer."""
    cell = _layer(kind).cell
    x = tf.constant(_inputs(time=4))
    s0 = tf.constant(np.random.default_rng(8).normal(0, 0.5, (3, 4 * cell.state_count)))
    layer = lowlevel.RNN(cell, return_state=True)

    def final_state_row(i):  # ∂ Σ_b s_T[b, i] / ∂s_0: row i of every example's Jacobian
        with tf.GradientTape() as tape:
            tape.watch(s0)
            _, *states = layer(x, initial_state=tf.split(s0, cell.state_count, axis=-1))
            s_final = tf.concat(states, axis=-1)  # [batch, S]
            total = tf.reduce_sum(s_final[:, i])
        return tape.gradient(total, s0)  # [batch, S]

    # Examples are independent, so summing over the batch mixes nothing.
    jacobians = tf.stack([final_state_row(i) for i in range(s0.shape[1])], axis=1).numpy()
    expected = [np.linalg.norm(j, 2) for j in jacobians]

    initial = tf.split(s0, cell.state_count, axis=-1)
    norms = gradients.jacobian_product_norms(cell, x, initial)
    assert norms.shape == (4, 3)
    assert_close(norms[-1], expected, F64, "‖∂s_T/∂s_0‖_2")
    assert_close(gradients.jacobian_product_norms(cell, x, initial, k=4), expected, F64, "k=4")


# ---------------------------------------------------------- recurrent_kernel spectrum
@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_spectrum_matches_numpy_whole_and_per_gate(kind):
    cell = _layer(kind).cell
    u = cell.recurrent_kernel.numpy()
    spectrum = gradients.recurrent_spectrum(cell)
    assert_close(spectrum["singular_values"], np.linalg.svd(u, compute_uv=False), F64, "σ(U)")
    assert (spectrum["spectral_radius"] is None) == (kind != "SimpleRNN")
    for g, name in enumerate(gradients.gate_names(cell)):
        block = u[:, 4 * g:4 * (g + 1)]
        assert_close(spectrum["gates"][name]["spectral_radius"],
                     np.max(np.abs(np.linalg.eigvals(block))), F64, f"ρ(U_{name})")


@pytest.mark.parametrize("by", ["spectral_radius", "singular_value"])
@pytest.mark.parametrize("kind, gate", [("SimpleRNN", None), ("SimpleRNN", "h"),
                                        ("LSTM", "f"), ("LSTM", "o"), ("GRU", "z"),
                                        ("GRU", "h")])
def test_rescale_recurrent_kernel_hits_target_and_leaves_other_gates(kind, gate, by):
    cell = _layer(kind).cell
    before = cell.recurrent_kernel.numpy()
    factor = gradients.rescale_recurrent_kernel(cell, 0.7, by=by, gate=gate)
    spectrum = gradients.recurrent_spectrum(cell)
    part = spectrum if gate is None else spectrum["gates"][gate]
    measured = part["spectral_radius"] if by == "spectral_radius" else part["singular_values"][0]
    assert_close(measured, 0.7, F64, f"{by} after rescaling")
    expected = before.copy()
    names = gradients.gate_names(cell)
    cols = slice(None) if gate is None else slice(4 * names.index(gate), 4 * names.index(gate) + 4)
    expected[:, cols] *= factor
    assert_close(cell.recurrent_kernel, expected, F64, "only the chosen block scaled")


def _clone_with(layer, **changes):
    twin = type(layer).from_config({**layer.get_config(), **changes})
    twin.build(layer.cell.kernel.shape[0])
    twin.set_weights(layer.get_weights())
    return twin


@pytest.mark.parametrize("kind", KINDS)
def test_state_gradients_of_a_right_padded_sequence_equal_those_of_its_unpadded_prefix(kind):
    """Masked steps carry the state unchanged: ∂L/∂h_t = 0 there, the prefix's elsewhere."""
    layer = _layer(kind)
    x = _inputs(time=6)
    mask = np.arange(6)[None, :] < 4  # every example: 4 real steps, 2 of padding
    output, grads = gradients.state_gradients(layer, x, _half_sum_of_squares,
                                              mask=np.repeat(mask, 3, axis=0))
    expected_output, expected = gradients.state_gradients(layer, x[:, :4],
                                                          _half_sum_of_squares)
    assert_close(output, expected_output, F64, "output")
    assert_close(grads[:, :4], expected, F64, "∂L/∂h_t, real steps")
    assert np.all(grads.numpy()[:, 4:] == 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_state_gradients_going_backwards_equal_those_of_the_reversed_sequence(kind):
    """go_backwards=True reads x_{T-1} first: grads[:, k] belongs to the k-th step taken."""
    forward = _layer(kind)
    backward = _clone_with(forward, go_backwards=True)
    x = _inputs()
    output, grads = gradients.state_gradients(backward, x, _half_sum_of_squares)
    expected_output, expected = gradients.state_gradients(forward, x[:, ::-1],
                                                          _half_sum_of_squares)
    assert_close(output, expected_output, F64, "output")
    assert_close(grads, expected, F64, "∂L/∂h_t in the order taken")


def test_instruments_refuse_what_they_do_not_measure_with_a_message():
    softsign = _layer("SimpleRNN", activation="softsign", go_backwards=True)
    with pytest.raises(NotImplementedError, match="go_backwards"):
        gradients.state_gradient_norms(softsign, _inputs(), _half_sum_of_squares)
    with pytest.raises(NotImplementedError, match="mask"):
        gradients.state_gradient_norms(_layer("SimpleRNN", activation="softsign"), _inputs(),
                                       _half_sum_of_squares, mask=np.ones((3, 5), bool))
    with pytest.raises(NotImplementedError, match="go_backwards"):
        gradients.stack_state_gradient_norms([_layer("GRU", go_backwards=True)], _inputs(),
                                             _half_sum_of_squares)
    with pytest.raises(ValueError, match="return_sequences"):
        gradients.stack_state_gradient_norms([_layer("GRU"), _layer("GRU", input_dim=4)],
                                             _inputs(), _half_sum_of_squares)
    lstm = _layer("LSTM").cell
    with pytest.raises(ValueError, match="square"):
        gradients.rescale_recurrent_kernel(lstm, 1.0)
    with pytest.raises(ValueError, match="'i', 'f', 'c', 'o'"):
        gradients.rescale_recurrent_kernel(lstm, 1.0, gate="z")
    with pytest.raises(ValueError, match="`by`"):
        gradients.rescale_recurrent_kernel(lstm, 1.0, by="norm", gate="i")
    with pytest.raises(ValueError, match="`k`"):
        gradients.jacobian_product_norms(lstm, _inputs(), k=6)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_rescale_whole_fused_kernel_by_singular_value_hits_target(kind):
    cell = _layer(kind).cell
    gradients.rescale_recurrent_kernel(cell, 2.5, by="singular_value")
    assert_close(gradients.recurrent_spectrum(cell)["singular_values"][0], 2.5, F64, "σ_max(U)")


# ------------------------------------------------ Pascanu et al.: vanish below, grow above
def _tanh_rnn_norms(radius, input_scale, bias_scale):
    """‖∂L/∂h_t‖ of a tanh SimpleRNN (32 units, T = 50, batch 16), L on the last output."""
    layer = _layer("SimpleRNN", units=32, input_dim=3, seed=9, bias_scale=bias_scale)
    gradients.rescale_recurrent_kernel(layer.cell, radius)  # orthogonal: all σ = radius
    x = _inputs(batch=16, time=50, scale=input_scale, seed=10)
    return gradients.state_gradient_norms(layer, x, lambda y: tf.reduce_sum(y))


def test_gradients_vanish_at_spectral_radius_one_half():
    norms = _tanh_rnn_norms(radius=0.5, input_scale=0.1, bias_scale=0.1)
    assert norms[0] < 1e-6 * norms[-1]
    assert np.all(np.diff(norms) > 0)  # shrinks at every step away from the loss


def test_gradients_grow_at_spectral_radius_1_1_near_the_linear_regime():
    norms = _tanh_rnn_norms(radius=1.1, input_scale=0.01, bias_scale=0.0)
    assert norms[0] > norms[-1]


def test_spectral_radius_zero_can_explode_because_the_largest_singular_value_decides():
    """Pascanu et al.'s conditions are on σ_max(U), not ρ(U): U = 1.5 [[1, 1], [-1, -1]]
    has ρ = 0 and σ_max = 3; with unit 2 switched off (ReLU, large negative bias) every
    J_t = diag(1, 0) Uᵀ and the product of k of them is 1.5^k [[1, -1], [0, 0]]."""
    layer = lowlevel.SimpleRNN(2, activation="relu", input_dim=1, dtype=F64)
    u = 1.5 * np.array([[1.0, 1.0], [-1.0, -1.0]])
    layer.set_weights([np.zeros((1, 2)), u, np.array([1.0, -1e12])])
    spectrum = gradients.recurrent_spectrum(layer.cell)
    assert spectrum["spectral_radius"] < 1e-6
    np.testing.assert_allclose(spectrum["singular_values"][0], 3.0, rtol=1e-12)
    norms = gradients.jacobian_product_norms(layer.cell, np.zeros((1, 40, 1)))[:, 0]
    expected = 1.5 ** np.arange(1, 41) * np.sqrt(2.0)  # ‖[[1, -1], [0, 0]]‖_2 = √2
    assert_close(norms, expected, F64, "‖J_T ... J_{T-k+1}‖")
    assert norms[-1] > 1.5e7
