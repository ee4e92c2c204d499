"""Study 5 — initialisations compared: the gradient profile at step 0 and the adding problem.

Variants (``INITS``), each applied to the seeded model of the memory study:

- SimpleRNN ``orthogonal`` (the lab's default: every block of ``U`` a random orthogonal
  matrix), ``glorot`` (``U`` Glorot-uniform, Keras's ``kernel`` default), ``irnn``
  (ReLU, ``U = I``, zero bias: Le, Jaitly & Hinton 2015).
- LSTM ``forget1`` (forget-gate bias 1: Jozefowicz et al. 2015, Keras's default),
  ``forget0`` (all biases 0), ``chrono`` (Tallec & Ollivier 2018:
  ``b_f ~ log U(1, T_max - 1)``, ``b_i = -b_f``, with ``T_max`` the task's ``T``).
- GRU ``update0`` (Keras's zero biases: ``z = ½``), ``update1`` (update-gate input
  bias 1, so ``z = σ(1)``: with Keras's ``h = z h_prev + (1 - z) ĥ`` a larger ``z``
  keeps more of the state, the GRU's analogue of the forget bias) and ``chrono``
  (``b_z ~ log U(1, T_max - 1)``, see :func:`chrono_bias`).

Chrono initialisation (Tallec & Ollivier 2018) gives each unit a characteristic
forgetting time ``τ`` drawn uniformly from ``[2, T_max]``. The gate that multiplies the
previous state (the LSTM's forget gate ``f``) has ``1 - σ(b) = 1/τ`` when
``b = log(τ - 1)``, so ``b ~ log U(1, T_max - 1)``; the LSTM's input gate gets
``b_i = -b_f``, hence ``i = 1 - f``. In Keras's GRU that gate is ``z`` itself
(``h = z h_prev + (1 - z) ĥ``), so ``b_z = +log U(1, T_max - 1)`` and ``1 - z`` plays the
input gate; papers that write the GRU as ``h = (1 - z) h_prev + z ĥ`` (Cho et al.'s
``z`` on the candidate) state the same rule as ``b_z = -log U(1, T_max - 1)``. At
``x = 0, h = 0`` the keep rate is ``σ(b) = 1 - 1/τ``.

Recorded per (variant, seed): ``‖∂L/∂h_0‖/‖∂L/∂h_T-1‖`` at initialisation on the adding
task, then held-out MSE and H&S accuracy after training (Adam, global-norm clipping).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from lowlevel import kinds, optimizers
from lowlevel.apps.lab import _output
from lowlevel.apps.lab.memory_tasks import task as get_task
from lowlevel.apps.lab.regression import SequenceRegressor
from lowlevel.apps.lab.training import train_regressor
from lowlevel.gradient_record import GradientRecorder
from lowlevel.train import Clip

INITS = (("simple", "orthogonal"), ("simple", "glorot"), ("simple", "irnn"),
         ("lstm", "forget1"), ("lstm", "forget0"), ("lstm", "chrono"),
         ("gru", "update0"), ("gru", "update1"), ("gru", "chrono"))


@dataclasses.dataclass(frozen=True)
class InitConfig:
    inits: tuple = INITS
    cells: tuple = kinds.NAMES  # keeps the variants of these cells
    time_steps: int = 50
    steps: int = 800
    units: int = 32
    batch: int = 64
    learning_rate: float = 1e-3  # Adam
    clip: str = "global_norm:1"
    eval_batch: int = 1000
    probe_batch: int = 16
    seed: int = 0
    seeds: int = 3


def chrono_bias(rng, units, t_max) -> np.ndarray:
    """``[units]`` biases ``log u``, ``u ~ U(1, t_max - 1)``, of the gate that keeps the
    previous state: forgetting times ``τ = 1 / (1 - σ(b)) = 1 + u`` in ``[2, t_max]``."""
    if not t_max > 2:
        raise ValueError(f"chrono initialisation needs `time_steps` > 2; received {t_max!r}.")
    return np.log(rng.uniform(1.0, t_max - 1, units))


def initialised_model(cell, init, config: InitConfig, seed) -> SequenceRegressor:
    """The memory study's seeded adding-task model with ``init`` applied."""
    if (cell, init) not in INITS:
        raise ValueError(f"`init` must be one of {[i for c, i in INITS if c == cell]} for "
                         f"cell {cell!r}; received {init!r}.")
    model = SequenceRegressor(cell, units=config.units, input_dim=2, seed=seed,
                              activation="relu" if init == "irnn" else "tanh")
    rnn, n = model.rnn.cell, config.units
    rng = np.random.default_rng([seed, 3])
    u = rnn.recurrent_kernel.numpy()
    bias = rnn.bias.numpy()
    if init == "glorot":
        limit = np.sqrt(6.0 / (u.shape[0] + u.shape[1]))
        u = rng.uniform(-limit, limit, u.shape)
    elif init == "irnn":
        u, bias = np.eye(n), np.zeros_like(bias)
    elif init == "forget0":
        bias = np.zeros_like(bias)
    elif init == "chrono" and cell == "lstm":  # columns i, f, c, o
        b_f = chrono_bias(rng, n, config.time_steps)
        bias[n:2 * n], bias[:n] = b_f, -b_f
    elif init == "chrono" and cell == "gru":  # z keeps h_prev: the forget gate's sign
        bias = np.zeros_like(bias)
        bias[0, :n] = chrono_bias(rng, n, config.time_steps)
    elif init == "update1":  # bias [2, 3 units]: (input, recurrent); columns z, r, h
        bias[0, :n] = 1.0
    rnn.recurrent_kernel.assign(tf.cast(u, rnn.dtype))
    rnn.bias.assign(tf.cast(bias, rnn.dtype))
    return model


