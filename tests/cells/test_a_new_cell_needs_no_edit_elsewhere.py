"""A cell defined here, and nowhere else, runs everywhere a built-in cell runs.

The minimal gated unit (Zhou et al. 2016) below brings its forward step, its backward
step and its weights (the contract of :class:`lowlevel.cells.RecurrentCell`), and with no
edit to the library it runs in every time loop, stacks (``StackedCells`` and
``stack_layers``), goes into ``Bidirectional``, passes the parity harness against
autodiff of its own forward, and its hand-written BPTT gradient equals the tape's to
1e-10 in float64.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel import activations, parity
from lowlevel.cells.base import RecurrentCell, dropped, flat, sum_over_steps
from lowlevel.loops import registry
from lowlevel.tolerances import assert_close, tolerance

BATCH, TIME, FEATURES, UNITS = 3, 7, 4, 5
F64 = tf.float64


class MinimalGatedCell(RecurrentCell):
    """``h = h_prev + f ⊙ (ĥ - h_prev)``, one forget gate; columns f, h; state ``[h]``.

    Variables ``kernel [input_dim, 2*units]``, ``recurrent_kernel [units, 2*units]``,
    ``bias [2*units]``; ``σ`` the sigmoid, ``φ = activation``.
    """

    gates = 2
    state_count = 1

    def __init__(self, units, **kwargs):
        self.recurrent_activation = activations.get("sigmoid")
        super().__init__(units, **kwargs)

    def forward(self, x_t, states, weights, masks=(None, None), matmul=tf.matmul):
        """With ``x' = x_t ⊙ m_x``, ``h' = h_prev ⊙ m_h``::

            x_f, x_h = split(x' W + b)
            f  = σ(x_f + h' U_f)
            ĥ  = φ(x_h + (f ⊙ h') U_h)
            h  = h_prev + f ⊙ (ĥ - h_prev)
        """
        (h_prev,) = states
        kernel, recurrent_kernel, bias = weights
        u = self.units
        h_gates = dropped(h_prev, masks[1])
        x_proj = matmul(dropped(x_t, masks[0]), kernel)
        if bias is not None:
            x_proj = x_proj + bias
        x_f, x_h = tf.split(x_proj, 2, axis=-1)
        f = self.recurrent_activation(x_f + matmul(h_gates, recurrent_kernel[:, :u]))
        h_hat = self.activation(x_h + matmul(f * h_gates, recurrent_kernel[:, u:]))
        h = h_prev + f * (h_hat - h_prev)
        return h, [h], (f, h_hat, h_prev)

    def backward(self, saved, d_output, d_states, weights, masks=(None, None)):
        """::

            δh    = δoutput + δstate
            δa_h  = δh ⊙ f ⊙ φ'                        δ(f ⊙ h') = δa_h U_hᵀ
            δa_f  = (δh ⊙ (ĥ - h_prev) + δ(f ⊙ h') ⊙ h') ⊙ σ'
            δh_prev = (δa_f U_fᵀ + δ(f ⊙ h') ⊙ f) ⊙ m_h + δh ⊙ (1 - f)
        """
        f, h_hat, h_prev = saved
        _, recurrent_kernel, _ = weights
        u = self.units
        h_gates = dropped(h_prev, masks[1])
        d_h = d_output + d_states[0]
        d_ah = activations.derivative(self.activation)(h_hat, d_h * f)
        d_fh = tf.matmul(d_ah, recurrent_kernel[:, u:], transpose_b=True)
        d_af = activations.derivative(self.recurrent_activation)(
            f, d_h * (h_hat - h_prev) + d_fh * h_gates)
        d_h_gates = tf.matmul(d_af, recurrent_kernel[:, :u], transpose_b=True) + d_fh * f
        d_h_prev = dropped(d_h_gates, masks[1]) + d_h * (1.0 - f)
        return tf.concat([d_af, d_ah], axis=-1), [d_h_prev]

    def weight_gradients(self, xs, saved, d_pre, weights, masks=(None, None)):
        """``∂L/∂W = X'ᵀ δA``, ``∂L/∂U = [H'ᵀ δA_f, (f ⊙ H')ᵀ δA_h]``, ``∂L/∂b = Σ δA``."""
        f, _, h_prev = saved
        kernel, _, bias = weights
        u = self.units
        h_gates = dropped(h_prev, masks[1])
        d_kernel = sum_over_steps(dropped(xs, masks[0]), d_pre)
        d_recurrent = tf.concat([sum_over_steps(h_gates, d_pre[..., :u]),
                                 sum_over_steps(f * h_gates, d_pre[..., u:])], axis=-1)
        d_bias = None if bias is None else tf.reduce_sum(flat(d_pre), axis=0)
        d_xs = tf.reshape(tf.matmul(flat(d_pre), kernel, transpose_b=True), tf.shape(xs))
        return dropped(d_xs, masks[0]), (d_kernel, d_recurrent, d_bias)


def _cell(**kwargs):
    return MinimalGatedCell(UNITS, input_dim=FEATURES, dtype=F64, **kwargs)


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.5, shape) for shape in
            ([FEATURES, 2 * UNITS], [UNITS, 2 * UNITS], [2 * UNITS])]


def _data(seed=1):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)), F64)
    state = tf.constant(rng.normal(size=(BATCH, UNITS)), F64)
    mask = tf.constant(rng.random((BATCH, TIME)) < 0.7)
    return x, state, mask


def _outputs_and_gradients(model, x, mask=None, initial_state=None, training=False):
    """Every returned tensor, and ∂L/∂(x, initial states, weights) of a loss touching all."""
    initial_state = [] if initial_state is None else list(initial_state)

    @tf.function
    def run(x, initial_state):
        with tf.GradientTape() as tape:
            tape.watch([x, *initial_state])
            out = tf.nest.flatten(model(x, mask=mask, training=training,
                                        initial_state=initial_state or None))
            loss = tf.add_n([tf.reduce_sum(tf.sin(1.0 + 0.3 * o) * o) for o in out])
        return out, tape.gradient(loss, [x, *initial_state, *model.trainable_variables])

    return run(x, initial_state)


def _assert_all_close(got, expected, what):
    assert len(got) == len(expected), what
    for i, (a, b) in enumerate(zip(got, expected)):
        assert_close(a, b, F64, f"{what} [{i}]")


@pytest.mark.parametrize("implementation", list(registry.LOOPS))
@pytest.mark.parametrize("options", [
    {"return_sequences": True, "return_state": True},
    {"return_sequences": True, "go_backwards": True, "mask": True},
    {"return_state": True, "mask": True, "zero_output_for_mask": True},
], ids=["sequences-states", "backwards-mask", "zero-output-mask"])
def test_new_cell_in_every_loop_equals_autodiff_of_its_reference_loop(implementation, options):
    options = dict(options)
    x, state, mask = _data()
    mask = mask if options.pop("mask", False) else None
    twin, ours = (lowlevel.RNN(_cell(), implementation=impl, **options)
                  for impl in ("reference", implementation))
    for layer in (twin, ours):
        layer.set_weights(_weights())
    expected = _outputs_and_gradients(twin, x, mask, [state])
    got = _outputs_and_gradients(ours, x, mask, [state])
    _assert_all_close(got[0], expected[0], f"{implementation} outputs")
    _assert_all_close(got[1], expected[1], f"{implementation} gradients")


@pytest.mark.parametrize("implementation", ["reference", "bptt"])
def test_new_cell_with_dropout_equals_the_reference_loop_with_the_same_masks(implementation):
    x, _, mask = _data()
    twin, ours = (lowlevel.RNN(_cell(dropout=0.3, recurrent_dropout=0.4, seed=3),
                               return_sequences=True, implementation=impl)
                  for impl in ("reference", implementation))
    for layer in (twin, ours):
        layer.set_weights(_weights())
    expected = _outputs_and_gradients(twin, x, mask, training=True)
    got = _outputs_and_gradients(ours, x, mask, training=True)
    _assert_all_close(got[0] + got[1], expected[0] + expected[1], implementation)


def test_new_cell_bptt_gradient_equals_the_gradient_tape_to_1e_10_in_float64():
    x, state, mask = _data(seed=5)
    taped = lowlevel.RNN(_cell(), return_sequences=True, return_state=True,
                         implementation="reference")
    by_hand = lowlevel.RNN(_cell(), return_sequences=True, return_state=True,
                           implementation="bptt")
    for layer in (taped, by_hand):
        layer.set_weights(_weights(seed=6))
    _, expected = _outputs_and_gradients(taped, x, mask, [state])
    _, got = _outputs_and_gradients(by_hand, x, mask, [state])
    assert tolerance(F64) == 1e-10
    _assert_all_close(got, expected, "BPTT against the tape")


@pytest.mark.parametrize("implementation,mode", [
    *[(impl, "function") for impl in registry.IMPLEMENTATIONS], ("bptt", "eager")])
def test_new_cell_passes_the_parity_harness_against_autodiff_of_its_own_forward(
        implementation, mode):
    x, state, mask = _data(seed=8)
    case = parity.Case("MinimalGatedCell", dtype="float64", mode=mode)
    ours = lowlevel.RNN(_cell(), return_sequences=True, return_state=True,
                        implementation=implementation)
    twin = lowlevel.RNN(_cell(), return_sequences=True, return_state=True,
                        implementation="reference")
    for layer in (ours, twin):
        layer.set_weights(_weights(seed=9))
    output_error, gradient_error = parity.compare(
        case, ours, twin, {"x": x, "states": [state], "mask": mask}, twin_is_keras=False)
    assert output_error <= tolerance(F64) and gradient_error <= tolerance(F64), (
        output_error, gradient_error)


@pytest.mark.parametrize("implementation", ["auto", "reference", "fast", "unrolled"])
def test_new_cells_stack_per_step_as_the_layers_called_in_turn(implementation):
    x, _, mask = _data(seed=2)
    lower = lowlevel.RNN(_cell(), return_sequences=True, implementation=implementation)
    upper = lowlevel.RNN(MinimalGatedCell(UNITS, input_dim=UNITS, dtype=F64),
                         return_sequences=True, implementation=implementation)
    lower.set_weights(_weights(seed=3))
    upper.set_weights([np.resize(w, v.shape) for w, v in zip(_weights(seed=4), upper.weights)])

    class InTurn(tf.Module):
        trainable_variables = property(lambda self: lower.trainable_variables
                                       + upper.trainable_variables)

        def __call__(self, x, mask=None, training=False, initial_state=None):
            return upper(lower(x, mask=mask), mask=mask)

    expected = _outputs_and_gradients(InTurn(), x, mask)
    stacked = lowlevel.stack_layers([lower, upper])
    by_cells = lowlevel.RNN(lowlevel.StackedCells([lower.cell, upper.cell]),
                            return_sequences=True, implementation=implementation)
    for model in (stacked, by_cells):
        got = _outputs_and_gradients(model, x, mask)
        _assert_all_close(got[0] + got[1], expected[0] + expected[1], implementation)


@pytest.mark.parametrize("implementation", ["auto", "bptt", "unrolled"])
def test_new_cell_in_bidirectional_is_the_forward_and_the_reversed_backward_layer(
        implementation):
    x, _, mask = _data(seed=7)
    layer = lowlevel.RNN(_cell(), return_sequences=True, implementation=implementation)
    both = lowlevel.Bidirectional(layer)
    both.set_weights(_weights(seed=1) + _weights(seed=2))
    assert layer.zero_output_for_mask is False  # the layer given stays as it was
    forward = lowlevel.RNN(both.forward_layer.cell, return_sequences=True,
                           zero_output_for_mask=True, implementation="reference")
    backward = lowlevel.RNN(both.backward_layer.cell, return_sequences=True, go_backwards=True,
                            zero_output_for_mask=True, implementation="reference")
    got = both(x, mask=mask)
    expected = tf.concat([forward(x, mask=mask), tf.reverse(backward(x, mask=mask), [1])], -1)
    assert_close(got, expected, F64, f"Bidirectional on {implementation}")


def test_new_cell_without_a_backward_step_is_an_error_naming_bptt_and_runs_elsewhere():
    class ForwardOnly(MinimalGatedCell):
        backward = RecurrentCell.backward

    layer = lowlevel.RNN(ForwardOnly(UNITS, input_dim=FEATURES, dtype=F64),
                         implementation="bptt")
    x, _, _ = _data()
    with pytest.raises(ValueError, match="implementation='bptt' cannot run this layer: "
                                         "ForwardOnly has no backward step"):
        layer(x)
    assert lowlevel.RNN(layer.cell)(x).shape == (BATCH, UNITS)
