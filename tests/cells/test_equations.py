"""Every cell equation recomputed in NumPy from the split fused weights.

The weights are random and non-zero, set with ``set_weights``; the NumPy side splits
each fused matrix by columns in Keras's gate order (LSTM i, f, c, o; GRU z, r, h) and
recomputes every gate. All comparisons are in float64 against the one tolerance table
(:mod:`lowlevel.tolerances`), eagerly and under ``tf.function``. The gradients are
checked against five-point central differences, also in float64.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

F64 = tf.float64
BATCH, INPUT_DIM, UNITS = 3, 4, 5
MODES = ["eager", "function"]


# ------------------------------------------------------------ NumPy reference

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x):
    # Keras 3: relu6(x + 3) / 6.
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def relu(x):
    return np.maximum(x, 0.0)


NP_ACTIVATIONS = {"tanh": np.tanh, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid,
                  "relu": relu}


def split_columns(w, gates):
    """``w [..., G*u]`` -> G arrays ``[..., u]``, in fused column order."""
    return np.split(w, gates, axis=-1)


def np_simple_rnn(x, h_prev, kernel, recurrent_kernel, bias, act):
    z = x @ kernel + h_prev @ recurrent_kernel
    return act(z + (0.0 if bias is None else bias))


def np_lstm(x, h_prev, c_prev, kernel, recurrent_kernel, bias, act, ract):
    """Every gate from the split weights; returns a dict of the named quantities."""
    W_i, W_f, W_c, W_o = split_columns(kernel, 4)
    U_i, U_f, U_c, U_o = split_columns(recurrent_kernel, 4)
    b_i, b_f, b_c, b_o = split_columns(bias, 4) if bias is not None else (0.0,) * 4
    i = ract(x @ W_i + h_prev @ U_i + b_i)
    f = ract(x @ W_f + h_prev @ U_f + b_f)
    g = act(x @ W_c + h_prev @ U_c + b_c)
    o = ract(x @ W_o + h_prev @ U_o + b_o)
    c = f * c_prev + i * g
    h = o * act(c)
    return dict(i=i, f=f, g=g, o=o, c=c, h=h)


def np_gru(x, h_prev, kernel, recurrent_kernel, bias, act, ract, reset_after):
    W_z, W_r, W_h = split_columns(kernel, 3)
    U_z, U_r, U_h = split_columns(recurrent_kernel, 3)
    if bias is None:
        b_in = b_rec = np.zeros(kernel.shape[-1])
    elif reset_after:
        b_in, b_rec = bias[0], bias[1]  # bias [2, 3u] = (input bias, recurrent bias)
    else:
        b_in, b_rec = bias, np.zeros_like(bias)  # bias [3u]
    bi_z, bi_r, bi_h = split_columns(b_in, 3)
    br_z, br_r, br_h = split_columns(b_rec, 3)
    z = ract(x @ W_z + bi_z + h_prev @ U_z + br_z)
    r = ract(x @ W_r + bi_r + h_prev @ U_r + br_r)
    if reset_after:
        h_hat = act(x @ W_h + bi_h + r * (h_prev @ U_h + br_h))
    else:
        h_hat = act(x @ W_h + bi_h + (r * h_prev) @ U_h)
    h = z * h_prev + (1.0 - z) * h_hat
    return dict(z=z, r=r, h_hat=h_hat, h=h)


# -------------------------------------------------------------------- helpers

def nonzero(rng, shape, scale=0.8):
    """Random values bounded away from zero, both signs."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.0, size=shape) * scale


def random_weights(cell, rng):
    """Random non-zero weights of the cell's shapes, set with ``set_weights``."""
    weights = [nonzero(rng, tuple(w.shape)) for w in cell.weights]
    cell.set_weights(weights)
    return weights


