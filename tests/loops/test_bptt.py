"""The hand-written backpropagation through time (:mod:`lowlevel.loops.bptt`).

Its gradients must equal GradientTape's automatic gradient of the reference unroll
(float64 1e-10, float32 1e-5) for every cell and option, and its per-step state
gradients ``δh̃_t = ∂L/∂h_t`` must equal the probed tape of
:func:`lowlevel.gradients.state_gradients`. Keras parity of ``implementation='bptt'``
is in ``tests/loops/test_implementations.py``.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel import gradients
from lowlevel.loops import bptt
from lowlevel.tolerances import assert_close
from traced_graphs import count, nodes

CELLS = [("SimpleRNN", {}), ("SimpleRNN", {"activation": "relu", "use_bias": False}),
         ("LSTM", {}), ("LSTM", {"recurrent_activation": "hard_sigmoid", "use_bias": False}),
         ("GRU", {}), ("GRU", {"reset_after": False}),
         ("GRU", {"reset_after": False, "use_bias": False, "activation": "linear"})]


def _pair(kind, extra, dtype, **options):
    ref = getattr(lowlevel, kind)(4, input_dim=3, dtype=dtype, implementation="reference",
                                  **extra, **options)
    ours = getattr(lowlevel, kind)(4, input_dim=3, dtype=dtype, implementation="bptt",
                                   **extra, **options)
    rng = np.random.default_rng(1)
    weights = [rng.normal(0, 0.6, w.shape) for w in ref.get_weights()]
    ref.set_weights(weights)
    ours.set_weights(weights)
    return ref, ours


def _loss_and_grads(layer, x, states, mask):
    @tf.function
    def run(x, states):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            out = tf.nest.flatten(layer(x, initial_state=states, mask=mask))
            loss = tf.add_n([tf.reduce_sum(tf.sin(1.0 + 0.3 * o) * o) for o in out])
        return loss, tape.gradient(loss, [x, *states, *layer.trainable_variables])
    return run(x, states)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask-go-backwards"])
@pytest.mark.parametrize("kind,extra", CELLS, ids=[k + str(e) for k, e in CELLS])
def test_bptt_gradients_equal_gradient_tape_of_the_reference_unroll(kind, extra, masked,
                                                                     dtype):
    options = dict(return_sequences=True, return_state=True, go_backwards=masked)
    ref, ours = _pair(kind, extra, dtype, **options)
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(3, 7, 3)), dtype)
    states = [tf.constant(rng.normal(size=(3, 4)), dtype) for _ in range(ref.cell.state_count)]
    mask = tf.constant(rng.random((3, 7)) < 0.6) if masked else None
    expected_loss, expected = _loss_and_grads(ref, x, states, mask)
    loss, got = _loss_and_grads(ours, x, states, mask)
    assert_close(loss, expected_loss, dtype, "loss")
    names = ["x", *[f"state{i}" for i in range(len(states))],
             *[v.name for v in ref.trainable_variables]]
    for name, a, b in zip(names, got, expected):
        assert_close(a, b, dtype, f"∂L/∂{name}")


def _half_sum_of_squares(y):
    return 0.5 * tf.reduce_sum(y * y)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind,extra", CELLS[::2], ids=[k + str(e) for k, e in CELLS[::2]])
def test_bptt_state_gradients_equal_the_probed_tape_of_the_instruments(kind, extra,
                                                                       return_sequences):
    """δh̃_t = ∂L/∂h_t (c_t held fixed): the hand-written backward's own δ equals the tape's."""
    _, layer = _pair(kind, extra, "float64", return_sequences=return_sequences)
    x = np.random.default_rng(3).normal(size=(2, 6, 3))
    expected_output, expected = gradients.state_gradients(layer, x, _half_sum_of_squares)
    output, deltas = bptt.state_gradients(layer, x, _half_sum_of_squares)
    assert_close(output, expected_output, tf.float64, "rebuilt output")
    assert_close(deltas, expected, tf.float64, "∂L/∂h_t")


def test_bptt_state_gradient_is_zero_at_masked_steps_and_follows_the_loss_elsewhere():
    _, layer = _pair("LSTM", {}, "float64", return_sequences=True)
    x = np.random.default_rng(4).normal(size=(2, 5, 3))
    mask = np.array([[True, False, True, True, False], [True, True, True, True, True]])
    _, deltas = bptt.state_gradients(layer, x, _half_sum_of_squares, mask=tf.constant(mask))
    norms = np.linalg.norm(deltas.numpy(), axis=-1)  # [batch, time]
    assert np.all(norms[~mask] == 0.0)
    assert np.all(norms[mask] > 0.0)


def test_supports_only_single_cells_with_known_activation_derivatives():
    assert bptt.supports(lowlevel.LSTMCell(2))
    assert bptt.supports(lowlevel.GRUCell(2, reset_after=False, activation="relu"))
    assert not bptt.supports(lowlevel.SimpleRNNCell(2, activation="softsign"))
    assert not bptt.supports(lowlevel.StackedCells([lowlevel.LSTMCell(2)]))


def _transposing_matmuls_in_loop_bodies(layer):
    """How many ``MatMul(transpose_b=True)`` the while loops of ``layer``'s traced
    training graph (forward and hand-written backward) run, per step of each loop."""
    x = tf.zeros([2, 5, 3], layer.dtype)

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, layer.trainable_variables)

    bodies = nodes(gradients.get_concrete_function(x), in_functions=lambda name: "body" in name)
    return count(bodies, "MatMul", transpose_b=True)


@pytest.mark.parametrize("kind,extra", CELLS, ids=[f"{k}{e}" for k, e in CELLS])
def test_the_backward_chain_multiplies_by_the_recurrent_kernel_transposed_once(kind, extra):
    """``δh_prev = (δa Uᵀ) ⊙ m_h`` against a ``Uᵀ`` formed before the reverse loop
    (``backward_operands``), not ``tf.matmul(δa, U, transpose_b=True)`` at every step.
    The control: autodiff of the reference loop multiplies with ``transpose_b``."""
    reference, ours = _pair(kind, extra, tf.float64)
    assert _transposing_matmuls_in_loop_bodies(reference) > 0
    assert _transposing_matmuls_in_loop_bodies(ours) == 0
