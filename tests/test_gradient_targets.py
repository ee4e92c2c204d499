"""The gradient lab's findings, asserted on small budgets with fixed seeds.

Each test runs the study's own function (not a copy of it), so the numbers in
``docs/gradients.md`` and these targets come from one code path. The full-size
versions (T = 100 for LSTM/GRU, every T, more steps) are measured once by
``lowlevel gradients all`` and reported in the docs; these reduced forms take tens of
seconds in total.
"""

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
def test_exploding_relu_rnn_diverges_unclipped_and_global_norm_clipping_trains():
    config = clipping.ClipConfig(clips=("none", "global_norm:1"), steps=100)
    (none, _), (clipped, log) = [clipping.clip_case(c, config) for c in config.clips]
    assert none["diverged"]
    assert not clipped["diverged"]
    loss = log.column("loss")
    assert np.all(np.isfinite(loss)) and len(loss) == 100
    assert clipped["last_window_loss"] < 0.1 * clipped["first_window_loss"]
    assert clipped["clipped_fraction"] > 0


# ----------------------------------------------------- study 3: which cell remembers
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_beat_the_adding_baseline_at_T20(cell):
    row, _ = memory.memory_case(cell, 20, memory.MemoryConfig(steps=300))
    assert row["final_mse"] < 0.05 < ADDING_BASELINE_MSE


def test_simple_rnn_stays_near_the_adding_baseline_at_T100():
    row, _ = memory.memory_case("simple", 100, memory.MemoryConfig(steps=150))
    assert row["final_mse"] > 0.1
