"""Promises of the long-memory tasks: formats, targets, determinism, stated baselines."""

import math

import numpy as np
import pytest

from lowlevel.apps.data import tasks


# ---------------------------------------------------------------- adding problem

def test_adding_problem_shapes_are_batch_time_2_and_batch_1_float32():
    inputs, targets = tasks.adding_problem(5, 12, seed=0)
    assert inputs.shape == (5, 12, 2) and inputs.dtype == np.float32
    assert targets.shape == (5, 1) and targets.dtype == np.float32


def test_adding_problem_has_exactly_one_marker_in_each_half():
    time_steps = 13
    inputs, _ = tasks.adding_problem(200, time_steps, seed=1)
    marker = inputs[:, :, 1]
    half = time_steps // 2
    assert set(np.unique(marker)) <= {0.0, 1.0}
    np.testing.assert_array_equal(marker[:, :half].sum(axis=1), 1.0)
    np.testing.assert_array_equal(marker[:, half:].sum(axis=1), 1.0)


def test_adding_problem_target_is_the_sum_of_the_two_marked_values():
    inputs, targets = tasks.adding_problem(100, 20, seed=2)
    values, marker = inputs[..., 0], inputs[..., 1]
    assert np.all((values >= 0.0) & (values < 1.0))
    np.testing.assert_allclose(targets[:, 0], (values * marker).sum(axis=1), rtol=1e-6)


def test_adding_problem_always_answering_one_has_mse_one_sixth():
    # (s - 1)^2 has standard deviation ~0.197, so 40,000 samples pin the mean to ~0.001.
    _, targets = tasks.adding_problem(40_000, 4, seed=3)
    mse = float(np.mean((targets - 1.0) ** 2))
    assert tasks.ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    assert mse == pytest.approx(tasks.ADDING_BASELINE_MSE, abs=0.005)


def test_adding_problem_same_seed_same_data_other_seed_other_data():
    a = tasks.adding_problem(4, 10, seed=7)
    b = tasks.adding_problem(4, 10, seed=7)
    c = tasks.adding_problem(4, 10, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(batch_size=0, time_steps=10), "batch_size"),
        (dict(batch_size=-3, time_steps=10), "batch_size"),
        (dict(batch_size=2, time_steps=1), "time_steps"),
        (dict(batch_size=2.0, time_steps=10), "batch_size"),
    ],
)
def test_adding_problem_rejects_bad_sizes_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*received"):
        tasks.adding_problem(**kwargs)


# ---------------------------------------------------------------- copy memory

def test_copy_memory_shapes_are_one_hot_inputs_and_integer_targets():
    inputs, targets = tasks.copy_memory(3, sequence_length=4, delay=6, num_symbols=5, seed=0)
    total = tasks.copy_memory_time_steps(4, 6)
    assert total == 2 * 4 + 6 + 1
    assert inputs.shape == (3, total, 5 + 2) and inputs.dtype == np.float32
    assert targets.shape == (3, total) and targets.dtype == np.int32
    np.testing.assert_array_equal(inputs.sum(axis=-1), 1.0)


def test_copy_memory_layout_is_symbols_blanks_delimiter_then_recall():
    length, delay, num_symbols = 5, 7, 8
    inputs, targets = tasks.copy_memory(50, length, delay, num_symbols, seed=1)
    ids = inputs.argmax(axis=-1)
    cue = length + delay
    symbols = ids[:, :length]
    assert np.all((symbols >= 1) & (symbols <= num_symbols))
    np.testing.assert_array_equal(ids[:, length:cue], 0)
    np.testing.assert_array_equal(ids[:, cue], num_symbols + 1)
    np.testing.assert_array_equal(ids[:, cue + 1:], 0)
    np.testing.assert_array_equal(targets[:, :cue + 1], 0)
    np.testing.assert_array_equal(targets[:, cue + 1:], symbols)


def test_copy_memory_zero_delay_puts_the_delimiter_right_after_the_symbols():
    inputs, _ = tasks.copy_memory(2, 3, 0, num_symbols=4, seed=0)
    np.testing.assert_array_equal(inputs.argmax(-1)[:, 3], 5)


def test_copy_memory_baseline_is_the_cross_entropy_of_the_best_memoryless_predictor():
    # The best predictor that ignores the inputs uses the per-step target marginals;
    # estimate them from data and compare its cross-entropy with the stated formula.
    length, delay, num_symbols = 6, 10, 8
    _, targets = tasks.copy_memory(20_000, length, delay, num_symbols, seed=2)
    classes = num_symbols + 2
    counts = np.stack([np.bincount(col, minlength=classes) for col in targets.T])  # [T, C]
    marginal = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_p = np.where(marginal > 0, np.log(marginal), 0.0)
    cross_entropy = -(marginal * log_p).sum(axis=1).mean()
    expected = tasks.copy_memory_baseline(length, delay, num_symbols)
    assert expected == pytest.approx(length * math.log(num_symbols) / (2 * length + delay + 1))
    assert cross_entropy == pytest.approx(expected, abs=0.002)


def test_copy_memory_recall_symbols_are_uniform_so_a_guess_costs_log_num_symbols():
    _, targets = tasks.copy_memory(20_000, 4, 3, num_symbols=8, seed=3)
    recall = targets[:, -4:].ravel()
    frequencies = np.bincount(recall, minlength=10)[1:9] / recall.size
    np.testing.assert_allclose(frequencies, 1 / 8, atol=0.01)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(batch_size=0, sequence_length=3, delay=2), "batch_size"),
        (dict(batch_size=1, sequence_length=0, delay=2), "sequence_length"),
        (dict(batch_size=1, sequence_length=3, delay=-1), "delay"),
        (dict(batch_size=1, sequence_length=3, delay=2, num_symbols=1), "num_symbols"),
    ],
)
def test_copy_memory_rejects_bad_sizes_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*received"):
        tasks.copy_memory(**kwargs)


