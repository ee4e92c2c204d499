"""Study 2 — clipping compared, in a regime that explodes.

A ReLU SimpleRNN whose orthogonal ``U`` is scaled to spectral radius ρ > 1: ReLU does not
saturate, so ``J_t = diag(1[z_t > 0]) Uᵀ`` keeps the norm ρ on its active units and
``‖∂L/∂h_t‖`` grows geometrically with the distance — nothing caps it, as tanh's
``1 - h²`` does. The same network (same seed) is trained on the adding problem by SGD
with no clipping, clip by value, clip by norm (each tensor) and clip by global norm
(Pascanu, Mikolov & Bengio 2013), with :func:`lowlevel.train.clip_gradients`.

Recorded per step: loss, pre-clip global norm, per-layer norms, whether clipping acted.
A run *diverged* if its loss became NaN/inf or exceeded ``blowup`` times its first loss.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lowlevel import gradients, optimizers
from lowlevel.apps.data.tasks import ADDING_BASELINE_MSE, adding_problem
from lowlevel.apps.lab.regression import SequenceRegressor
from lowlevel.apps.lab import _output
from lowlevel.apps.lab.training import GradientLog, train_regressor, variable_names
from lowlevel.train import Clip


@dataclasses.dataclass(frozen=True)
class ClipConfig:
    clips: tuple = ("none", "value:0.1", "norm:1", "global_norm:1")  # Clip.parse forms
    radius: float = 1.8  # of the ReLU SimpleRNN's U; > 1 explodes (1.3 merely wobbles)
    units: int = 32
    time_steps: int = 30
    batch: int = 64
    steps: int = 200
    learning_rate: float = 0.01  # plain SGD: the update is the (clipped) gradient
    window: int = 30  # steps averaged for "first" and "last" loss
    blowup: float = 1e6  # loss above blowup * first loss counts as diverged
    seed: int = 0
    tensorboard: bool = False  # also write each run's GradientLog to out/tensorboard/


def exploding_model(config: ClipConfig) -> SequenceRegressor:
    model = SequenceRegressor("simple", units=config.units, input_dim=2, activation="relu",
                              seed=config.seed)
    gradients.rescale_recurrent_kernel(model.rnn.cell, config.radius)
    return model


def clip_case(clip_text, config: ClipConfig, tensorboard_dir=None):
    """Train one copy of the exploding model with ``clip_text``; ``(row, log)``."""
    clip = Clip.parse(clip_text)
    model = exploding_model(config)
    log = GradientLog(variable_names(model), tensorboard_dir)
    train_regressor(
        model, optimizers.SGD(config.learning_rate),
        lambda i: adding_problem(config.batch, config.time_steps, seed=[config.seed, i]),
        config.steps, clip=clip, log=log, blowup=config.blowup)
    log.close()
    loss = log.column("loss")
    finite = bool(np.all(np.isfinite(loss)))
    w = min(config.window, max(1, len(loss) // 2))
    first, last = float(np.mean(loss[:w])), float(np.mean(loss[-w:]))
    diverged = (not finite) or bool(np.nanmax(loss) > config.blowup * loss[0]) \
        or len(loss) < config.steps
    row = {"clip": clip_text, "steps_run": len(loss), "diverged": diverged,
           "first_loss": float(loss[0]), "first_window_loss": first,
           "last_window_loss": last if finite else math.nan,
           "decreased": finite and last < first,
           "clipped_fraction": float(np.mean(log.column("clipped"))),
           "median_global_norm": float(np.nanmedian(log.column("global_norm"))),
           "max_global_norm": float(np.nanmax(log.column("global_norm")))}
    return row, log


def run(out, config: ClipConfig = ClipConfig()) -> dict:
    """Write ``clipping.csv``, ``clipping_steps.csv``, ``clipping.png``, ``clipping.md``."""
    out = _output.out_dir(out)
    rows, steps = [], []
    for clip_text in config.clips:
        tensorboard = (out / "tensorboard" / f"clipping_{clip_text.replace(':', '_')}"
                       if config.tensorboard else None)
        row, log = clip_case(clip_text, config, tensorboard)
        rows.append(row)
        steps += [{"clip": clip_text, **r} for r in log.rows]
    _output.write_csv(out / "clipping.csv", rows)
    _output.write_csv(out / "clipping_steps.csv", steps, columns=["clip", *log.columns])
    _plot(out / "clipping.png", steps, config)
    (out / "clipping.md").write_text(report(rows, config))
    return {"rows": rows,
            "files": ["clipping.csv", "clipping_steps.csv", "clipping.png", "clipping.md"]}


def _plot(path, steps, config):
    fig, axes = _output.figure(1, 2, width=4.5)
    for clip_text in config.clips:
        pts = [s for s in steps if s["clip"] == clip_text]
        x = [p["step"] for p in pts]
        loss = np.array([p["loss"] for p in pts])
        axes[0, 0].semilogy(x, np.where(np.isfinite(loss), loss, np.nan), label=clip_text)
        axes[0, 1].semilogy(x, [p["global_norm"] for p in pts], label=clip_text)
    axes[0, 0].axhline(ADDING_BASELINE_MSE, color="gray", ls="--", lw=0.8)
    axes[0, 0].set_title(f"training MSE (ReLU SimpleRNN, ρ={config.radius}, "
                         f"T={config.time_steps})", fontsize=9)
    axes[0, 1].set_title("pre-clip global gradient norm", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    _output.save(fig, path)


def report(rows, config: ClipConfig) -> str:
    columns = ["clip", "diverged", "steps_run", "first_window_loss", "last_window_loss",
               "clipped_fraction", "median_global_norm", "max_global_norm"]
    return "\n".join([
        "# Clipping compared", "",
        f"ReLU SimpleRNN ({config.units} units, U orthogonal scaled to ρ = {config.radius}) "
        f"+ Dense(1) on the adding problem, T = {config.time_steps}, batch {config.batch}, "
        f"SGD lr {config.learning_rate}, {config.steps} steps, seed {config.seed}. "
        f"Windows: mean loss of the first and last {config.window} steps. Diverged: "
        f"NaN/inf or loss above {config.blowup:g} × the first loss (the run stops there). "
        f"Baseline MSE {ADDING_BASELINE_MSE:.3f}.", "",
        "![clipping](clipping.png)", "",
        _output.table(rows, columns), ""])
