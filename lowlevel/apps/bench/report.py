"""What ``lowlevel bench`` prints and draws from a measured result (no measuring here).

The table flags rows a reader should not trust (spread over a fifth of the median),
shows a matmul share above the measured peak as ``>100%`` with the reason, and lists
every implementation that did not run with why. The chart draws each ratio with an
error bar from the measured quartiles, one colour per implementation (Keras hatched).
"""

from __future__ import annotations

from lowlevel.apps.bench.names import BASELINE, IMPLEMENTATIONS, baseline_of

# One colour per implementation, the same in every chart: fifteen that stay apart
# (Okabe & Ito's colour-blind-safe eight, then Paul Tol's darker and paler tones).
COLOURS = {
    "keras_layer": "#4d4d4d", "lowlevel_sequential": "#aa4499", "lowlevel": "#0072b2",
    "lowlevel_reference": "#56b4e9",
    "lowlevel_fast": "#332288", "lowlevel_bptt": "#009e73", "lowlevel_stacked": "#e69f00",
    "lowlevel_unrolled": "#d55e00", "lowlevel_bfloat16": "#cc79a7",
    "keras_mixed_bfloat16": "#882255", "keras_cell_loop_function": "#999933",
    "keras_cell_loop_eager": "#ddcc77", "block_lstm": "#44aa99", "keras_cudnn": "#117733",
    "torch": "#000000",
}
assert set(COLOURS) == set(IMPLEMENTATIONS)


def ratio_range(row, base_row) -> tuple[float, float]:
    """The ratio's error bar: baseline q1 / this q3 up to baseline q3 / this q1.

    The ratio of two medians moves within these bounds when both timings move within
    their interquartile ranges.
    """
    return base_row["q1"] / row["q3"], base_row["q3"] / row["q1"]


def _peak_text(fraction: float) -> str:
    return ">100%" if fraction > 1.0 else f"{fraction:.0%}"


def _note(row) -> str:
    notes = []
    if row.get("unreliable"):
        notes.append(f"unreliable: machine busy (IQR {row['spread']:.0%} of median)")
    if row.get("peak_fraction", 0.0) > 1.0:
        notes.append("above the measured peak (*)")
    return "; ".join(notes)


def _skipped_lines(result) -> list[str]:
    """One line per skipped implementation and reason, with the cases it covers."""
    groups: dict = {}
    for skip in result.get("skipped", []):
        key = (skip["implementation"], skip["reason"])
        groups.setdefault(key, []).append(f"{skip['size']} {skip['kind']} {skip['phase']}")
    if not groups:
        return []
    lines = ["", "not run:"]
    for (impl, reason), cases in groups.items():
        lines.append(f"  {impl}: {reason} ({len(cases)} case{'s' * (len(cases) > 1)})")
    return lines


def _seconds(value) -> str:
    return "" if value is None else f"{value:.2f}"