def test_copy_memory_same_seed_same_data():
    a = tasks.copy_memory(3, 4, 5, seed=11)
    b = tasks.copy_memory(3, 4, 5, seed=11)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ---------------------------------------------------------------- temporal order

def test_temporal_order_shapes_are_one_hot_8_and_class_ids():
    inputs, targets = tasks.temporal_order(4, 30, seed=0)
    assert inputs.shape == (4, 30, 8) and inputs.dtype == np.float32
    assert targets.shape == (4,) and targets.dtype == np.int32
    np.testing.assert_array_equal(inputs.sum(axis=-1), 1.0)


def test_temporal_order_windows_are_the_papers_for_100_steps():
    assert tasks.temporal_order_windows(100) == ((10, 20), (50, 60))


def test_temporal_order_class_is_the_order_of_x_and_y_in_their_windows():
    time_steps = 100
    inputs, targets = tasks.temporal_order(500, time_steps, seed=1)
    ids = inputs.argmax(axis=-1)
    symbols = np.array(tasks.TEMPORAL_ORDER_SYMBOLS)[ids]  # [B, T] letters
    (lo1, hi1), (lo2, hi2) = tasks.temporal_order_windows(time_steps)
    assert np.all(symbols[:, 0] == "E") and np.all(symbols[:, -1] == "B")
    for row, target in zip(symbols, targets):
        positions = np.flatnonzero((row == "X") | (row == "Y"))
        assert len(positions) == 2
        t1, t2 = positions
        assert lo1 <= t1 <= hi1 and lo2 <= t2 <= hi2
        assert set(row[1:-1][(row[1:-1] != "X") & (row[1:-1] != "Y")]) <= set("abcd")
        assert tasks.TEMPORAL_ORDER_CLASSES[target] == row[t1] + row[t2]


def test_temporal_order_classes_are_uniform_so_the_baseline_is_log_4():
    _, targets = tasks.temporal_order(20_000, 20, seed=2)
    frequencies = np.bincount(targets, minlength=4) / targets.size
    np.testing.assert_allclose(frequencies, 0.25, atol=0.015)
    entropy = -(frequencies * np.log(frequencies)).sum()
    assert tasks.TEMPORAL_ORDER_BASELINE_CE == pytest.approx(math.log(4))
    assert entropy == pytest.approx(tasks.TEMPORAL_ORDER_BASELINE_CE, abs=0.005)


def test_temporal_order_shortest_sequence_keeps_both_windows_inside():
    inputs, _ = tasks.temporal_order(200, 10, seed=3)
    ids = inputs.argmax(axis=-1)
    assert np.all(((ids == 6) | (ids == 7)).sum(axis=1) == 2)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(batch_size=0, time_steps=50), "batch_size"),
        (dict(batch_size=2, time_steps=9), "time_steps"),
    ],
)
def test_temporal_order_rejects_bad_sizes_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*received"):
        tasks.temporal_order(**kwargs)


def test_adding_remembering_one_number_has_mse_one_twelfth():
    """Answering u1 + E[u2] = u1 + 1/2 leaves the error u2 - 1/2, of variance 1/12."""
    inputs, targets = tasks.adding_problem(200_000, 20, seed=5)
    first = np.argmax(inputs[:, :10, 1], axis=1)  # the marker in the first half
    u1 = inputs[np.arange(len(inputs)), first, 0]
    mse = np.mean((u1 + 0.5 - targets[:, 0]) ** 2)
    assert tasks.ADDING_ONE_NUMBER_MSE == pytest.approx(1 / 12)
    assert mse == pytest.approx(tasks.ADDING_ONE_NUMBER_MSE, rel=0.01)


def test_copy_memory_baseline_is_arjovskys_10_log_8_over_T_plus_20():
    """Arjovsky et al.'s T is delay + 1; ten symbols from eight."""
    for their_t in (100, 200, 500):
        expected = 10 * math.log(8) / (their_t + 20)
        assert tasks.copy_memory_baseline(10, their_t - 1, 8) == pytest.approx(expected)
    _, targets = tasks.copy_memory(20_000, 10, 99, 8, seed=4)  # their T = 100
    recall = targets[:, -10:]  # a uniform guess over 8 symbols there, certainty elsewhere
    frequencies = np.bincount(recall.ravel(), minlength=10)[1:9] / recall.size
    measured = -np.sum(frequencies * np.log(frequencies)) * 10 / targets.shape[1]
    assert measured == pytest.approx(10 * math.log(8) / 120, rel=0.002)


def test_adding_accuracy_counts_sequences_within_hochreiter_schmidhubers_tolerance():
    targets = np.array([[1.0], [1.0], [1.0], [1.0]])
    predictions = np.array([[1.07], [0.93], [1.09], [0.5]])
    assert tasks.adding_accuracy(predictions, targets) == 0.5
    # Their 0.04 on targets 0.5 + (X1 + X2)/4 is 0.08 on u1 + u2: (u1 + u2) = 2 * theirs
    # after the change of variables X = 2u - 1.
    assert tasks.ADDING_TOLERANCE == pytest.approx(2 * 0.04)


def test_classification_accuracy_is_the_fraction_of_correct_argmax():
    logits = np.array([[[0.0, 1.0], [2.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])  # [2, 2, 2]
    assert tasks.classification_accuracy(logits, np.array([[1, 0], [0, 1]])) == 0.75
