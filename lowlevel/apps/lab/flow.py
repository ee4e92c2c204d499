"""Study 1 — gradient flow at initialisation: ‖∂L/∂h_t‖ against the distance from the loss.

For each cell (SimpleRNN tanh, LSTM, GRU), spectral radius ρ of the recurrent block,
input regime and seed, with ``L = sum(h_{T-1})`` (the last output only)::

    ‖∂L/∂h_{T-1-d}‖ ≈ ‖∂L/∂h_{T-1}‖ · r^d,    log r = slope of log-norm against d

and the rate ``r`` is predicted by the one-step Jacobians ``J_t = ∂s_t/∂s_{t-1}``
(Pascanu, Mikolov & Bengio 2013): ``r`` is close to the per-step rate of
``‖J_T ... J_{T-k+1}‖`` and at most the geometric mean of ``‖J_t‖_2``.

Closed forms at initialisation, near linear (``h ≈ c ≈ 0``, zero biases, LSTM forget
bias 1; every block orthogonal, so ``‖U_block‖ = ρ`` for the rescaled one) —
:func:`closed_form_rate`:

- SimpleRNN: ``J = diag(1 - h²) Uᵀ ≈ Uᵀ``, so ``‖J^d‖ = ρ^d``.
- GRU: ``z = r = σ(0) = ½`` and ``J ≈ z I + (1 - z) r U_hᵀ = ½ I + ¼ U_hᵀ``: rate ``½ + ρ/4``.
- LSTM, ``s = (h, c)``: ``i = o = ½``, ``f = σ(1)``, ``g ≈ 0``; ``c_t = f c + i U_cᵀ h`` and
  ``h_t ≈ o c_t``, so a step maps ``(h, c)`` through ``(f I + o i U_cᵀ)`` on ``c``:
  rate ``σ(1) + ρ/4``. Slope ¼ in ρ, as the GRU's; the forget bias only offsets it.

Which block is rescaled: the whole ``U`` for SimpleRNN; for gated cells the candidate
block only (LSTM ``'c'``, GRU ``'h'``) — the gates keep their orthogonal
initialisation, so ρ here is the radius of the recurrence that writes new content.
The LSTM is also measured along its cell state: ``‖∂L/∂c_t‖`` (``h_t`` held fixed), the
path its forget gate keeps open; ``‖∂L/∂h_t‖`` alone (``c_t`` fixed) drops sharply over
the first step because ``h_{t-1}`` reaches ``h_t`` only through the gates.
"""

from __future__ import annotations

import dataclasses
import math
import weakref

import numpy as np
import tensorflow as tf

from lowlevel import gradients, kinds
from lowlevel.apps.lab import _output
from lowlevel.apps.lab.regression import make_layer, seed_layer_weights

CANDIDATE_GATE = {"simple": None, "lstm": "c", "gru": "h"}
SIGMOID_1 = 1.0 / (1.0 + math.exp(-1.0))  # the LSTM forget gate at init (bias 1)


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    cells: tuple = kinds.NAMES
    radii: tuple = (0.5, 0.9, 1.0, 1.1, 1.5)
    # Input standard deviations: 0.01 keeps tanh near linear (h small), 1.0 saturates.
    regimes: tuple = (("linear", 0.01), ("saturated", 1.0))
    units: int = 32
    time_steps: int = 50  # T; distances 0 .. T-1
    batch: int = 16
    input_dim: int = 3
    seed: int = 0
    seeds: int = 3  # seeds seed, seed+1, ...: weights and inputs
    dtype: str = "float64"  # exact norms down to 1e-300: vanishing is measured, not rounded


def closed_form_rate(cell, radius) -> float:
    """Per-step rate at initialisation near linear: ρ, ½ + ρ/4 (GRU), σ(1) + ρ/4 (LSTM)."""
    return {"simple": radius, "gru": 0.5 + radius / 4,
            "lstm": SIGMOID_1 + radius / 4}[cell]


def last_output_sum(y):
    """``L = sum(y)`` with ``y = h_{T-1} [batch, units]``: ``∂L/∂h_{T-1}`` is all ones."""
    return tf.reduce_sum(y)


def _seeded(config, seed):
    return config if seed is None else dataclasses.replace(config, seed=seed)


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


def _norms_by_distance(grads):
    """``‖g_t‖_F`` over batch and units, reversed so index ``d`` is ``t = T-1-d``."""
    return np.sqrt(np.sum(np.square(grads.numpy()), axis=(0, 2)))[::-1]