def format_table(result) -> str:
    header = (f"{'kind':6} {'phase':10} {'implementation':24} {'median ms':>10} "
              f"{'IQR ms':>8} {'ratio':>7} {'GFLOP/s':>8} {'peak':>5} {'first s':>8} "
              f"{'own s':>6} {'error':>8}  note")
    lines = [f"ratio = baseline median / median (> 1: faster); baseline keras_layer "
             f"(keras_mixed_bfloat16 for lowlevel_bfloat16); error = max|a-b|/max|b| of the "
             f"first result; peak = share of {result['peak_gflops']:.0f} GFLOP/s; first s = "
             f"first call (trace + run) in this process, own s = in a process of its own; "
             f"update: {result.get('optimizer', 'rmsprop')}"]
    for size_name, size in result["sizes"].items():
        lines += ["", f"{size_name}: " + ", ".join(f"{k} {v}" for k, v in size.items()),
                  header]
        for row in result["rows"]:
            if row["size"] != size_name:
                continue
            lines.append(
                f"{row['kind']:6} {row['phase']:10} {row['implementation']:24} "
                f"{row['median'] * 1e3:10.2f} {(row['q3'] - row['q1']) * 1e3:8.2f} "
                f"{row['ratio']:6.2f}x {row['gflops']:8.1f} "
                f"{_peak_text(row['peak_fraction']):>5} "
                f"{row['first_call']:8.2f} {_seconds(row.get('first_call_own_process')):>6} "
                f"{row['error']:8.1e}  {_note(row)}".rstrip())
    rows = result["rows"]
    if any(row.get("peak_fraction", 0.0) > 1.0 for row in rows):
        lines += ["", "(*) faster than the matmul peak measured in this run: that peak is the "
                      "best of a few calls of one large matmul before and after the cases, so "
                      "a busy machine can have lowered it; read the share as 'about the peak'."]
    busy = sum(bool(row.get("unreliable")) for row in rows)
    if busy:
        lines += ["", f"{busy} of {len(rows)} rows unreliable: their spread (IQR) exceeds "
                      f"{result.get('unreliable_spread', 0.2):.0%} of the median; rerun on a "
                      f"quieter machine or with more --repeats before believing them."]
    lines += _skipped_lines(result)
    env, load = result["environment"], result.get("load_average") or {}
    lines += ["", f"TensorFlow {env['tensorflow']}, Keras {env['keras']}"
              + (f", PyTorch {env['torch']}" if "torch" in env else "")
              + f"; {result['device']}: {env['cpu']} ({env['cpu_count']} cores); "
              f"threads inter-op {env['inter_op_threads']}, intra-op "
              f"{env['intra_op_threads']} (0: TensorFlow's default)"]
    if load.get("start") is not None:
        lines.append(f"load average (1, 5, 15 min): {load['start']} at the start, "
                     f"{load['end']} at the end, on {env['cpu_count']} cores")
        if machine_busy(load, env["cpu_count"]):
            lines.append("MACHINE BUSY: more runnable processes than cores during the run; "
                         "every time here, the peak included, is slowed by other work, and "
                         "ratios between implementations can be off by more than they show.")
    return "\n".join(lines)


def machine_busy(load: dict, cpu_count: int | None) -> bool:
    """True when the 1-minute load average exceeded the cores at the start or the end."""
    one_minute = [x[0] for x in (load.get("start"), load.get("end")) if x]
    return bool(cpu_count) and any(x > cpu_count for x in one_minute)


def _bars(ax, rows, groups, impls):
    """One bar per implementation and group, with its error bar."""
    width = 0.8 / max(len(impls), 1)
    by_key = {(row["kind"], row["phase"], row["implementation"]): row for row in rows}
    for j, impl in enumerate(impls):
        xs, ys, low, high = [], [], [], []
        for g, (kind, phase) in enumerate(groups):
            row = by_key.get((kind, phase, impl))
            if row is None:
                continue
            lo, hi = ratio_range(row, by_key[kind, phase, row["baseline"]])
            xs.append(g + (j - (len(impls) - 1) / 2) * width)
            ys.append(row["ratio"])
            low.append(max(row["ratio"] - lo, 0.0))
            high.append(max(hi - row["ratio"], 0.0))
        base = baseline_of(impl)
        label = impl if base == BASELINE else f"{impl} (vs {base})"
        ax.bar(xs, ys, width, color=COLOURS[impl], edgecolor="white", linewidth=0.5,
               hatch="//" if impl.startswith("keras") else None, label=label,
               yerr=[low, high], error_kw=dict(ecolor="black", elinewidth=0.8, capsize=2))


def plot(result, path):
    import matplotlib  # noqa: PLC0415 (only when writing the figure)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    size_names = list(result["sizes"])
    fig, axes = plt.subplots(len(size_names), 1, squeeze=False,
                             figsize=(12, 4.5 * len(size_names)))
    for ax, size_name in zip(axes[:, 0], size_names):
        rows = [row for row in result["rows"] if row["size"] == size_name]
        groups = list(dict.fromkeys((row["kind"], row["phase"]) for row in rows))
        impls = list(dict.fromkeys(row["implementation"] for row in rows))
        _bars(ax, rows, groups, impls)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(groups)), [f"{kind}\n{phase}" for kind, phase in groups],
                      fontsize=10)
        ax.tick_params(axis="y", labelsize=10)
        ax.set_ylabel("speed vs keras_layer (x)", fontsize=11)
        ax.set_title(f"{size_name}: " + ", ".join(
            f"{k} {v}" for k, v in result["sizes"][size_name].items())
            + "  (bars: quartile range)", fontsize=11)
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
