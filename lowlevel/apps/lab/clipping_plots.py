"""Study 2's figure and report: the sweep's final losses against the learning rate,
the clipped fractions, training curves on a range the unclipped runs cannot squash
(their divergence is marked, not drawn to 1e30), and the pre-clip global norm per step
with each run's threshold drawn. Medians over seeds; findings only where they hold at
every seed."""

from __future__ import annotations

import numpy as np

from lowlevel.apps.data.tasks import ADDING_BASELINE_MSE, ADDING_ONE_NUMBER_MSE
from lowlevel.apps.lab import _output
from lowlevel.apps.lab._output import plt

_YLIM = (0.05, 1e3)  # one loss range for every panel


def _group(rows, setting, lr):
    return [r for r in rows if r["setting"] == setting and r["learning_rate"] == lr]


def _settings(rows):
    return list(dict.fromkeys(r["setting"] for r in rows))


def _colour(rows, setting):
    """One colour per setting, the same in every panel (20 before any repeats)."""
    return plt.get_cmap("tab20")(_settings(rows).index(setting) % 20)


def _median_loss(group):
    """Median last-window loss of the runs that did not diverge (NaN if all did)."""
    values = [g["last_window_loss"] for g in group if not g["diverged"]]
    return float(np.median(values)) if values else float("nan")