def flow_case(cell, radius, regime, input_scale, config: FlowConfig, layer=None, seed=None):
    """One (cell, ρ, regime, seed): ``(row, norms)``, ``norms[d] = ‖∂L/∂h_{T-1-d}‖``.

    ``row['norms_c']`` is ``‖∂L/∂c_{T-1-d}‖`` for the LSTM (else ``None``); ``layer``:
    reuse this layer of ``cell`` (see :func:`flow_layer`); ``seed`` overrides
    ``config.seed``.
    """
    config = _seeded(config, seed)
    layer = flow_layer(cell, radius, config, layer)
    x = flow_inputs(input_scale, config)
    _, grads = gradients.all_state_gradients(layer, x, last_output_sum)
    norms = _norms_by_distance(grads[0])  # [T] by distance
    norms_c = _norms_by_distance(grads[1]) if len(grads) > 1 else None
    distance = np.arange(config.time_steps)
    jacobians, tanh_slopes = trajectory_jacobians(layer.cell, x)
    step_norms = gradients.spectral_norms(jacobians)  # [T, batch]: ‖J_t‖_2
    product_mean = product_norms(jacobians).mean(axis=1)  # [T]: ‖J_T ... J_{T-k+1}‖_2
    slope = _slope(distance, norms)
    row = {
        "cell": cell, "regime": regime, "input_scale": input_scale, "radius": radius,
        "seed": config.seed, "rescaled_block": CANDIDATE_GATE[cell] or "U",
        "time_steps": config.time_steps,
        "norm_d0": float(norms[0]), "norm_dmax": float(norms[-1]),
        "ratio": float(norms[-1] / norms[0]),
        "slope": slope, "rate": float(np.exp(slope)),
        # Geometric mean of ‖J_t‖_2 over steps and batch: an upper bound on the rate.
        "jacobian_norm_geomean": float(np.exp(np.mean(np.log(step_norms)))),
        # Per-step rate of ‖J_T ... J_{T-k+1}‖ (batch mean), k = 1 .. T: the prediction.
        "jacobian_product_rate": float(np.exp(_slope(distance + 1, product_mean))),
        "closed_form_rate": closed_form_rate(cell, radius),
        # LSTM: the per-step rate of ‖∂L/∂c_t‖ (d >= 1; at d = 0 it is 0, h_T-1 fixed).
        "c_rate": (float(np.exp(_slope(distance[1:], norms_c[1:])))
                   if norms_c is not None else None),
        # mean(1 - h_t²): the tanh derivative factor of the SimpleRNN's J_t (None: gated).
        "mean_tanh_derivative": float(np.mean(tanh_slopes)) if cell == "simple" else None,
        "norms_c": norms_c,
    }
    return row, norms


def run(out, config: FlowConfig = FlowConfig()) -> dict:
    """Run the sweep; write ``flow.csv``, ``flow_norms.csv``, ``flow.npz``, the PNGs
    (``flow.png``, ``flow_rates.png``) and ``flow.md``."""
    out = _output.out_dir(out)
    rows, curves = [], []
    # One layer per cell, its weights re-drawn for each case: one trace per cell.
    layers = {cell: flow_layer(cell, 1.0, config) for cell in config.cells}
    for regime, scale in config.regimes:
        for cell in config.cells:
            for radius in config.radii:
                for seed in range(config.seed, config.seed + config.seeds):
                    row, norms = flow_case(cell, radius, regime, scale, config,
                                           layers[cell], seed)
                    norms_c = row.pop("norms_c")
                    rows.append(row)
                    curves.append({"cell": cell, "regime": regime, "radius": radius,
                                   "seed": seed, "norms": norms, "norms_c": norms_c})
    _output.write_csv(out / "flow.csv", rows)
    _output.write_csv(out / "flow_norms.csv", _long_curves(curves))
    _save_npz(out / "flow.npz", curves, config)
    from lowlevel.apps.lab import flow_plots  # matplotlib only here
    flow_plots.plot_norms(out / "flow.png", curves, config)
    flow_plots.plot_rates(out / "flow_rates.png", rows, config)
    (out / "flow.md").write_text(flow_plots.report(rows, config))
    return {"rows": rows, "files": ["flow.csv", "flow_norms.csv", "flow.npz", "flow.png",
                                    "flow_rates.png", "flow.md"]}


def _long_curves(curves):
    """One CSV row per (cell, regime, ρ, seed, distance); ``norm_c`` empty but for LSTM."""
    rows = []
    for c in curves:
        for d, n in enumerate(c["norms"]):
            rows.append({"cell": c["cell"], "regime": c["regime"], "radius": c["radius"],
                         "seed": c["seed"], "distance": d, "norm": float(n),
                         "norm_c": "" if c["norms_c"] is None else float(c["norms_c"][d])})
    return rows


def _save_npz(path, curves, config):
    """``norms_h [case, distance]``, ``norms_c`` (NaN for cells without c) and the keys."""
    nan = np.full(config.time_steps, np.nan)
    np.savez(path,
             cell=np.array([c["cell"] for c in curves]),
             regime=np.array([c["regime"] for c in curves]),
             radius=np.array([c["radius"] for c in curves]),
             seed=np.array([c["seed"] for c in curves]),
             norms_h=np.stack([c["norms"] for c in curves]),
             norms_c=np.stack([nan if c["norms_c"] is None else c["norms_c"]
                               for c in curves]))
