"""Long-memory toy tasks: adding, copy memory and temporal order.

Seeded NumPy generators (no ``tf.data``) returning float32 inputs shaped
``[batch, time, features]`` and their targets. Each task states the loss of the best
*memoryless* strategy, the number a model must beat to show that it remembers:

| task | inputs | targets | baseline |
| --- | --- | --- | --- |
| ``adding_problem`` | ``[batch, time, 2]`` | ``[batch, 1]`` float32 | MSE 1/6 (always answer 1); 1/12 remembering one number |
| ``copy_memory`` | ``[batch, time, num_symbols + 2]`` one-hot | ``[batch, time]`` int32 | ``copy_memory_baseline(...)`` nats |
| ``temporal_order`` | ``[batch, time, 8]`` one-hot | ``[batch]`` int32 in 0..3 | log 4 nats |

Sources: Hochreiter & Schmidhuber 1997 (LSTM paper: the adding problem, experiment 4,
in a different variant, see :func:`adding_problem`; temporal order, experiment 6a);
Le, Jaitly & Hinton 2015 and Arjovsky, Shah & Bengio 2016 (the adding problem with one
marker per half, as here; copy memory with its memoryless baseline); Pascanu, Mikolov &
Bengio 2013 (the tasks used to study vanishing and exploding gradients).

Success criteria (:func:`adding_accuracy`, :func:`classification_accuracy`): Hochreiter &
Schmidhuber count a sequence as solved one by one, not by a mean loss: adding, absolute
error below 0.04 on their target scale ``0.5 + (X1 + X2) / 4`` (spread 1), which is 0.08
on this task's scale ``u1 + u2`` (spread 2); temporal order, every output unit within 0.3
of its target, so at least the right class. A mean squared error below 0.01 is looser:
it allows a few sequences with large errors.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# Var(u1 + u2) for two independent U(0, 1): 2 * 1/12. Always answering E[u1 + u2] = 1
# is the best constant guess, and its mean squared error is this variance.
ADDING_BASELINE_MSE = 1.0 / 6.0

# Remembering only one of the two numbers, u1 say, the best answer is u1 + E[u2] and
# its mean squared error is Var(u2) = 1/12: the plateau of a model that keeps one.
ADDING_ONE_NUMBER_MSE = 1.0 / 12.0

# Hochreiter & Schmidhuber 1997, exp. 4: |error| < 0.04 on targets 0.5 + (X1 + X2)/4,
# X in [-1, 1]; this task's targets u1 + u2, u in [0, 1), are spread twice as wide.
ADDING_TOLERANCE = 0.08

# temporal_order: 4 equally likely classes, distractors carry no information.
TEMPORAL_ORDER_BASELINE_CE = math.log(4.0)
TEMPORAL_ORDER_SYMBOLS = ("a", "b", "c", "d", "B", "E", "X", "Y")  # one-hot columns
TEMPORAL_ORDER_CLASSES = ("XX", "XY", "YX", "YY")  # target ids 0..3


def _int_at_least(value, argument: str, minimum: int, task: str) -> int:
    """``int(value)`` if it is an integer ``>= minimum``, else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{task}: `{argument}` must be an integer >= {minimum}; received {value!r}."
        )
    return int(value)


def adding_problem(batch_size: int, time_steps: int, seed=0):
    """The adding problem: remember two marked numbers and output their sum.

    Channel 0 holds ``u[b, t] ~ U[0, 1)``; channel 1 is a marker that is 1 at exactly two
    steps, ``t1`` uniform in ``[0, T//2)`` and ``t2`` uniform in ``[T//2, T)`` (one in
    each half: the variant of Le, Jaitly & Hinton 2015 and Arjovsky et al. 2016;
    Hochreiter & Schmidhuber's own, experiment 4, puts the first marker among the first
    ten steps and the second in the first half, on values in [-1, 1]), 0 elsewhere::

        inputs[b, t]  = (u[b, t], m[b, t])            # [batch, time, 2]
        targets[b, 0] = u[b, t1] + u[b, t2]            # [batch, 1]

    Baseline: the constant answer 1 = E[u1 + u2] has
    ``MSE = Var(u1 + u2) = 2 * 1/12 = 1/6 ~= 0.167`` (``ADDING_BASELINE_MSE``); a model
    that remembers one of the two numbers can reach ``Var(u2) = 1/12 ~= 0.083``
    (``ADDING_ONE_NUMBER_MSE``).

    Args:
        batch_size: number of sequences, >= 1.
        time_steps: sequence length ``T``, >= 2 (one marker per half).
        seed: anything ``np.random.default_rng`` accepts; same seed, same data.

    Returns:
        ``(inputs [batch, time, 2] float32, targets [batch, 1] float32)``.
    """
    batch_size = _int_at_least(batch_size, "batch_size", 1, "adding_problem")
    time_steps = _int_at_least(time_steps, "time_steps", 2, "adding_problem")
    rng = np.random.default_rng(seed)
    half = time_steps // 2
    values = rng.random((batch_size, time_steps), dtype=np.float32)  # [B, T]
    first = rng.integers(0, half, size=batch_size)  # [B], in the first half
    second = rng.integers(half, time_steps, size=batch_size)  # [B], in the second half
    rows = np.arange(batch_size)
    marker = np.zeros((batch_size, time_steps), dtype=np.float32)  # [B, T]
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    inputs = np.stack([values, marker], axis=-1)  # [B, T, 2]
    targets = (values[rows, first] + values[rows, second])[:, None]  # [B, 1]
    return inputs, targets.astype(np.float32)