def init_case(cell, init, config: InitConfig, seed=None) -> dict:
    """One (variant, seed): the gradient ratio at step 0, then the trained scores."""
    seed = config.seed if seed is None else seed
    spec, t = get_task("adding"), config.time_steps
    model = initialised_model(cell, init, config, seed)
    x_probe, y_probe = spec.batch(config.probe_batch, t, [seed, t, 2])
    at_init = GradientRecorder([0]).measure(
        model.rnn, x_probe, lambda out: spec.loss(model.head(out), y_probe))
    train_regressor(model, optimizers.Adam(config.learning_rate),
                    lambda i: spec.batch(config.batch, t, [seed, t, 0, i]), config.steps,
                    clip=Clip.parse(config.clip))
    x, y = spec.batch(config.eval_batch, t, [seed, t, 1])
    scores = spec.evaluate(model(x).numpy(), y, t)
    return {"cell": cell, "init": init, "seed": seed, "time_steps": t,
            "grad_ratio_at_init": at_init["grad_ratio"], "final_mse": scores["loss"],
            "accuracy": scores["accuracy"], "solved": scores["solved"],
            "grad_h_at_init": at_init["grad_h"]}


def run(out, config: InitConfig = InitConfig()) -> dict:
    """Write ``init.csv``, ``init.npz`` (gradient profiles), ``init.png``, ``init.md``."""
    out = _output.out_dir(out)
    config = dataclasses.replace(config, inits=tuple(
        (cell, init) for cell, init in config.inits if cell in config.cells))
    rows = [init_case(cell, init, config, seed) for cell, init in config.inits
            for seed in range(config.seed, config.seed + config.seeds)]
    profiles = np.stack([r.pop("grad_h_at_init") for r in rows])  # [run, time]
    _output.write_csv(out / "init.csv", rows)
    np.savez(out / "init.npz", grad_h=profiles, cell=np.array([r["cell"] for r in rows]),
             init=np.array([r["init"] for r in rows]), seed=np.array([r["seed"] for r in rows]))
    _plot(out / "init.png", rows, profiles, config)
    (out / "init.md").write_text(report(rows, config))
    return {"rows": rows, "files": ["init.csv", "init.npz", "init.png", "init.md"]}


def _plot(path, rows, profiles, config):
    fig, axes = _output.figure(1, 2, width=4.6, height=3.2)
    distance = np.arange(config.time_steps)
    for k, (cell, init) in enumerate(config.inits):
        pick = [i for i, r in enumerate(rows) if r["cell"] == cell and r["init"] == init]
        runs = profiles[pick][:, ::-1] / profiles[pick][:, -1:]  # by distance, / ‖∂L/∂h_T-1‖
        axes[0, 0].semilogy(distance, np.median(runs, axis=0), color=f"C{k}", lw=1,
                            label=f"{cell} {init}")
        mse = [rows[i]["final_mse"] for i in pick]
        axes[0, 1].plot([k] * len(mse), mse, "o", color=f"C{k}", ms=4)
    axes[0, 0].set_title("‖∂L/∂h_t‖ at initialisation (median over seeds)", fontsize=8)
    axes[0, 0].set_xlabel("distance from the loss d = T-1-t", fontsize=8)
    axes[0, 0].set_ylabel("‖∂L/∂h_t‖ / ‖∂L/∂h_T-1‖", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    axes[0, 1].axhline(1 / 6, color="gray", ls="--", lw=0.8)
    axes[0, 1].axhline(1 / 12, color="gray", ls=":", lw=0.8)
    axes[0, 1].set_yscale("log")
    axes[0, 1].set_xticks(range(len(config.inits)))
    axes[0, 1].set_xticklabels([f"{c}\n{i}" for c, i in config.inits], fontsize=6)
    axes[0, 1].set_ylabel("held-out MSE (each seed)", fontsize=8)
    axes[0, 1].set_title(f"adding T={config.time_steps}, {config.steps} steps", fontsize=8)
    for ax in axes[0]:
        ax.tick_params(labelsize=7)
    _output.save(fig, path)


def report(rows, config: InitConfig) -> str:
    summary = []
    for cell, init in config.inits:
        group = [r for r in rows if r["cell"] == cell and r["init"] == init]
        summary.append({"cell": cell, "init": init,
                        "ratio": float(np.median([g["grad_ratio_at_init"] for g in group])),
                        "mse": float(np.median([g["final_mse"] for g in group])),
                        "mse_range": "–".join(_output.fmt(f(g["final_mse"] for g in group))
                                              for f in (min, max)),
                        "solved": f"{sum(g['solved'] for g in group)}/{len(group)}"})
    return "\n".join([
        "# Initialisations compared", "",
        f"Adding problem, T = {config.time_steps}, {config.units} units, Adam lr "
        f"{config.learning_rate}, clip {config.clip}, {config.steps} steps, seeds "
        f"{config.seed}..{config.seed + config.seeds - 1}. Ratio: ‖∂L/∂h_0‖/‖∂L/∂h_T-1‖ "
        "at step 0 on 16 probe sequences (median over seeds).", "",
        "![init](init.png)", "",
        _output.table(summary, ["cell", "init", "ratio", "mse", "mse_range", "solved"],
                      ["cell", "init", "ratio at init", "held-out MSE (median)", "min–max",
                       "solved (seeds)"]), ""])