def _sweep_panel(ax, rows, settings, config, title):
    lrs = np.array(config.learning_rates)
    for setting in settings:
        colour = _colour(rows, setting)
        med = [_median_loss(_group(rows, setting, lr)) for lr in lrs]
        ax.plot(lrs, med, "o-", color=colour, ms=3, lw=1, label=setting)
        for lr in lrs:  # a divergence at any seed: a cross on the top edge
            if any(g["diverged"] for g in _group(rows, setting, lr)):
                ax.plot([lr], [_YLIM[1] * 0.6], "x", color=colour, ms=7)
    for value, style in ((ADDING_BASELINE_MSE, "--"), (ADDING_ONE_NUMBER_MSE, ":")):
        ax.axhline(value, color="gray", ls=style, lw=0.8)
    ax.set(xscale="log", yscale="log", ylim=_YLIM)
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("SGD learning rate", fontsize=8)
    ax.set_ylabel(f"last-{config.window}-step loss (median)", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left")


def norm_series(rows, steps, settings, learning_rate, seed) -> list:
    """What a per-step norm panel draws, one dict per setting in ``settings``:
    ``step`` and ``global_norm`` (pre-clip, as logged; the run stops where it diverged),
    ``threshold`` (the global-norm threshold, or the global-norm equivalent of the
    mode's; ``None`` unclipped) and ``diverged``."""
    series = []
    for setting in settings:
        run = next(r for r in rows if r["setting"] == setting
                   and r["learning_rate"] == learning_rate and r["seed"] == seed)
        pts = [p for p in steps if p["setting"] == setting
               and p["learning_rate"] == learning_rate and p["seed"] == seed]
        series.append({"setting": setting, "step": np.array([p["step"] for p in pts]),
                       "global_norm": np.array([p["global_norm"] for p in pts], float),
                       "threshold": run["global_threshold"], "diverged": run["diverged"]})
    return series


def _norm_panel(ax, rows, steps, settings, learning_rate, config):
    """Pre-clip global norm per step; thresholds dashed in the run's colour; a run that
    diverged is drawn up to the top of the range and marked with a cross there."""
    series = norm_series(rows, steps, settings, learning_rate, config.seed)
    kept = [v for s in series if not s["diverged"] for v in s["global_norm"]
            if np.isfinite(v) and v > 0]
    thresholds = [s["threshold"] for s in series if s["threshold"] is not None]
    low = 0.5 * min(kept + thresholds) if kept or thresholds else 1e-3
    high = 5.0 * max(kept + thresholds) if kept or thresholds else 1e3
    for s in series:
        colour = _colour(rows, s["setting"])
        norm = np.nan_to_num(s["global_norm"], nan=high, posinf=high)
        unclipped = s["threshold"] is None  # drawn on top: the reference
        ax.plot(s["step"], np.clip(norm, low, high), color=colour, lw=1.1 if unclipped
                else 0.8, zorder=3 if unclipped else 2, label=s["setting"])
        if s["threshold"] is not None:
            ax.axhline(s["threshold"], color=colour, ls="--", lw=0.8)
        if s["diverged"] and len(s["step"]):
            ax.plot([s["step"][-1]], [high * 0.7], "x", color=colour, ms=7)
    ax.set(yscale="log", ylim=(low, high))
    ax.set_title(f"pre-clip global norm, lr {learning_rate:g}, seed {config.seed}\n"
                 "(dashed: threshold; x: diverged)", fontsize=8)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("‖g‖ before clipping", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="lower right")


def plot(path, rows, steps, config):
    """(a) global norm: none, relative and absolute thresholds; (b) the three modes at
    comparable strength; (c) clipped fraction; (d) loss curves at the middle lr, seed
    ``config.seed``; (e, f) the pre-clip global norm per step at the middle and the
    largest lr, thresholds drawn."""
    fig, axes = _output.figure(2, 3, width=3.6, height=3.1)
    axes = axes.reshape(1, 6)  # panels a..f in reading order
    settings = _settings(rows)
    global_settings = [s for s in settings if s == "none" or s.startswith("global_norm")]
    one = [s for s in settings if s.endswith(" 1×typ")]
    _sweep_panel(axes[0, 0], rows, global_settings, config,
                 "global-norm clipping (x: diverged)")
    _sweep_panel(axes[0, 1], rows, ["none", *one], config, "modes at comparable strength")
    ax = axes[0, 2]
    lrs = np.array(config.learning_rates)
    for setting in settings[1:]:
        ax.plot(lrs, [np.median([g["clipped_fraction"] for g in _group(rows, setting, lr)])
                      for lr in lrs], "o-", color=_colour(rows, setting), ms=3, lw=1,
                label=setting)
    ax.legend(fontsize=6, loc="lower left")
    ax.set(xscale="log", ylim=(-0.02, 1.02))
    ax.set_title("fraction of steps clipped", fontsize=8)
    ax.set_xlabel("SGD learning rate", fontsize=8)
    ax.set_ylabel("clipped fraction (median)", fontsize=7)
    ax.tick_params(labelsize=7)
    ax = axes[0, 3]
    lr = np.sort(lrs)[len(lrs) // 2]
    for setting in global_settings:
        colour = _colour(rows, setting)
        pts = [s for s in steps if s["setting"] == setting and s["learning_rate"] == lr
               and s["seed"] == config.seed]
        loss = np.array([p["loss"] for p in pts])
        ax.plot([p["step"] for p in pts], np.clip(loss, None, _YLIM[1]), color=colour,
                lw=0.9, label=setting)
        if len(pts) < config.steps:  # stopped: diverged
            ax.plot([pts[-1]["step"]], [_YLIM[1] * 0.6], "x", color=colour, ms=7)
    ax.axhline(ADDING_BASELINE_MSE, color="gray", ls="--", lw=0.8)
    ax.set(yscale="log", ylim=_YLIM)
    ax.set_title(f"training loss, lr {lr:g}, seed {config.seed}", fontsize=8)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("MSE (clipped to the range)", fontsize=7)
    ax.tick_params(labelsize=7)
    _norm_panel(axes[0, 4], rows, steps, global_settings, lr, config)
    _norm_panel(axes[0, 5], rows, steps, global_settings, lrs.max(), config)
    _output.save(fig, path)


def summary_rows(rows, config):
    out = []
    for setting in _settings(rows):
        for lr in config.learning_rates:
            group = _group(rows, setting, lr)
            out.append({"setting": setting, "learning_rate": lr,
                        "last_window_loss": _median_loss(group),
                        "diverged": f"{sum(g['diverged'] for g in group)}/{len(group)}",
                        "clipped_fraction": float(np.median([g["clipped_fraction"]
                                                             for g in group])),
                        "median_global_norm": float(np.median([g["median_global_norm"]
                                                               for g in group]))})
    return out


def findings(rows, config) -> list:
    lines = []
    seeds = sorted({r["seed"] for r in rows})
    typical = sorted({round(r["typical_norm"], 3) for r in rows})
    lines.append(f"- Typical pre-clip global norm (median of the first "
                 f"{config.calibration_steps} unclipped steps at lr "
                 f"{min(config.learning_rates):g}): {', '.join(f'{t:.3g}' for t in typical)} "
                 f"(seeds {seeds[0]}..{seeds[-1]}).")
    for lr in config.learning_rates:
        none = _group(rows, "none", lr)
        state = ("diverges at every seed" if all(g["diverged"] for g in none) else
                 "never diverges" if not any(g["diverged"] for g in none) else
                 f"diverges at {sum(g['diverged'] for g in none)} of {len(none)} seeds")
        lines.append(f"- Unclipped SGD at lr {lr:g} {state}.")
        best = {}
        for seed in seeds:
            runs = [r for r in rows if r["learning_rate"] == lr and r["seed"] == seed
                    and not r["diverged"]]
            if runs:
                best[seed] = min(runs, key=lambda r: r["last_window_loss"])["setting"]
        winners = set(best.values())
        if len(best) == len(seeds) and len(winners) == 1:
            lines.append(f"  Lowest final loss at lr {lr:g}: {winners.pop()}, at every seed.")
        elif best:
            lines.append(f"  Lowest final loss at lr {lr:g} differs between seeds "
                         f"({', '.join(sorted(winners))}): no single winner.")
    return lines


def report(rows, config) -> str:
    columns = ["setting", "learning_rate", "last_window_loss", "diverged",
               "clipped_fraction", "median_global_norm"]
    headers = ["clip", "SGD lr", f"last-{config.window}-step loss (median)",
               "diverged (seeds)", "clipped fraction", "median global norm"]
    return "\n".join([
        "# Clipping: learning rate × threshold", "",
        f"ReLU SimpleRNN ({config.units} units, U orthogonal scaled to ρ = σ_max = "
        f"{config.radius}) + Dense(1) on the adding problem, T = {config.time_steps}, "
        f"batch {config.batch}, plain SGD, {config.steps} steps, seeds {config.seed}.."
        f"{config.seed + config.seeds - 1}. Thresholds: k×typ = k times the typical norm "
        "(global norm; per-tensor norm and per-element value at the comparable strengths "
        "c/√n and c/√N); absolute global-norm thresholds as numbers. Diverged: NaN/inf or "
        f"loss above {config.blowup:g} × the first loss. Baselines 1/6 (dashed) and 1/12 "
        "(dotted).", "",
        "![clipping](clipping.png)", "",
        _output.table(summary_rows(rows, config), columns, headers), "",
        *findings(rows, config), ""])