def adding_accuracy(predictions, targets, tolerance: float = ADDING_TOLERANCE) -> float:
    """Fraction of sequences with ``|prediction - target| < tolerance`` (H&S's criterion).

    ``predictions, targets [batch, 1]``. The default 0.08 is Hochreiter & Schmidhuber's
    0.04 rescaled to this task's targets (``ADDING_TOLERANCE``).
    """
    error = np.abs(np.asarray(predictions, np.float64) - np.asarray(targets, np.float64))
    return float(np.mean(error < tolerance))


def classification_accuracy(logits, targets) -> float:
    """Fraction of positions whose ``argmax(logits)`` is the target class.

    ``logits [..., classes]``, ``targets [...]`` int. For ``copy_memory`` pass the recall
    steps only (``[:, -sequence_length:]``); the blanks before them are free.
    """
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(targets)))


def copy_memory_time_steps(sequence_length: int, delay: int) -> int:
    """Total length of a copy-memory sequence: ``2 * sequence_length + delay + 1``."""
    return 2 * sequence_length + delay + 1


def copy_memory_baseline(sequence_length: int, delay: int, num_symbols: int = 8) -> float:
    """Mean cross-entropy per step (nats) of the best memoryless strategy for ``copy_memory``.

    A model that can count but remembers nothing predicts the blank with certainty on the
    ``sequence_length + delay + 1`` steps before the recall (loss 0) and a uniform guess
    over the ``num_symbols`` symbols on the ``sequence_length`` recall steps (loss
    ``log(num_symbols)`` each). Averaged over all ``T = 2 * sequence_length + delay + 1``
    steps::

        baseline = sequence_length * log(num_symbols) / T

    (Arjovsky et al. 2016 state it as ``10 log 8 / (T + 20)`` for ``sequence_length =
    10``, ``num_symbols = 8`` and their ``T = delay + 1``: here ``2 * 10 + delay + 1 = T + 20``.)
    The recall steps alone have baseline ``log(num_symbols)``.
    """
    total = copy_memory_time_steps(sequence_length, delay)
    return sequence_length * math.log(num_symbols) / total


def copy_memory(batch_size: int, sequence_length: int, delay: int, num_symbols: int = 8,
                seed=0):
    """The copy-memory task: read symbols, wait, see the cue, then recall them in order.

    Alphabet of ``num_symbols + 2`` classes: 0 = blank, ``1..num_symbols`` = symbols,
    ``num_symbols + 1`` = delimiter (the cue). With ``L = sequence_length``, ``D = delay``
    and ``T = 2L + D + 1`` steps::

        step:     0 .. L-1     L .. L+D-1    L+D          L+D+1 .. T-1
        input:    s_1 .. s_L   blank * D     delimiter    blank * L
        target:   blank * L    blank * D     blank        s_1 .. s_L

    ``s_i`` are uniform over the ``num_symbols`` symbols. Arjovsky et al.'s ``T``
    (blanks plus delimiter between the symbols and the recall) is ``delay + 1`` here.
    Baseline: ``copy_memory_baseline(L, D, num_symbols) = L log(num_symbols) / T`` nats per
    step (``log(num_symbols)`` on the recall steps alone).

    Args:
        batch_size: number of sequences, >= 1.
        sequence_length: symbols to remember ``L``, >= 1.
        delay: blank steps between the last symbol and the delimiter ``D``, >= 0.
        num_symbols: size of the symbol alphabet, >= 2.
        seed: anything ``np.random.default_rng`` accepts.

    Returns:
        ``(inputs [batch, T, num_symbols + 2] float32 one-hot,
        targets [batch, T] int32 class ids)``.
    """
    batch_size = _int_at_least(batch_size, "batch_size", 1, "copy_memory")
    length = _int_at_least(sequence_length, "sequence_length", 1, "copy_memory")
    delay = _int_at_least(delay, "delay", 0, "copy_memory")
    num_symbols = _int_at_least(num_symbols, "num_symbols", 2, "copy_memory")
    rng = np.random.default_rng(seed)
    total = copy_memory_time_steps(length, delay)
    cue = length + delay  # position of the delimiter
    symbols = rng.integers(1, num_symbols + 1, size=(batch_size, length))  # [B, L]
    input_ids = np.zeros((batch_size, total), dtype=np.int32)  # [B, T], blank = 0
    input_ids[:, :length] = symbols
    input_ids[:, cue] = num_symbols + 1
    targets = np.zeros((batch_size, total), dtype=np.int32)  # [B, T]
    targets[:, cue + 1:] = symbols
    inputs = np.eye(num_symbols + 2, dtype=np.float32)[input_ids]  # [B, T, num_symbols + 2]
    return inputs, targets


