"""Study 3 — which cell remembers: SimpleRNN, LSTM and GRU on the adding problem.

Each cell (32 units + Dense(1), seeded) trains for the same fixed budget of Adam steps
at each length T; the final MSE on a held-out batch is compared with the memoryless
baseline 1/6 (always answer 1; ``ADDING_BASELINE_MSE``). Gradients through a tanh
SimpleRNN vanish geometrically with the distance (study 1), so the two marked numbers,
up to T steps before the output, cannot teach it; the LSTM's additive cell state
(``c_t = f c_{t-1} + i g``) and the GRU's interpolation (``h = z h_prev + (1-z) h_hat``)
carry them (Hochreiter & Schmidhuber 1997; Cho et al. 2014).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lowlevel import optimizers
from lowlevel.apps.data.tasks import ADDING_BASELINE_MSE, adding_problem
from lowlevel.apps.lab.regression import SequenceRegressor, mean_squared_error
from lowlevel.apps.lab import _output
from lowlevel.apps.lab.training import GradientLog, train_regressor, variable_names


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
    cells: tuple = ("simple", "lstm", "gru")
    time_steps: tuple = (50, 100, 200)
    steps: int = 2000  # the fixed budget, the same for every cell and T
    units: int = 32
    batch: int = 64
    learning_rate: float = 0.01  # Adam; 1e-3 needs several times more steps
    eval_batch: int = 1000  # held-out sequences for the final MSE
    window: int = 50  # steps averaged for the curve's smoothed last training loss
    seed: int = 0
    tensorboard: bool = False  # also write each run's GradientLog to out/tensorboard/


def memory_case(cell, time_steps, config: MemoryConfig, tensorboard_dir=None):
    """Train one cell at one T; ``(row, log)`` with the held-out final MSE."""
    model = SequenceRegressor(cell, units=config.units, input_dim=2, seed=config.seed)
    log = GradientLog(variable_names(model), tensorboard_dir)
    train_regressor(
        model, optimizers.Adam(config.learning_rate),
        lambda i: adding_problem(config.batch, time_steps, seed=[config.seed, time_steps, 0, i]),
        config.steps, log=log)
    log.close()
    x, y = adding_problem(config.eval_batch, time_steps, seed=[config.seed, time_steps, 1])
    mse = float(mean_squared_error(model(x), y))
    loss = log.column("loss")
    row = {"cell": cell, "time_steps": time_steps, "steps": config.steps,
           "final_mse": mse, "baseline_mse": ADDING_BASELINE_MSE,
           "mse_over_baseline": mse / ADDING_BASELINE_MSE,
           "last_window_train_loss": float(np.mean(loss[-config.window:])),
           "solved": mse < 0.01}
    return row, log


def run(out, config: MemoryConfig = MemoryConfig()) -> dict:
    """Write ``memory.csv``, ``memory_curves.csv``, ``memory.png``, ``memory.md``."""
    out = _output.out_dir(out)
    rows, curves = [], []
    for time_steps in config.time_steps:
        for cell in config.cells:
            tensorboard = (out / "tensorboard" / f"memory_{cell}_T{time_steps}"
                           if config.tensorboard else None)
            row, log = memory_case(cell, time_steps, config, tensorboard)
            rows.append(row)
            curves += [{"cell": cell, "time_steps": time_steps, "step": r["step"],
                        "loss": r["loss"], "global_norm": r["global_norm"]} for r in log.rows]
    _output.write_csv(out / "memory.csv", rows)
    _output.write_csv(out / "memory_curves.csv", curves)
    _plot(out / "memory.png", curves, config)
    (out / "memory.md").write_text(report(rows, config))
    return {"rows": rows, "files": ["memory.csv", "memory_curves.csv", "memory.png",
                                    "memory.md"]}


def _smooth(values, window):
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _plot(path, curves, config):
    fig, axes = _output.figure(1, len(config.time_steps), width=3.6)
    for j, time_steps in enumerate(config.time_steps):
        ax = axes[0, j]
        for cell in config.cells:
            loss = np.array([c["loss"] for c in curves
                             if c["cell"] == cell and c["time_steps"] == time_steps])
            ax.semilogy(_smooth(loss, config.window // 2), label=cell, lw=1)
        ax.axhline(ADDING_BASELINE_MSE, color="gray", ls="--", lw=0.8, label="baseline 1/6")
        ax.set_title(f"adding problem, T={time_steps}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("training MSE (smoothed)", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    _output.save(fig, path)


def report(rows, config: MemoryConfig) -> str:
    columns = ["cell", "time_steps", "final_mse", "mse_over_baseline", "solved"]
    headers = ["cell", "T", "held-out MSE", "MSE / baseline", "MSE < 0.01"]
    return "\n".join([
        "# Which cell remembers", "",
        f"Adding problem, {config.units} units + Dense(1), batch {config.batch}, Adam lr "
        f"{config.learning_rate}, {config.steps} steps for every cell and T, seed "
        f"{config.seed}; MSE on {config.eval_batch} held-out sequences. Baseline "
        f"{ADDING_BASELINE_MSE:.3f} (always answer 1).", "",
        "![memory](memory.png)", "",
        _output.table(rows, columns, headers), ""])
