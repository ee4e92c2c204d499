"""The gradient lab's findings, asserted on small budgets with fixed seeds.

Each test runs the study's own function (not a copy of it), so the numbers in
``docs/gradients.md`` and these targets come from one code path. The full-size
versions (T = 100 for LSTM/GRU, every T, more steps) are measured once by
``lowlevel gradients all`` and reported in the docs; these reduced forms take tens of
seconds in total.
"""

import dataclasses

import numpy as np
import pytest

from lowlevel.apps.data.tasks import ADDING_BASELINE_MSE
from lowlevel.apps.lab import clipping, flow, memory

FLOW = flow.FlowConfig(cells=("simple",), units=32, time_steps=50, batch=16)


# --------------------------------------------- study 1: flow at initialisation
def test_tanh_rnn_at_radius_one_half_vanishes_below_1e_minus_6_at_T50():
    row, norms = flow.flow_case("simple", 0.5, "linear", 0.01, FLOW)  # norms by distance
    assert norms[-1] < 1e-6 * norms[0]  # ‖∂L/∂h_0‖ < 1e-6 ‖∂L/∂h_T-1‖
    assert np.all(np.diff(norms) < 0)
    assert row["rate"] == pytest.approx(0.5, rel=0.02)  # near linear: rate = ρ


def test_tanh_rnn_at_radius_1_1_grows_near_linear_but_saturation_makes_it_vanish():
    linear, _ = flow.flow_case("simple", 1.1, "linear", 0.01, FLOW)
    saturated, _ = flow.flow_case("simple", 1.1, "saturated", 1.0, FLOW)
    assert linear["ratio"] > 10  # ‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖
    assert saturated["ratio"] < 1e-2
    # The cause is the tanh derivative: ‖J_t‖ = ρ max(1 - h²) <= ρ, and 1 - h² is
    # well below 1 in the saturated regime.
    assert saturated["mean_tanh_derivative"] < 0.8 < 0.95 < linear["mean_tanh_derivative"]


@pytest.mark.parametrize("regime, scale", [("linear", 0.01), ("saturated", 1.0)])
def test_tanh_rnn_at_radius_1_5_grows_less_than_rho_as_the_jacobians_predict(regime, scale):
    row, _ = flow.flow_case("simple", 1.5, regime, scale, FLOW)
    assert row["rate"] < 1.2  # not 1.5: saturation caps growth
    assert row["jacobian_norm_geomean"] <= 1.5 + 1e-9  # ‖J_t‖ <= ρ ‖1 - h²‖_inf <= ρ
    assert row["rate"] == pytest.approx(row["jacobian_product_rate"], rel=0.05)


# ----------------------------------------------------------- study 2: clipping
CLIP = clipping.ClipConfig(steps=100)


def test_exploding_relu_rnn_diverges_unclipped_at_lr_0_01_and_global_norm_clipping_trains():
    none, _ = clipping.clip_case("none", CLIP, learning_rate=1e-2)
    clipped, log = clipping.clip_case("global_norm:1", CLIP, learning_rate=1e-2)
    assert none["diverged"]
    assert not clipped["diverged"]
    loss = log.column("loss")
    assert np.all(np.isfinite(loss)) and len(loss) == 100
    assert clipped["last_window_loss"] < 0.1 * clipped["first_window_loss"]
    assert clipped["clipped_fraction"] > 0


def test_the_same_network_unclipped_at_a_smaller_step_does_not_diverge():
    """Clipping is confounded with the step size: at lr 1e-4 plain SGD survives the
    first gradient (global norm ~1e4) without any clipping."""
    row, log = clipping.clip_case("none", CLIP, learning_rate=1e-4)
    assert not row["diverged"] and len(log.rows) == 100
    assert row["max_global_norm"] > 1e3  # the explosion is there; the step is small
    assert row["last_window_loss"] < 0.1 * row["first_window_loss"]


# ----------------------------------------------------- study 3: which cell remembers
OLD = memory.MemoryConfig(learning_rate=0.01, clip="none", record_tasks=())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_beat_the_adding_baseline_at_T20(cell):
    row, _ = memory.memory_case(cell, 20, dataclasses.replace(OLD, steps=300))
    assert row["final_loss"] < 0.05 < ADDING_BASELINE_MSE


def test_simple_rnn_stays_near_the_adding_baseline_at_T100():
    row, _ = memory.memory_case("simple", 100, dataclasses.replace(OLD, steps=150))
    assert row["final_loss"] > 0.1


def test_at_initialisation_on_the_adding_task_the_simple_rnn_gradient_reaches_further():
    """At step 0 (T = 50) ‖∂L/∂h_0‖/‖∂L/∂h_T-1‖ is orders of magnitude larger for the
    SimpleRNN than for the GRU: the SimpleRNN's failure is not vanishing at init."""
    config = memory.MemoryConfig(steps=1, record_points=1, eval_batch=10)
    ratios = {cell: memory.memory_case(cell, 50, config)[0]["recorder"].arrays()
              ["grad_ratio"][0] for cell in ("simple", "gru")}
    assert ratios["simple"] > 1e3 * ratios["gru"]


def test_training_not_initialisation_makes_the_simple_rnn_gradient_vanish():
    """Unclipped Adam at lr 0.01 on the adding task (T = 50): within 100 steps σ_max of
    U grows from 1 to about 2 and ‖∂L/∂h_0‖/‖∂L/∂h_T-1‖ falls by four orders."""
    config = dataclasses.replace(OLD, steps=101, record_points=2, eval_batch=10)
    row, _ = memory.memory_case("simple", 50, config, record=True)
    arrays = row["recorder"].arrays()
    assert arrays["step"].tolist() == [0, 100]
    assert arrays["sigma_max"][0, 0] == pytest.approx(1.0, rel=1e-6)  # orthogonal at init
    assert arrays["sigma_max"][1, 0] > 1.5
    assert arrays["grad_ratio"][1] < 1e-4 * arrays["grad_ratio"][0]
