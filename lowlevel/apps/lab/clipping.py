"""Study 2 — clipping, as a learning-rate × threshold sweep in a regime that explodes.

A ReLU SimpleRNN whose orthogonal ``U`` is scaled to ρ = σ_max > 1: ReLU does not
saturate, so ``J_t = diag(1[z_t > 0]) Uᵀ`` keeps the norm ρ on its active units and the
gradient grows geometrically with the distance. The same network (per seed) is trained
on the adding problem by plain SGD (the update is the clipped gradient times the
learning rate) at every learning rate, unclipped and with each clipping mode of
:func:`lowlevel.train.clip_gradients` at each threshold.

Thresholds (Pascanu, Mikolov & Bengio 2013 recommend a threshold relative to the
typical gradient norm): ``typical`` is the median pre-clip global norm of the first
``calibration_steps`` of an unclipped run at the smallest learning rate, seed by seed;
a relative factor ``k`` gives the global-norm threshold ``c = k · typical``. The three
modes at comparable strength: with ``n`` tensors and ``N`` parameters, per-tensor norm
``c / sqrt(n)`` and per-element value ``c / sqrt(N)`` — the thresholds at which a
gradient spread evenly over tensors (elements) would be clipped exactly as global norm
``c`` clips it. Absolute global-norm thresholds are swept too.

A run *diverged* if its loss became NaN/inf or exceeded ``blowup`` times its first loss.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lowlevel import gradients, optimizers
from lowlevel.apps.data.tasks import adding_problem
from lowlevel.apps.lab import _output
from lowlevel.apps.lab.regression import SequenceRegressor
from lowlevel.apps.lab.training import GradientLog, train_regressor, variable_names
from lowlevel.train import Clip


@dataclasses.dataclass(frozen=True)
class ClipConfig:
    learning_rates: tuple = (1e-4, 1e-3, 1e-2)  # plain SGD; each also runs unclipped
    modes: tuple = ("value", "norm", "global_norm")  # at comparable strength, see above
    relative: tuple = (0.1, 1.0, 10.0)  # thresholds as multiples of the typical norm
    absolute: tuple = (1.0, 100.0)  # global-norm thresholds as plain numbers
    calibration_steps: int = 20  # unclipped steps at the smallest lr that set 'typical'
    radius: float = 1.8  # of the ReLU SimpleRNN's U; > 1 explodes (1.3 merely wobbles)
    units: int = 32
    time_steps: int = 30
    batch: int = 64
    steps: int = 300
    window: int = 30  # steps averaged for "first" and "last" loss
    blowup: float = 1e6  # loss above blowup * first loss counts as diverged
    seed: int = 0
    seeds: int = 3
    tensorboard: bool = False  # also write each run's GradientLog to out/tensorboard/


def exploding_model(config: ClipConfig, seed=None) -> SequenceRegressor:
    model = SequenceRegressor("simple", units=config.units, input_dim=2, activation="relu",
                              seed=config.seed if seed is None else seed)
    gradients.rescale_recurrent_kernel(model.rnn.cell, config.radius)
    return model


def _batches(config, seed):
    return lambda i: adding_problem(config.batch, config.time_steps, seed=[seed, i])


def typical_norm(config: ClipConfig, seed) -> float:
    """Median pre-clip global norm over the first ``calibration_steps`` unclipped steps
    at the smallest learning rate (Pascanu et al.'s "average norm over many updates")."""
    model = exploding_model(config, seed)
    log = train_regressor(model, optimizers.SGD(min(config.learning_rates)),
                          _batches(config, seed), config.calibration_steps,
                          blowup=config.blowup)
    return float(np.nanmedian(log.column("global_norm")))


def comparable_clip(mode, global_threshold, model) -> Clip:
    """``mode`` at the strength of global-norm clipping at ``global_threshold``."""
    variables = model.variables_in_order
    scale = {"global_norm": 1.0, "norm": math.sqrt(len(variables)),
             "value": math.sqrt(sum(int(np.prod(v.shape)) for v in variables))}[mode]
    return Clip(mode, global_threshold / scale)


def clip_settings(config: ClipConfig, typical) -> list:
    """``[(label, mode, global-equivalent threshold)]``: unclipped, relative, absolute."""
    settings = [("none", "none", None)]
    for k in config.relative:
        settings += [(f"{mode} {k:g}×typ", mode, k * typical) for mode in config.modes]
    settings += [(f"global_norm {c:g}", "global_norm", c) for c in config.absolute]
    return settings


def clip_case(clip, config: ClipConfig, learning_rate=None, seed=None, tensorboard_dir=None):
    """Train one copy of the exploding model; ``(row, log)``.

    ``clip``: a :class:`~lowlevel.train.Clip` or its text form (``'global_norm:1'``).
    """
    seed = config.seed if seed is None else seed
    learning_rate = min(config.learning_rates) if learning_rate is None else learning_rate
    clip = Clip.parse(clip) if isinstance(clip, str) else clip
    model = exploding_model(config, seed)
    log = GradientLog(variable_names(model), tensorboard_dir)
    train_regressor(model, optimizers.SGD(learning_rate), _batches(config, seed),
                    config.steps, clip=clip, log=log, blowup=config.blowup)
    log.close()
    loss = log.column("loss")
    finite = bool(np.all(np.isfinite(loss)))
    w = min(config.window, max(1, len(loss) // 2))
    first, last = float(np.mean(loss[:w])), float(np.mean(loss[-w:]))
    diverged = (not finite) or bool(np.nanmax(loss) > config.blowup * loss[0]) \
        or len(loss) < config.steps
    row = {"clip": clip.mode if clip.mode == "none" else f"{clip.mode}:{clip.threshold:.4g}",
           "learning_rate": learning_rate, "seed": seed, "steps_run": len(loss),
           "diverged": diverged, "first_loss": float(loss[0]), "first_window_loss": first,
           "last_window_loss": math.nan if diverged else last,
           "decreased": (not diverged) and last < first,
           "clipped_fraction": float(np.mean(log.column("clipped"))),
           "median_global_norm": float(np.nanmedian(log.column("global_norm"))),
           "max_global_norm": float(np.nanmax(log.column("global_norm")))}
    return row, log


def run(out, config: ClipConfig = ClipConfig()) -> dict:
    """Write ``clipping.csv``, ``clipping_steps.csv``, ``clipping.npz``, ``clipping.png``,
    ``clipping.md``; return ``{'rows': one per run, 'steps': one per logged step,
    'files': [...]}``."""
    out = _output.out_dir(out)
    rows, steps = [], []
    for seed in range(config.seed, config.seed + config.seeds):
        typical = typical_norm(config, seed)
        model = exploding_model(config, seed)
        for label, mode, threshold in clip_settings(config, typical):
            clip = Clip() if mode == "none" else comparable_clip(mode, threshold, model)
            for lr in config.learning_rates:
                tensorboard = (out / "tensorboard" / f"clipping_{label.replace(' ', '_')}"
                               f"_lr{lr:g}_s{seed}" if config.tensorboard else None)
                row, log = clip_case(clip, config, lr, seed, tensorboard)
                row.update(setting=label, typical_norm=typical,
                           global_threshold=threshold)
                rows.append(row)
                steps += [{"setting": label, "learning_rate": lr, "seed": seed, **r}
                          for r in log.rows]
    _output.write_csv(out / "clipping.csv", rows)
    _output.write_csv(out / "clipping_steps.csv", steps,
                      columns=["setting", "learning_rate", "seed", *log.columns])
    _save_npz(out / "clipping.npz", rows, steps, config)
    from lowlevel.apps.lab import clipping_plots  # matplotlib only here
    clipping_plots.plot(out / "clipping.png", rows, steps, config)
    (out / "clipping.md").write_text(clipping_plots.report(rows, config))
    return {"rows": rows, "steps": steps, "files": ["clipping.csv", "clipping_steps.csv", "clipping.npz",
                                    "clipping.png", "clipping.md"]}


def _save_npz(path, rows, steps, config):
    """``loss`` and ``global_norm`` ``[run, step]`` (NaN after a divergence), run keys."""
    loss = np.full((len(rows), config.steps), np.nan)
    norm = np.full((len(rows), config.steps), np.nan)
    index = {(r["setting"], r["learning_rate"], r["seed"]): i for i, r in enumerate(rows)}
    for s in steps:
        i = index[(s["setting"], s["learning_rate"], s["seed"])]
        loss[i, s["step"]], norm[i, s["step"]] = s["loss"], s["global_norm"]
    np.savez(path, loss=loss, global_norm=norm,
             setting=np.array([r["setting"] for r in rows]),
             learning_rate=np.array([r["learning_rate"] for r in rows]),
             seed=np.array([r["seed"] for r in rows]),
             diverged=np.array([r["diverged"] for r in rows]))