def make_cell(kind, units=UNITS, **kwargs):
    """``gru`` is ``reset_after=True`` (Keras's default), ``gru_v1`` ``reset_after=False``."""
    kwargs.setdefault("dtype", F64)
    if kind == "simple":
        return lowlevel.SimpleRNNCell(units, **kwargs)
    if kind == "lstm":
        return lowlevel.LSTMCell(units, **kwargs)
    if kind == "gru":
        return lowlevel.GRUCell(units, reset_after=True, **kwargs)
    if kind == "gru_v1":
        return lowlevel.GRUCell(units, reset_after=False, **kwargs)
    raise AssertionError(kind)


def call_cell(cell, x, states, mode):
    """``cell(x, states)`` eagerly, or through a fresh ``tf.function``."""
    fn = (lambda a, s: cell(a, s)) if mode == "eager" else tf.function(lambda a, s: cell(a, s))
    out, new_states = fn(tf.constant(x), [tf.constant(s) for s in states])
    return out.numpy(), [s.numpy() for s in new_states]


def cell_inputs(rng, state_count):
    x = nonzero(rng, (BATCH, INPUT_DIM))
    states = [nonzero(rng, (BATCH, UNITS)) for _ in range(state_count)]
    return x, states


# ------------------------------------------------------------------ SimpleRNN

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_cell_h_is_activation_of_x_W_plus_b_plus_h_prev_U(activation, mode, device):
    rng = np.random.default_rng(0)
    cell = make_cell("simple", activation=activation, input_dim=INPUT_DIM)
    W, U, b = random_weights(cell, rng)
    x, (h_prev,) = cell_inputs(rng, 1)

    out, (h,) = call_cell(cell, x, [h_prev], mode)

    expected = np_simple_rnn(x, h_prev, W, U, b, NP_ACTIVATIONS[activation])
    assert_close(out, expected, F64, "output h")
    assert_close(h, expected, F64, "state h")


