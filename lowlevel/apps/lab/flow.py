"""Study 1 — gradient flow at initialisation: ‖∂L/∂h_t‖ against the distance from the loss.

For each cell (SimpleRNN tanh, LSTM, GRU), spectral radius ρ of the recurrent block and
input regime, with ``L = sum(h_{T-1})`` (the last output only)::

    ‖∂L/∂h_{T-1-d}‖ ≈ ‖∂L/∂h_{T-1}‖ · r^d,    log r = slope of log-norm against d

and the rate ``r`` is predicted by the one-step Jacobians ``J_t = ∂s_t/∂s_{t-1}``
(Pascanu, Mikolov & Bengio 2013): ``r`` is close to the per-step rate of
``‖J_T ... J_{T-k+1}‖`` and below the geometric mean of ``‖J_t‖_2``. For tanh,
``J_t = diag(1 - h_t²) Uᵀ``: with orthogonal ``U`` scaled to ρ, ``‖J_t‖ <= ρ · max(1 - h_t²)``,
so growth needs ρ > 1 *and* an unsaturated ``h``.

Which block is rescaled: the whole ``U`` for SimpleRNN; for gated cells the candidate
block only (LSTM ``'c'``, GRU ``'h'``) — the gates keep their orthogonal
initialisation (ρ = 1), so ρ here is the radius of the recurrence that writes new
content, the closest analogue of the SimpleRNN's ``U``.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
import tensorflow as tf

from lowlevel import gradients
from lowlevel.apps.lab.regression import make_layer, seed_layer_weights
from lowlevel.apps.lab import _output

CANDIDATE_GATE = {"simple": None, "lstm": "c", "gru": "h"}


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    cells: tuple = ("simple", "lstm", "gru")
    radii: tuple = (0.5, 0.9, 1.0, 1.1, 1.5)
    # Input standard deviations: 0.01 keeps tanh near linear (h small), 1.0 saturates.
    regimes: tuple = (("linear", 0.01), ("saturated", 1.0))
    units: int = 32
    time_steps: int = 50  # T; distances 0 .. T-1
    batch: int = 16
    input_dim: int = 3
    seed: int = 0
    dtype: str = "float64"  # exact norms down to 1e-300: vanishing is measured, not rounded


def last_output_sum(y):
    """``L = sum(y)`` with ``y = h_{T-1} [batch, units]``: ``∂L/∂h_{T-1}`` is all ones."""
    return tf.reduce_sum(y)


def flow_layer(cell, radius, config: FlowConfig, layer=None):
    """The seeded layer of ``cell`` with its candidate block rescaled to ``radius``.

    With ``layer`` (one made here before), its weights are re-drawn in place instead:
    the same values as a new layer, and compiled functions of its cell stay valid.
    """
    if layer is None:
        layer = make_layer(cell, config.units, config.input_dim, seed=config.seed,
                           dtype=tf.as_dtype(config.dtype))
    else:
        seed_layer_weights(layer, config.seed)
    gradients.rescale_recurrent_kernel(layer.cell, radius, gate=CANDIDATE_GATE[cell])
    return layer


def flow_inputs(input_scale, config: FlowConfig) -> np.ndarray:
    """``[batch, T, input_dim]`` normal inputs of standard deviation ``input_scale``."""
    rng = np.random.default_rng([config.seed, 7])
    return rng.normal(0.0, input_scale, (config.batch, config.time_steps, config.input_dim))


def _slope(distance, values):
    """Least-squares slope of ``log(values)`` against ``distance`` (finite, > 0 only)."""
    keep = np.isfinite(values) & (values > 0)
    return float(np.polyfit(distance[keep], np.log(values[keep]), 1)[0])


_COMPILED_STEPS = weakref.WeakKeyDictionary()  # cell -> compiled (J_t, s_t) step


def trajectory_jacobians(cell, x):
    """``(J [T, batch, S, S], mean(1 - h_t²) [T])`` along the trajectory from zero state.

    The instrument :func:`lowlevel.gradients.step_jacobians`, compiled once per cell
    (eagerly each Jacobian costs ~0.3 s; compiled, milliseconds).
    """
    if cell not in _COMPILED_STEPS:
        @tf.function
        def step(x_t, states):
            _, new_states = cell.step(x_t, states)
            return gradients.step_jacobians(cell, x_t, states), new_states

        _COMPILED_STEPS[cell] = step
    step = _COMPILED_STEPS[cell]
    x = tf.convert_to_tensor(x, cell.dtype)  # [batch, T, features]
    states = cell.get_initial_state(x.shape[0])
    jacobians, tanh_slopes = [], []
    for t in range(x.shape[1]):
        j, states = step(x[:, t], states)
        jacobians.append(j.numpy())
        tanh_slopes.append(float(np.mean(1.0 - np.square(states[0].numpy()))))
    return np.stack(jacobians), np.array(tanh_slopes)


def product_norms(jacobians) -> np.ndarray:
    """``[T, batch]``, row ``k-1`` = ``‖J_T ... J_{T-k+1}‖_2`` — what
    :func:`lowlevel.gradients.jacobian_product_norms` returns, from stored Jacobians."""
    product, norms = None, []
    for j in jacobians[::-1]:  # [batch, S, S]
        product = j if product is None else product @ j
        norms.append(gradients.spectral_norms(product))
    return np.stack(norms)


def flow_case(cell, radius, regime, input_scale, config: FlowConfig, layer=None):
    """One (cell, ρ, regime): ``(row, norms)`` with ``norms[d] = ‖∂L/∂h_{T-1-d}‖``.

    ``layer``: reuse this layer of ``cell`` (see :func:`flow_layer`).
    """
    layer = flow_layer(cell, radius, config, layer)
    x = flow_inputs(input_scale, config)
    norms = gradients.state_gradient_norms(layer, x, last_output_sum)[::-1]  # by distance
    distance = np.arange(config.time_steps)
    jacobians, tanh_slopes = trajectory_jacobians(layer.cell, x)
    step_norms = gradients.spectral_norms(jacobians)  # [T, batch]: ‖J_t‖_2
    products = product_norms(jacobians)  # [T, batch], row k-1: ‖J_T ... J_{T-k+1}‖_2
    product_mean = products.mean(axis=1)  # [T]
    slope = _slope(distance, norms)
    row = {
        "cell": cell, "regime": regime, "input_scale": input_scale, "radius": radius,
        "rescaled_block": CANDIDATE_GATE[cell] or "U",
        "time_steps": config.time_steps,
        "norm_d0": float(norms[0]), "norm_dmax": float(norms[-1]),
        "ratio": float(norms[-1] / norms[0]),
        "slope": slope, "rate": float(np.exp(slope)),
        # Geometric mean of ‖J_t‖_2 over steps and batch: an upper bound on the rate.
        "jacobian_norm_geomean": float(np.exp(np.mean(np.log(step_norms)))),
        # Per-step rate of ‖J_T ... J_{T-k+1}‖ (batch mean), k = 1 .. T: the prediction.
        "jacobian_product_rate": float(np.exp(_slope(distance + 1, product_mean))),
        # mean(1 - h_t²): the tanh derivative factor of the SimpleRNN's J_t (None: gated).
        "mean_tanh_derivative": float(np.mean(tanh_slopes)) if cell == "simple" else None,
    }
    return row, norms


def run(out, config: FlowConfig = FlowConfig()) -> dict:
    """Run the sweep; write ``flow.csv``, ``flow_norms.csv``, ``flow.png``, ``flow.md``."""
    out = _output.out_dir(out)
    rows, curves = [], []
    # One layer per cell, its weights re-drawn for each case: one trace per cell.
    layers = {cell: flow_layer(cell, 1.0, config) for cell in config.cells}
    for regime, scale in config.regimes:
        for cell in config.cells:
            for radius in config.radii:
                row, norms = flow_case(cell, radius, regime, scale, config, layers[cell])
                rows.append(row)
                curves += [{"cell": cell, "regime": regime, "radius": radius, "distance": d,
                            "norm": float(n)} for d, n in enumerate(norms)]
    _output.write_csv(out / "flow.csv", rows)
    _output.write_csv(out / "flow_norms.csv", curves)
    _plot(out / "flow.png", rows, curves, config)
    (out / "flow.md").write_text(report(rows, config))
    return {"rows": rows, "files": ["flow.csv", "flow_norms.csv", "flow.png", "flow.md"]}


def _plot(path, rows, curves, config):
    fig, axes = _output.figure(len(config.regimes), len(config.cells))
    for i, (regime, scale) in enumerate(config.regimes):
        for j, cell in enumerate(config.cells):
            ax = axes[i, j]
            for radius in config.radii:
                pts = [c for c in curves if c["cell"] == cell and c["regime"] == regime
                       and c["radius"] == radius]
                ax.semilogy([p["distance"] for p in pts],
                            [p["norm"] / pts[0]["norm"] for p in pts], label=f"ρ={radius}")
            ax.set_title(f"{cell}, {regime} (x~N(0,{scale}²))", fontsize=9)
            ax.set_xlabel("distance from the loss T-1-t", fontsize=8)
            ax.set_ylabel("‖∂L/∂h_t‖ / ‖∂L/∂h_T-1‖", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    _output.save(fig, path)


def report(rows, config: FlowConfig) -> str:
    columns = ["cell", "regime", "radius", "ratio", "rate", "jacobian_product_rate",
               "jacobian_norm_geomean", "mean_tanh_derivative"]
    headers = ["cell", "regime", "ρ", "‖∂L/∂h_0‖/‖∂L/∂h_T-1‖", "fitted rate/step",
               "‖J…J‖ rate/step", "geo-mean ‖J_t‖", "mean 1-h²"]
    return "\n".join([
        "# Gradient flow at initialisation", "",
        f"T = {config.time_steps}, batch {config.batch}, {config.units} units, "
        f"{config.dtype}, seed {config.seed}; L = sum(h_T-1). ρ is the spectral radius of "
        "the SimpleRNN's U and of the candidate block of the gated cells (LSTM 'c', GRU "
        "'h'). The fitted rate is exp(slope of log ‖∂L/∂h_t‖ against the distance).", "",
        "![gradient flow](flow.png)", "",
        _output.table(rows, columns, headers), ""])
