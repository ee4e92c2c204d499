"""Study 3's figures and report: learning curves against the baselines, and the
gradients and spectra recorded during training. Medians over seeds, bands min-max;
findings stated only where they hold at every seed."""

from __future__ import annotations

import numpy as np

from lowlevel.apps.lab import _output
from lowlevel.apps.lab.memory_tasks import task as get_task

_COLOURS = {"simple": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}
_BASELINE_STYLES = ("--", ":")


def _smooth(values, window):
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _band(ax, x, runs, colour, label):
    """Median line and min-max band of ``runs [seed, x]`` (shortest run's length)."""
    length = min(len(r) for r in runs)
    runs = np.stack([r[:length] for r in runs])
    line, = ax.plot(x[:length], np.median(runs, axis=0), color=colour, lw=1.1, label=label)
    ax.fill_between(x[:length], runs.min(axis=0), runs.max(axis=0), color=colour,
                    alpha=0.2, lw=0)
    return line


def plot_curves(path, curves, config):
    """Rows: tasks; columns: T. Smoothed training loss per cell, baselines dashed."""
    fig, axes = _output.figure(len(config.tasks), len(config.time_steps), width=3.8,
                               height=2.7)
    for i, task in enumerate(config.tasks):
        spec = get_task(task)
        for j, time_steps in enumerate(config.time_steps):
            ax = axes[i, j]
            for cell in config.cells:
                runs = [_smooth(np.array([c["loss"] for c in curves if c["task"] == task
                                          and c["cell"] == cell and c["time_steps"] == time_steps
                                          and c["seed"] == s]), config.window // 2)
                        for s in range(config.seed, config.seed + config.seeds)]
                _band(ax, np.arange(len(runs[0])), runs, _COLOURS[cell], cell)
            for style, (label, value) in zip(_BASELINE_STYLES,
                                             spec.baselines(time_steps).items()):
                ax.axhline(value, color="gray", ls=style, lw=0.9, label=label)
            ax.set_yscale("log")
            ax.set_title(f"{task}, T={time_steps}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.set_ylabel(f"training {spec.metric}", fontsize=7)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="lower left")
    _output.save(fig, path)


_DYNAMICS = (("grad_ratio", "‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖", True),
             ("sigma_max_candidate", "σ_max of U (candidate block)", False),
             ("saturated_fraction", "fraction of tanh candidates |a| > 0.95", False),
             ("gate_mean", "mean forget gate f (LSTM) / update gate z (GRU)", False))


def dynamics(arrays) -> dict:
    """The plotted quantities of one recorded run, ``[checkpoint]`` each."""
    gates = list(arrays["gates"])
    candidate = gates.index("c") if "c" in gates else len(gates) - 1  # LSTM c, GRU h, simple h
    gate_mean = (arrays["forget_mean"] if "f" in gates else arrays["update_mean"]
                 if "z" in gates else np.full(len(arrays["step"]), np.nan))
    return {"step": arrays["step"], "grad_ratio": arrays["grad_ratio"],
            "sigma_max_candidate": arrays["sigma_max"][:, candidate],
            "rho_candidate": arrays["spectral_radius"][:, candidate],
            "saturated_fraction": arrays["saturated_fraction"], "gate_mean": gate_mean}


def _runs_of(records, task, cell, time_steps):
    prefix = f"memory_{task}_{cell}_T{time_steps}_s"
    return [dynamics(a) for name, a in records.items() if name.startswith(prefix)]


def plot_dynamics(path, records, config):
    """One panel per recorded quantity, one line (median, band) per cell: how training
    moves the gradient profile, the spectrum and the gates (first recorded task and T)."""
    task, time_steps = config.record_tasks[0], config.time_steps[0]
    fig, axes = _output.figure(1, len(_DYNAMICS), width=3.4, height=2.9)
    for k, (key, label, log_scale) in enumerate(_DYNAMICS):
        ax = axes[0, k]
        for cell in config.cells:
            runs = _runs_of(records, task, cell, time_steps)
            if runs and not np.all(np.isnan(runs[0][key])):
                _band(ax, runs[0]["step"], [r[key] for r in runs], _COLOURS[cell], cell)
        if log_scale:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(f"training step ({task}, T={time_steps})", fontsize=7)
        ax.set_ylabel(label.split(" (")[0], fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    _output.save(fig, path)


def summary_rows(rows, config):
    out = []
    for task in config.tasks:
        for time_steps in config.time_steps:
            for cell in config.cells:
                group = [r for r in rows if r["task"] == task and r["cell"] == cell
                         and r["time_steps"] == time_steps]
                out.append({"task": task, "cell": cell, "time_steps": time_steps,
                            "final_loss": float(np.median([g["final_loss"] for g in group])),
                            "loss_range": "–".join(_output.fmt(v) for v in (
                                min(g["final_loss"] for g in group),
                                max(g["final_loss"] for g in group))),
                            "baseline": group[0]["baseline"],
                            "accuracy": float(np.median([g["accuracy"] for g in group])),
                            "solved": f"{sum(g['solved'] for g in group)}/{len(group)}"})
    return out


def findings(rows, records, config) -> list:
    """Per (task, T): which cells solve it at every seed, which stay at the baseline."""
    lines = []
    for s in summary_rows(rows, config):
        group = [r for r in rows if r["task"] == s["task"] and r["cell"] == s["cell"]
                 and r["time_steps"] == s["time_steps"]]
        where = f"{s['task']}, T = {s['time_steps']}"
        if all(g["solved"] for g in group):
            lines.append(f"- {s['cell']} solves {where} at every seed (held-out "
                         f"criterion accuracy ≥ {min(g['accuracy'] for g in group):.3f}).")
        elif all(g["loss_over_baseline"] > 0.9 for g in group):
            lines.append(f"- {s['cell']} does not beat the memoryless baseline on {where} "
                         f"at any seed (held-out loss ≥ "
                         f"{min(g['loss_over_baseline'] for g in group):.2f} × baseline).")
    for cell in config.cells:
        for time_steps in config.time_steps:
            runs = _runs_of(records, config.record_tasks[0] if config.record_tasks else "",
                            cell, time_steps)
            if runs:
                first = [r["grad_ratio"][0] for r in runs]
                last = [r["grad_ratio"][-1] for r in runs]
                sigma = [r["sigma_max_candidate"][-1] for r in runs]
                lines.append(
                    f"- recorded, {cell} on {config.record_tasks[0]} T = {time_steps}: "
                    f"‖∂L/∂h_0‖/‖∂L/∂h_T-1‖ {_output.fmt(float(np.median(first)))} at step 0, "
                    f"{_output.fmt(float(np.median(last)))} at step "
                    f"{int(runs[0]['step'][-1])} (medians); σ_max of the candidate block "
                    f"{min(sigma):.2f}–{max(sigma):.2f} at the end.")
    return lines


def report(rows, records, config) -> str:
    columns = ["task", "cell", "time_steps", "final_loss", "loss_range", "baseline",
               "accuracy", "solved"]
    headers = ["task", "cell", "T", "held-out loss (median)", "min–max", "baseline",
               "criterion accuracy", "solved (seeds)"]
    seeds = f"seeds {config.seed}..{config.seed + config.seeds - 1}"
    return "\n".join([
        "# Which cell remembers", "",
        f"Tasks {', '.join(config.tasks)}; {config.units} units + dense head, batch "
        f"{config.batch}, Adam lr {config.learning_rate}, clip {config.clip}, "
        f"{config.steps} steps for every task, cell and T, {seeds}; scores on "
        f"{config.eval_batch} held-out sequences. Criteria: adding, |error| < 0.08 (H&S's "
        "0.04 on their scale); copy, recalled symbols right; order, class right; solved: "
        "≥ 99% of them. Baselines: adding 1/6 (1/12 remembering one number), copy "
        "10 log 8/(T+20), order log 4.", "",
        "![memory](memory.png)", "",
        _output.table(summary_rows(rows, config), columns, headers), "",
        *(["![dynamics](memory_dynamics.png)", ""] if records else []),
        *findings(rows, records, config), ""])