# ----------------------------------------------------------------------- LSTM

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation, recurrent_activation",
                         [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_lstm_cell_state_is_f_c_prev_plus_i_g(activation, recurrent_activation, mode, device):
    rng = np.random.default_rng(1)
    cell = make_cell("lstm", activation=activation,
                     recurrent_activation=recurrent_activation, input_dim=INPUT_DIM)
    W, U, b = random_weights(cell, rng)
    x, (h_prev, c_prev) = cell_inputs(rng, 2)

    _, (_, c) = call_cell(cell, x, [h_prev, c_prev], mode)

    ref = np_lstm(x, h_prev, c_prev, W, U, b, NP_ACTIVATIONS[activation],
                  NP_ACTIVATIONS[recurrent_activation])
    assert_close(c, ref["f"] * c_prev + ref["i"] * ref["g"], F64, "c = f * c_prev + i * g")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation, recurrent_activation",
                         [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_lstm_cell_output_is_o_times_activation_of_c(activation, recurrent_activation, mode,
                                                      device):
    rng = np.random.default_rng(2)
    cell = make_cell("lstm", activation=activation,
                     recurrent_activation=recurrent_activation, input_dim=INPUT_DIM)
    W, U, b = random_weights(cell, rng)
    x, (h_prev, c_prev) = cell_inputs(rng, 2)

    out, (h, c) = call_cell(cell, x, [h_prev, c_prev], mode)

    act = NP_ACTIVATIONS[activation]
    ref = np_lstm(x, h_prev, c_prev, W, U, b, act, NP_ACTIVATIONS[recurrent_activation])
    # h from the cell's own c, so this checks the output equation on its own.
    assert_close(h, ref["o"] * act(c), F64, "h = o * activation(c)")
    assert_close(out, h, F64, "output is h")
    assert_close(h, ref["h"], F64, "h from the NumPy gates")


def test_lstm_gate_order_is_i_f_c_o():
    # Saturate one gate block at a time through its bias and read the effect off c and h.
    cell = make_cell("lstm", input_dim=INPUT_DIM)
    zeros = [np.zeros(tuple(w.shape)) for w in cell.weights]
    x = np.ones((1, INPUT_DIM))
    h_prev, c_prev = np.zeros((1, UNITS)), np.full((1, UNITS), 0.5)

    def with_bias(block_values):
        b = np.concatenate([np.full(UNITS, v) for v in block_values])
        cell.set_weights([zeros[0], zeros[1], b])
        _, (h, c) = cell(tf.constant(x), [tf.constant(h_prev), tf.constant(c_prev)])
        return h.numpy(), c.numpy()

    big = 40.0  # sigmoid(40) == 1 and sigmoid(-40) ~ 4e-18 in float64
    # i = 1, f = 0, g = tanh(1), o = 1: c = tanh(1), h = tanh(tanh(1)).
    h, c = with_bias([big, -big, 1.0, big])
    assert_close(c, np.full((1, UNITS), np.tanh(1.0)), F64, "c with i=1, f=0")
    assert_close(h, np.tanh(c), F64, "h with o=1")
    # i = 0, f = 1, o = 0: c = c_prev, h = 0.
    h, c = with_bias([-big, big, 1.0, -big])
    assert_close(c, c_prev, F64, "c with i=0, f=1")
    np.testing.assert_allclose(h, 0.0, atol=1e-15)


# ------------------------------------------------------------------------ GRU

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation, recurrent_activation",
                         [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_gru_reset_after_h_hat_is_act_of_x_Wh_plus_b_in_plus_r_times_h_prev_Uh_plus_b_rec(
        activation, recurrent_activation, mode, device):
    rng = np.random.default_rng(3)
    cell = make_cell("gru", activation=activation,
                     recurrent_activation=recurrent_activation, input_dim=INPUT_DIM)
    assert tuple(cell.bias.shape) == (2, 3 * UNITS)
    W, U, b = random_weights(cell, rng)
    x, (h_prev,) = cell_inputs(rng, 1)

    out, (h,) = call_cell(cell, x, [h_prev], mode)

    ref = np_gru(x, h_prev, W, U, b, NP_ACTIVATIONS[activation],
                 NP_ACTIVATIONS[recurrent_activation], reset_after=True)
    assert_close(h, ref["z"] * h_prev + (1.0 - ref["z"]) * ref["h_hat"], F64,
                 "h = z * h_prev + (1 - z) * h_hat")
    assert_close(out, h, F64, "output is h")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation, recurrent_activation",
                         [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_gru_reset_before_h_hat_is_act_of_x_Wh_plus_r_h_prev_Uh_plus_b(
        activation, recurrent_activation, mode, device):
    rng = np.random.default_rng(4)
    cell = make_cell("gru_v1", activation=activation,
                     recurrent_activation=recurrent_activation, input_dim=INPUT_DIM)
    assert tuple(cell.bias.shape) == (3 * UNITS,)
    W, U, b = random_weights(cell, rng)
    x, (h_prev,) = cell_inputs(rng, 1)

    out, (h,) = call_cell(cell, x, [h_prev], mode)

    ref = np_gru(x, h_prev, W, U, b, NP_ACTIVATIONS[activation],
                 NP_ACTIVATIONS[recurrent_activation], reset_after=False)
    assert_close(h, ref["z"] * h_prev + (1.0 - ref["z"]) * ref["h_hat"], F64,
                 "h = z * h_prev + (1 - z) * h_hat")
    assert_close(out, h, F64, "output is h")


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_update_gate_one_keeps_h_prev_and_zero_takes_h_hat(reset_after):
    # Keras's convention h = z * h_prev + (1 - z) * h_hat (Sonnet's is the opposite).
    rng = np.random.default_rng(5)
    cell = make_cell("gru" if reset_after else "gru_v1", input_dim=INPUT_DIM)
    W, U, b = random_weights(cell, rng)
    x, (h_prev,) = cell_inputs(rng, 1)
    for z_bias, expected in [(40.0, "h_prev"), (-40.0, "h_hat")]:
        W[:, :UNITS], U[:, :UNITS] = 0.0, 0.0
        b_in = b[0] if reset_after else b
        b_in[:UNITS] = z_bias
        if reset_after:
            b[1][:UNITS] = 0.0
        cell.set_weights([W, U, b])
        _, (h,) = cell(tf.constant(x), [tf.constant(h_prev)])
        ref = np_gru(x, h_prev, W, U, b, np.tanh, sigmoid, reset_after)
        assert_close(h.numpy(), h_prev if expected == "h_prev" else ref["h_hat"], F64,
                     f"z = {'1' if z_bias > 0 else '0'} gives {expected}")


# ------------------------------------------------------------------- no bias

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["simple", "lstm", "gru", "gru_v1"])
def test_use_bias_false_drops_the_bias_from_weights_and_equations(kind, mode):
    rng = np.random.default_rng(6)
    cell = make_cell(kind, use_bias=False, input_dim=INPUT_DIM)
    assert cell.bias is None
    assert [_short_name(v) for v in cell.trainable_variables] == ["kernel", "recurrent_kernel"]
    W, U = random_weights(cell, rng)
    x, states = cell_inputs(rng, cell.state_count)

    out, new_states = call_cell(cell, x, states, mode)

    if kind == "simple":
        expected = [np_simple_rnn(x, states[0], W, U, None, np.tanh)]
    elif kind == "lstm":
        ref = np_lstm(x, *states, W, U, None, np.tanh, sigmoid)
        expected = [ref["h"], ref["c"]]
    else:
        expected = [np_gru(x, states[0], W, U, None, np.tanh, sigmoid, kind == "gru")["h"]]
    assert_close(out, expected[0], F64, "output")
    for i, (got, want) in enumerate(zip(new_states, expected)):
        assert_close(got, want, F64, f"states[{i}]")


# ---------------------------------------------------------- initial weights

def test_lstm_unit_forget_bias_initialises_bias_as_zeros_ones_zeros_zeros():
    cell = lowlevel.LSTMCell(UNITS, unit_forget_bias=True, input_dim=INPUT_DIM)
    expected = np.concatenate([np.zeros(UNITS), np.ones(UNITS), np.zeros(2 * UNITS)])
    np.testing.assert_array_equal(cell.bias.numpy(), expected)


def test_lstm_without_unit_forget_bias_initialises_bias_with_the_initializer():
    cell = lowlevel.LSTMCell(UNITS, unit_forget_bias=False, input_dim=INPUT_DIM)
    np.testing.assert_array_equal(cell.bias.numpy(), np.zeros(4 * UNITS))


# ------------------------------------------------------------ variable layout

def _short_name(variable):
    return variable.name.split("/")[-1].split(":")[0]


@pytest.mark.parametrize("kind, gates, bias_shape", [
    ("simple", 1, (UNITS,)),
    ("lstm", 4, (4 * UNITS,)),
    ("gru", 3, (2, 3 * UNITS)),
    ("gru_v1", 3, (3 * UNITS,)),
])
def test_variables_are_named_shaped_and_ordered_as_keras(kind, gates, bias_shape):
    cell = make_cell(kind, input_dim=INPUT_DIM)
    names = [_short_name(v) for v in cell.trainable_variables]
    shapes = [tuple(v.shape) for v in cell.trainable_variables]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    assert shapes == [(INPUT_DIM, gates * UNITS), (UNITS, gates * UNITS), bias_shape]
    assert [v.dtype for v in cell.trainable_variables] == [F64] * 3
    # weights, variables and trainable_variables are the same objects, in one order.
    assert list(cell.trainable_variables) == cell.weights == list(cell.variables)
    assert all(v.trainable for v in cell.trainable_variables)


@pytest.mark.parametrize("layer_class", [lowlevel.SimpleRNN, lowlevel.LSTM, lowlevel.GRU])
def test_layer_trainable_variables_are_its_cell_s_in_keras_order(layer_class):
    layer = layer_class(UNITS, input_dim=INPUT_DIM)
    assert [_short_name(v) for v in layer.trainable_variables] == \
        ["kernel", "recurrent_kernel", "bias"]
    assert list(layer.trainable_variables) == layer.cell.weights


def test_get_weights_and_set_weights_round_trip_in_keras_order():
    rng = np.random.default_rng(7)
    cell = make_cell("lstm", input_dim=INPUT_DIM)
    weights = random_weights(cell, rng)
    for got, want in zip(cell.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cell.kernel.numpy(), weights[0])
    np.testing.assert_array_equal(cell.recurrent_kernel.numpy(), weights[1])
    np.testing.assert_array_equal(cell.bias.numpy(), weights[2])


@pytest.mark.parametrize("kind, state_size", [
    ("simple", UNITS), ("lstm", [UNITS, UNITS]), ("gru", UNITS), ("gru_v1", UNITS),
])
def test_state_size_and_output_size_are_keras_s(kind, state_size):
    cell = make_cell(kind)
    assert cell.state_size == state_size
    assert cell.output_size == UNITS


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_get_initial_state_is_zeros_of_batch_by_units_per_state(kind, dtype):
    cell = make_cell(kind, dtype=dtype)
    states = cell.get_initial_state(BATCH)
    assert len(states) == (2 if kind == "lstm" else 1)
    for s in states:
        assert s.shape == (BATCH, UNITS) and s.dtype == dtype
        np.testing.assert_array_equal(s.numpy(), 0.0)


# ------------------------------------------------------------ when weights exist

@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_weights_exist_right_after_construction_with_input_dim(kind):
    cell = make_cell(kind, input_dim=INPUT_DIM)
    assert cell.built and len(cell.weights) == 3
    assert cell.kernel.shape[0] == INPUT_DIM and cell.input_dim == INPUT_DIM


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_weights_exist_after_build_with_input_shape(kind):
    cell = make_cell(kind)
    cell.build(input_shape=(None, INPUT_DIM))
    assert cell.built and len(cell.weights) == 3
    assert cell.kernel.shape[0] == INPUT_DIM


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["simple", "lstm", "gru"])
def test_weights_are_built_lazily_on_first_call_without_input_dim(kind, mode):
    cell = make_cell(kind)
    assert not cell.built and cell.weights == [] and cell.trainable_variables == ()
    x = np.ones((BATCH, INPUT_DIM))
    call_cell(cell, x, [np.zeros((BATCH, UNITS))] * cell.state_count, mode)
    assert cell.built and len(cell.trainable_variables) == 3
    assert cell.kernel.shape[0] == INPUT_DIM


def test_set_weights_builds_an_unbuilt_cell_from_the_kernel_shape():
    rng = np.random.default_rng(8)
    cell = make_cell("gru")
    weights = [nonzero(rng, s) for s in [(INPUT_DIM, 3 * UNITS), (UNITS, 3 * UNITS),
                                         (2, 3 * UNITS)]]
    cell.set_weights(weights)
    assert cell.built and cell.input_dim == INPUT_DIM
    np.testing.assert_array_equal(cell.get_weights()[2], weights[2])


# ----------------------------------------------------------- finite differences

FD_STEP = 1e-3


def five_point_gradient(f, x0):
    """d f / d x0 by five-point central differences (truncation error O(h^4))::

        f'(x) ~ (-f(x + 2h) + 8 f(x + h) - 8 f(x - h) + f(x - 2h)) / (12 h)

    With h = 1e-3 in float64 the truncation (~h^4) and rounding (~eps / h) errors are
    both near 1e-13, well inside the float64 tolerance.
    """
    x0 = np.array(x0, dtype=np.float64)
    grad = np.zeros_like(x0)
    for idx in np.ndindex(x0.shape):
        def at(delta):
            x = x0.copy()
            x[idx] += delta
            return float(f(x))
        h = FD_STEP
        grad[idx] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return grad


def numeric_gradients(loss, inputs, variables):
    """Numeric gradients of ``loss(inputs)`` w.r.t. each input array, then each variable."""
    grads = []
    for k in range(len(inputs)):
        def f(value, k=k):
            return loss([value if j == k else a for j, a in enumerate(inputs)])
        grads.append(five_point_gradient(f, inputs[k]))
    for v in variables:
        saved = v.numpy()

        def f(value, v=v):
            v.assign(value)
            return loss(inputs)
        grads.append(five_point_gradient(f, saved))
        v.assign(saved)
    return grads


def analytic_gradients(loss_tf, inputs, variables, mode):
    def grads(*tensors):
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = loss_tf(list(tensors))
        return tape.gradient(value, list(tensors) + list(variables))
    fn = grads if mode == "eager" else tf.function(grads)
    return [g.numpy() for g in fn(*[tf.constant(a) for a in inputs])]


@pytest.mark.parametrize("kind", ["simple", "lstm", "gru", "gru_v1"])
def test_cell_gradients_match_finite_differences_wrt_inputs_states_and_weights(kind):
    rng = np.random.default_rng(9)
    units, input_dim, batch = 2, 3, 2
    cell = make_cell(kind, units=units, input_dim=input_dim)
    random_weights(cell, rng)
    inputs = [nonzero(rng, (batch, input_dim))] + \
        [nonzero(rng, (batch, units)) for _ in range(cell.state_count)]
    # A random linear read-out of the output and of every new state.
    readout = [nonzero(rng, (batch, units)) for _ in range(1 + cell.state_count)]

    def loss_tf(tensors):
        out, new_states = cell(tensors[0], tensors[1:])
        return sum(tf.reduce_sum(r * t) for r, t in zip(readout, [out, *new_states]))

    def loss_np(arrays):
        return loss_tf([tf.constant(a) for a in arrays]).numpy()

    numeric = numeric_gradients(loss_np, inputs, cell.trainable_variables)
    names = ["x_t"] + [f"states[{i}]" for i in range(cell.state_count)] + \
        [_short_name(v) for v in cell.trainable_variables]
    for mode in MODES:
        analytic = analytic_gradients(loss_tf, inputs, cell.trainable_variables, mode)
        for name, a, n in zip(names, analytic, numeric):
            assert_close(a, n, F64, f"{mode}: d loss / d {name}")


@pytest.mark.parametrize("layer_class", [lowlevel.SimpleRNN, lowlevel.LSTM, lowlevel.GRU])
def test_layer_gradients_match_finite_differences_wrt_inputs_states_and_weights(layer_class):
    rng = np.random.default_rng(10)
    units, input_dim, batch, time = 2, 2, 2, 3
    layer = layer_class(units, input_dim=input_dim, dtype=F64, return_sequences=True,
                        return_state=True)
    random_weights(layer.cell, rng)
    n_states = layer.cell.state_count
    inputs = [nonzero(rng, (batch, time, input_dim))] + \
        [nonzero(rng, (batch, units)) for _ in range(n_states)]
    readout = [nonzero(rng, (batch, time, units))] + \
        [nonzero(rng, (batch, units)) for _ in range(n_states)]

    def loss_tf(tensors):
        sequence, *states = layer(tensors[0], initial_state=list(tensors[1:]))
        return sum(tf.reduce_sum(r * t) for r, t in zip(readout, [sequence, *states]))

    def loss_np(arrays):
        return loss_tf([tf.constant(a) for a in arrays]).numpy()

    analytic = analytic_gradients(loss_tf, inputs, layer.trainable_variables, "eager")
    numeric = numeric_gradients(loss_np, inputs, layer.trainable_variables)
    names = ["inputs"] + [f"initial_state[{i}]" for i in range(n_states)] + \
        [_short_name(v) for v in layer.trainable_variables]
    for name, a, n in zip(names, analytic, numeric):
        assert_close(a, n, F64, f"d loss / d {name}")
