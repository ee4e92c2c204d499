"""Dropout semantics: inverted scaling, one mask per sequence, fresh masks per call.

Masks follow Gal & Ghahramani (2016): one input mask and one recurrent mask per
sequence batch, reused at every time step; kept entries are scaled by 1 / (1 - rate).
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.cells import dropout_mask
from lowlevel.tolerances import assert_close

F64 = tf.float64
BATCH, TIME, INPUT_DIM, UNITS = 3, 5, 4, 5
LAYERS = [lowlevel.SimpleRNN, lowlevel.LSTM, lowlevel.GRU]
CELLS = [lowlevel.SimpleRNNCell, lowlevel.LSTMCell, lowlevel.GRUCell]


def random_weights(module, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=0.6, size=w.shape) for w in module.weights]
    module.set_weights(weights)
    return weights


def sequence(seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, TIME, INPUT_DIM))


def step_inputs(cell, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(BATCH, INPUT_DIM)), cell.dtype)
    states = [tf.constant(rng.normal(size=(BATCH, UNITS)), cell.dtype)
              for _ in range(cell.state_count)]
    return x, states


# --------------------------------------------------------------- the mask itself

@pytest.mark.parametrize("rate, dtype", [
    (0.3, tf.float32),
    (0.5, tf.float32),
    (0.5, tf.float64),
    (0.3, tf.float64),
])
def test_dropout_mask_entries_are_exactly_zero_or_one_over_one_minus_rate(rate, dtype):
    mask = dropout_mask(tf.random.Generator.from_seed(1), [50, 40], rate, dtype)
    assert mask.dtype == dtype and mask.shape == (50, 40)
    kept = np.asarray(1.0, dtype.as_numpy_dtype) / np.asarray(1.0 - rate, dtype.as_numpy_dtype)
    assert set(np.unique(mask.numpy())) == {0.0, kept}


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.6])
def test_dropout_mask_drops_a_fraction_rate_and_keeps_the_mean_at_one(rate):
    # 200,000 entries: the standard error of both statistics is below 0.004.
    mask = dropout_mask(tf.random.Generator.from_seed(2), [400, 500], rate, tf.float64).numpy()
    assert np.mean(mask == 0.0) == pytest.approx(rate, abs=0.01)
    assert np.mean(mask) == pytest.approx(1.0, abs=0.01)


def test_dropout_mask_of_rate_zero_is_none():
    assert dropout_mask(tf.random.Generator.from_seed(3), [2, 3], 0.0, tf.float32) is None


def test_cell_without_dropout_draws_no_masks():
    cell = lowlevel.LSTMCell(UNITS, input_dim=INPUT_DIM)
    assert cell.draw_dropout_masks(BATCH) == (None, None)


# ------------------------------------------------------------ where masks apply

def test_simple_rnn_step_with_masks_equals_the_step_on_masked_x_and_h_prev():
    cell = lowlevel.SimpleRNNCell(UNITS, input_dim=INPUT_DIM, dtype=F64)
    random_weights(cell, 0)
    x, (h,) = step_inputs(cell)
    m_x, m_h = dropout_mask(tf.random.Generator.from_seed(0), [BATCH, INPUT_DIM], 0.5, F64), \
        dropout_mask(tf.random.Generator.from_seed(1), [BATCH, UNITS], 0.5, F64)
    out, _ = cell.step(x, [h], (m_x, m_h))
    expected, _ = cell.step(x * m_x, [h * m_h])
    assert_close(out, expected, F64, "h = act((x * m_x) W + b + (h_prev * m_h) U)")


def test_lstm_recurrent_dropout_multiplies_h_prev_and_never_c_prev():
    cell = lowlevel.LSTMCell(UNITS, input_dim=INPUT_DIM, dtype=F64)
    random_weights(cell, 1)
    x, (h, c) = step_inputs(cell)
    dropped_h = tf.zeros([BATCH, UNITS], F64)  # the extreme mask: every unit dropped
    _, (h1, c1) = cell.step(x, [h, c], (None, dropped_h))
    _, (h2, c2) = cell.step(x, [tf.zeros_like(h), c])
    assert_close(c1, c2, F64, "c with h_prev dropped: c_prev kept")
    assert_close(h1, h2, F64, "h with h_prev dropped")


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_recurrent_dropout_feeds_the_gates_but_not_the_interpolation(reset_after):
    # With the update gate saturated at z = 1 the step is h = h_prev; that h_prev is the
    # undropped one, as in Keras.
    cell = lowlevel.GRUCell(UNITS, input_dim=INPUT_DIM, dtype=F64, reset_after=reset_after)
    W, U, b = random_weights(cell, 2)
    W[:, :UNITS], U[:, :UNITS] = 0.0, 0.0
    (b[0] if reset_after else b)[:UNITS] = 40.0
    cell.set_weights([W, U, b])
    x, (h,) = step_inputs(cell)
    out, _ = cell.step(x, [h], (None, tf.zeros([BATCH, UNITS], F64)))
    assert_close(out, h, F64, "h = z * h_prev + (1 - z) * h_hat with z = 1")


# ----------------------------------------------------------- training on / off

@pytest.mark.parametrize("layer_class", LAYERS)
def test_training_false_never_drops(layer_class):
    with_dropout = layer_class(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=0,
                               input_dim=INPUT_DIM, dtype=F64, return_sequences=True)
    without = layer_class(UNITS, input_dim=INPUT_DIM, dtype=F64, return_sequences=True)
    without.set_weights(random_weights(with_dropout, 3))
    x = sequence()
    np.testing.assert_array_equal(with_dropout(x, training=False), without(x))
    np.testing.assert_array_equal(with_dropout(x), without(x))  # the default
    cell_x, cell_states = step_inputs(with_dropout.cell)
    np.testing.assert_array_equal(with_dropout.cell(cell_x, cell_states, training=False)[0],
                                  without.cell(cell_x, cell_states)[0])


@pytest.mark.parametrize("layer_class", LAYERS)
def test_training_true_with_dropout_changes_the_output(layer_class):
    layer = layer_class(UNITS, dropout=0.4, recurrent_dropout=0.4, seed=1,
                        input_dim=INPUT_DIM, dtype=F64)
    random_weights(layer, 4)
    x = sequence()
    assert not np.allclose(layer(x, training=True), layer(x, training=False))


# ------------------------------------------------------ one mask per sequence

@pytest.mark.parametrize("layer_class", LAYERS)
def test_layer_uses_one_mask_pair_at_every_step_of_a_sequence(layer_class):
    layer = layer_class(UNITS, dropout=0.3, recurrent_dropout=0.4, seed=5,
                        input_dim=INPUT_DIM, dtype=F64, return_sequences=True,
                        return_state=True)
    random_weights(layer, 5)
    cell, x = layer.cell, sequence(1)
    saved = cell._rng.state.numpy()  # the generator state the layer will draw from

    outputs, *final_states = layer(x, training=True)

    # Replay: the same draws from the same state, then one explicit mask pair for all steps.
    cell._rng.reset(saved)
    masks = cell.draw_dropout_masks(BATCH)
    assert all(np.any(m.numpy() == 0.0) for m in masks), "the masks must drop something"
    states = cell.get_initial_state(BATCH)
    for t in range(TIME):
        output, states = cell.step(tf.constant(x[:, t]), states, masks)
        assert_close(outputs[:, t], output, F64, f"step {t} with the sequence's masks")
    for i, (got, want) in enumerate(zip(final_states, states)):
        assert_close(got, want, F64, f"final state {i}")


@pytest.mark.parametrize("layer_class", LAYERS)
def test_two_training_calls_of_a_layer_use_different_masks(layer_class):
    layer = layer_class(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=6,
                        input_dim=INPUT_DIM, dtype=F64)
    random_weights(layer, 6)
    x = sequence()
    first, second = layer(x, training=True), layer(x, training=True)
    assert not np.allclose(first, second)


def test_seeded_cells_draw_the_same_masks_and_other_seeds_other_masks():
    def masks(seed):
        cell = lowlevel.GRUCell(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=seed,
                                input_dim=INPUT_DIM)
        return [m.numpy() for m in cell.draw_dropout_masks(BATCH)]
    for a, b in zip(masks(7), masks(7)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(masks(7), masks(8)))


def test_seeded_layers_with_equal_weights_give_equal_training_outputs():
    def run():
        layer = lowlevel.LSTM(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=9,
                              input_dim=INPUT_DIM, dtype=F64)
        random_weights(layer, 9)
        return layer(sequence(), training=True).numpy()
    np.testing.assert_array_equal(run(), run())


# ------------------------------------------------------------- hand stepping

@pytest.mark.parametrize("cell_class", CELLS)
def test_hand_stepped_eager_cell_reuses_its_mask_until_reset_dropout_mask(cell_class):
    cell = cell_class(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=10,
                      input_dim=INPUT_DIM, dtype=F64)
    random_weights(cell, 10)
    x, states = step_inputs(cell)

    first, _ = cell(x, states, training=True)
    again, _ = cell(x, states, training=True)
    np.testing.assert_array_equal(first, again)  # same inputs, same cached masks

    cell.reset_dropout_mask()
    fresh, _ = cell(x, states, training=True)
    assert not np.allclose(fresh, first)
    fresh_again, _ = cell(x, states, training=True)
    np.testing.assert_array_equal(fresh_again, fresh)


@pytest.mark.parametrize("cell_class", CELLS)
def test_hand_stepped_eager_cell_draws_new_masks_when_the_batch_size_changes(cell_class):
    """A new batch size can only be a new sequence batch (e.g. the last, partial one)."""
    cell = cell_class(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=13,
                      input_dim=INPUT_DIM, dtype=F64)
    random_weights(cell, 13)
    x, states = step_inputs(cell)
    cell(x, states, training=True)
    smaller, _ = cell(x[:2], [s[:2] for s in states], training=True)
    assert smaller.shape[0] == 2
    x_mask, h_mask = cell._cached_masks[1]
    assert x_mask.shape[0] == 2 and h_mask.shape[0] == 2


@pytest.mark.parametrize("cell_class", CELLS)
def test_each_tf_function_execution_draws_a_fresh_mask_used_by_all_its_steps(cell_class):
    cell = cell_class(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=11,
                      input_dim=INPUT_DIM, dtype=F64)
    random_weights(cell, 11)
    x, states = step_inputs(cell)

    @tf.function
    def three_steps(x, states):
        # The same x and states at each step: equal outputs mean one shared mask.
        return [cell(x, states, training=True)[0] for _ in range(3)]

    first = [o.numpy() for o in three_steps(x, states)]
    second = [o.numpy() for o in three_steps(x, states)]
    for outputs in (first, second):
        np.testing.assert_array_equal(outputs[1], outputs[0])
        np.testing.assert_array_equal(outputs[2], outputs[0])
    assert not np.allclose(first[0], second[0])

    # Masks cached by the trace never leak into eager code or another function
    # (no InaccessibleTensorError), in either order.
    eager, _ = cell(x, states, training=True)
    assert np.all(np.isfinite(eager))
    other = tf.function(lambda x, s: cell(x, s, training=True)[0])
    assert np.all(np.isfinite(other(x, states)))
    assert len(three_steps(x, states)) == 3


def test_hand_stepped_tf_range_loop_inside_tf_function_uses_one_mask_for_all_steps():
    cell = lowlevel.SimpleRNNCell(UNITS, dropout=0.5, seed=12, input_dim=INPUT_DIM, dtype=F64)
    random_weights(cell, 12)
    x, states = step_inputs(cell)

    @tf.function
    def loop(x, states):
        outputs = tf.TensorArray(F64, size=3)
        for t in tf.range(3):
            output, _ = cell(x, states, training=True)  # same x, states at each step
            outputs = outputs.write(t, output)
        return outputs.stack()

    outputs = loop(x, states).numpy()
    np.testing.assert_array_equal(outputs[1], outputs[0])
    np.testing.assert_array_equal(outputs[2], outputs[0])