def temporal_order_windows(time_steps: int):
    """The two windows (inclusive) where the relevant symbols appear.

    ``t1`` in ``[T//10, 2T//10]`` and ``t2`` in ``[T//2, 6T//10]``: for ``T = 100`` exactly
    Hochreiter & Schmidhuber's ``[10, 20]`` and ``[50, 60]``.
    """
    return (time_steps // 10, 2 * time_steps // 10), (time_steps // 2, 6 * time_steps // 10)


def temporal_order(batch_size: int, time_steps: int, seed=0):
    """Hochreiter & Schmidhuber's temporal order task (1997, experiment 6a).

    Each sequence starts with ``E``, ends with ``B``, and is otherwise filled with
    distractors drawn uniformly from ``a, b, c, d`` -- except at ``t1`` (uniform in
    ``[T//10, 2T//10]``) and ``t2`` (uniform in ``[T//2, 6T//10]``), which hold ``X`` or
    ``Y`` (each with probability 1/2). The class is the order of the two::

        class = 2 * [symbol at t1 is Y] + [symbol at t2 is Y]    # XX=0, XY=1, YX=2, YY=3

    Inputs are one-hot over ``TEMPORAL_ORDER_SYMBOLS = (a, b, c, d, B, E, X, Y)``. The
    paper draws the length in [100, 110]; here ``T`` is fixed per batch so the batch is a
    tensor. Baseline: the 4 classes are equally likely and the distractors say nothing,
    so the best memoryless cross-entropy is ``log 4 ~= 1.386`` nats
    (``TEMPORAL_ORDER_BASELINE_CE``).

    Args:
        batch_size: number of sequences, >= 1.
        time_steps: sequence length ``T``, >= 10 (two non-empty windows inside E ... B).
        seed: anything ``np.random.default_rng`` accepts.

    Returns:
        ``(inputs [batch, time, 8] float32 one-hot, targets [batch] int32 in 0..3)``.
    """
    batch_size = _int_at_least(batch_size, "batch_size", 1, "temporal_order")
    time_steps = _int_at_least(time_steps, "time_steps", 10, "temporal_order")
    rng = np.random.default_rng(seed)
    (lo1, hi1), (lo2, hi2) = temporal_order_windows(time_steps)
    b_id, e_id, x_id = 4, 5, 6  # columns of B, E, X in TEMPORAL_ORDER_SYMBOLS; Y = X + 1
    ids = rng.integers(0, 4, size=(batch_size, time_steps))  # [B, T] distractors a..d
    ids[:, 0] = e_id
    ids[:, -1] = b_id
    t1 = rng.integers(lo1, hi1 + 1, size=batch_size)  # [B]
    t2 = rng.integers(lo2, hi2 + 1, size=batch_size)  # [B]
    is_y = rng.integers(0, 2, size=(batch_size, 2))  # [B, 2]: symbol at t1, t2 is Y
    rows = np.arange(batch_size)
    ids[rows, t1] = x_id + is_y[:, 0]
    ids[rows, t2] = x_id + is_y[:, 1]
    targets = (2 * is_y[:, 0] + is_y[:, 1]).astype(np.int32)  # [B]
    inputs = np.eye(len(TEMPORAL_ORDER_SYMBOLS), dtype=np.float32)[ids]  # [B, T, 8]
    return inputs, targets
