"""``lowlevel bench``: step speed against Keras, measured in one process, same weights and data.

For each size and cell kind, every implementation (:mod:`lowlevel.apps.bench.speed`) is built from
the same seeded weights and data, called once (trace + first run, timed as
``first_call``), checked against its baseline's first output, warmed up once, then
timed in ``repeats`` round-robin rounds: within a round each implementation runs
once, and the starting implementation rotates from round to round, so slow drifts of
a shared machine fall on all of them alike. Reported per row:

- ``median`` and the interquartile range of the per-call seconds;
- ``ratio`` = baseline median / this median (> 1: faster than the baseline), where the
  baseline is ``keras_layer``, or ``keras_mixed_bfloat16`` for ``lowlevel_bfloat16``;
- ``gflops`` = :func:`lowlevel.apps.bench.speed.matmul_flops` / median, and ``peak_fraction``,
  its share of a large float32 matmul's rate measured in the same run;
- ``error`` = the scaled error ``max|a - b| / max|b|`` of the first call's result (the
  forward output, or the first training loss) against the baseline's.

Results go to ``DIR/bench.json`` (with versions, device and threads) and a bar chart of
the ratios to ``DIR/bench.png``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from lowlevel.apps.bench import speed

DEFAULT_IMPLEMENTATIONS = ("keras_layer", "lowlevel", "lowlevel_stacked", "lowlevel_unrolled",
                           "lowlevel_reference", "lowlevel_bptt",
                           "lowlevel_bfloat16", "keras_mixed_bfloat16",
                           "keras_cell_loop_function", "block_lstm", "keras_cudnn", "torch")
QUICK_IMPLEMENTATIONS = ("keras_layer", "lowlevel", "lowlevel_stacked", "lowlevel_unrolled",
                         "lowlevel_bfloat16", "keras_mixed_bfloat16", "torch")
QUICK_REPEATS = 5
DEFAULT_REPEATS = 11


def baseline_of(implementation: str) -> str:
    return "keras_mixed_bfloat16" if implementation == "lowlevel_bfloat16" else speed.BASELINE


def scaled_error(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(float(np.max(np.abs(expected))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(actual - expected))) / scale


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of a compiled ``[n, n] @ [n, n]`` float32 matmul, best of ``repeats``.

    The best, not the median: a peak is what the machine can do, and a busy moment
    on a shared machine only ever slows a call down.
    """
    rng = np.random.default_rng(speed.SEED)
    a, b = (tf.constant(rng.standard_normal((n, n)), tf.float32) for _ in range(2))
    matmul = tf.function(tf.matmul)
    matmul(a, b).numpy()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        seconds.append(time.perf_counter() - start)
    return 2.0 * n ** 3 / min(seconds) / 1e9


def _timed(case, phase):
    start = time.perf_counter()
    result = case.run(phase)
    return time.perf_counter() - start, result


def measure_group(size_name, size, kind, phases, implementations, repeats, peak, log):
    """Rows and skips for one size and cell kind (all phases)."""
    rows, skipped, cases = [], [], {}
    for phase in phases:
        chosen = []
        for impl in implementations:
            reason = speed.unavailable(impl) or speed.applies(
                kind, impl, phase, size_name if size_name in speed.SIZES else size)
            if reason is None and baseline_of(impl) not in implementations:
                reason = f"its baseline {baseline_of(impl)} is not selected"
            if reason is not None:
                skipped.append(dict(size=size_name, kind=kind, phase=phase,
                                    implementation=impl, reason=reason))
                continue
            chosen.append(impl)
        first_call, first_result = {}, {}
        for impl in chosen:
            if impl not in cases:
                cases[impl] = speed.build_case(kind, impl, size)
            first_call[impl], first_result[impl] = _timed(cases[impl], phase)
            _timed(cases[impl], phase)  # warm-up: a second trace can hide in the first runs
        seconds = {impl: [] for impl in chosen}
        for r in range(repeats):
            for impl in chosen[r % len(chosen):] + chosen[:r % len(chosen)]:
                seconds[impl].append(_timed(cases[impl], phase)[0])
        for impl in chosen:
            median = float(np.median(seconds[impl]))
            q1, q3 = (float(q) for q in np.percentile(seconds[impl], [25, 75]))
            base = baseline_of(impl)
            gflops = speed.matmul_flops(kind, size, phase) / median / 1e9
            rows.append(dict(
                size=size_name, shape=dict(size), kind=kind, phase=phase, implementation=impl,
                baseline=base, median=median, q1=q1, q3=q3, seconds=seconds[impl],
                ratio=float(np.median(seconds[base])) / median,
                gflops=gflops, peak_fraction=gflops / peak, first_call=first_call[impl],
                error=scaled_error(first_result[impl], first_result[base])))
        print(f"  {size_name} {kind} {phase}: " + ", ".join(
            f"{row['implementation']} {row['ratio']:.2f}x" for row in rows
            if row["phase"] == phase), file=log, flush=True)
    return rows, skipped


def run_bench(sizes, kinds=speed.KINDS, phases=speed.PHASES,
              implementations=DEFAULT_IMPLEMENTATIONS, repeats=DEFAULT_REPEATS,
              peak_n=2048, log=None) -> dict:
    """Measure; ``sizes`` is a list of ``(name, shape dict)``. Returns the JSON content."""
    log = sys.stderr if log is None else log
    if repeats < 1:
        raise ValueError(f"`repeats` must be >= 1; received {repeats}.")
    implementations = list(dict.fromkeys([speed.BASELINE, *implementations]))
    for impl in implementations:
        speed.applies("lstm", impl, "forward", "tutorial")  # raises on an unknown name
    peak = matmul_peak(peak_n)
    print(f"float32 matmul peak ({peak_n}x{peak_n}x{peak_n}): {peak:.1f} GFLOP/s",
          file=log, flush=True)
    rows, skipped = [], []
    for size_name, size in sizes:
        for kind in kinds:
            group_rows, group_skipped = measure_group(size_name, size, kind, phases,
                                                      implementations, repeats, peak, log)
            rows += group_rows
            skipped += group_skipped
    return {"environment": speed.environment(),
            "device": "GPU" if speed.gpu_present() else "CPU",
            "peak_gflops": peak, "peak_matmul_n": peak_n, "repeats": repeats,
            "sizes": {name: size for name, size in sizes}, "rows": rows, "skipped": skipped}


def format_table(result) -> str:
    header = (f"{'kind':6} {'phase':10} {'implementation':24} {'median ms':>10} "
              f"{'IQR ms':>8} {'ratio':>7} {'GFLOP/s':>8} {'peak':>5} {'first s':>8} "
              f"{'error':>8}")
    lines = [f"ratio = baseline median / median (> 1: faster); baseline keras_layer "
             f"(keras_mixed_bfloat16 for lowlevel_bfloat16); error = max|a-b|/max|b| of the "
             f"first result; peak = share of {result['peak_gflops']:.0f} GFLOP/s"]
    for size_name, size in result["sizes"].items():
        lines += ["", f"{size_name}: " + ", ".join(f"{k} {v}" for k, v in size.items()),
                  header]
        for row in result["rows"]:
            if row["size"] != size_name:
                continue
            lines.append(
                f"{row['kind']:6} {row['phase']:10} {row['implementation']:24} "
                f"{row['median'] * 1e3:10.2f} {(row['q3'] - row['q1']) * 1e3:8.2f} "
                f"{row['ratio']:6.2f}x {row['gflops']:8.1f} {row['peak_fraction']:5.0%} "
                f"{row['first_call']:8.2f} {row['error']:8.1e}")
    env = result["environment"]
    lines += ["", f"TensorFlow {env['tensorflow']}, Keras {env['keras']}"
              + (f", PyTorch {env['torch']}" if "torch" in env else "")
              + f"; {result['device']}: {env['cpu']} ({env['cpu_count']} cores); "
              f"threads inter-op {env['inter_op_threads']}, intra-op "
              f"{env['intra_op_threads']} (0: TensorFlow's default)"]
    return "\n".join(lines)


def plot(result, path):
    import matplotlib  # noqa: PLC0415 (only when writing the figure)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    size_names = list(result["sizes"])
    fig, axes = plt.subplots(len(size_names), 1, squeeze=False,
                             figsize=(10, 3.6 * len(size_names)))
    for ax, size_name in zip(axes[:, 0], size_names):
        rows = [row for row in result["rows"] if row["size"] == size_name]
        groups = list(dict.fromkeys((row["kind"], row["phase"]) for row in rows))
        impls = list(dict.fromkeys(row["implementation"] for row in rows))
        width = 0.8 / max(len(impls), 1)
        for j, impl in enumerate(impls):
            xs, ys = [], []
            for g, group in enumerate(groups):
                for row in rows:
                    if (row["kind"], row["phase"]) == group and row["implementation"] == impl:
                        xs.append(g + (j - (len(impls) - 1) / 2) * width)
                        ys.append(row["ratio"])
            base = baseline_of(impl)
            # One colour per implementation, the same in every chart (tab20: 20 of them).
            colour = plt.get_cmap("tab20")(speed.IMPLEMENTATIONS.index(impl) % 20)
            ax.bar(xs, ys, width, color=colour,
                   label=impl if base == speed.BASELINE else f"{impl} (vs {base})")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylim(0, 1.4 * max(row["ratio"] for row in rows))  # room for the legend
        ax.set_xticks(range(len(groups)), [f"{kind}\n{phase}" for kind, phase in groups])
        ax.set_ylabel("speed vs keras_layer (x)")
        ax.set_title(f"{size_name}: " + ", ".join(f"{k} {v}"
                                                  for k, v in result["sizes"][size_name].items()))
        ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------- command
def _names(allowed, argument):
    def parse(text):
        names = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in names if s not in allowed]
        if bad or not names:
            raise ValueError(f"`{argument}` takes comma-separated names from "
                             f"{', '.join(allowed)}; received {text!r}.")
        return names
    return parse


def add_parser(commands):
    import argparse  # noqa: PLC0415

    def parsed(parse):
        def wrapped(text):
            try:
                return parse(text)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None
        return wrapped

    bench = commands.add_parser(
        "bench", help="time forward and training steps against Keras; table, JSON, PNG",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bench.add_argument("--quick", action="store_true",
                       help=f"tutorial size, {', '.join(QUICK_IMPLEMENTATIONS)}, "
                            f"{QUICK_REPEATS} repeats (80-90 s on 2 cores)")
    bench.add_argument("--size", action="append", choices=sorted(speed.SIZES),
                       help="preset sizes, repeatable (default: tutorial and large; "
                            "--quick: tutorial)")
    for name in ("batch", "time", "input", "units", "layers"):
        bench.add_argument(f"--{name}", type=int, help=f"override the sizes' {name}")
    bench.add_argument("--cells", type=parsed(_names(speed.KINDS, "--cells")),
                       default=list(speed.KINDS), help="comma-separated cell kinds")
    bench.add_argument("--phases", type=parsed(_names(speed.PHASES, "--phases")),
                       default=list(speed.PHASES), help="comma-separated phases")
    bench.add_argument("--implementations",
                       type=parsed(_names(speed.IMPLEMENTATIONS, "--implementations")),
                       help="comma-separated implementations (default: "
                            f"{','.join(DEFAULT_IMPLEMENTATIONS)}; the baseline keras_layer "
                            "is always added)")
    bench.add_argument("--repeats", type=int, help=f"timed rounds (default {DEFAULT_REPEATS}, "
                                                   f"--quick {QUICK_REPEATS})")
    bench.add_argument("--out", default="runs/bench", metavar="DIR",
                       help="writes DIR/bench.json and DIR/bench.png")


def run(args, log=None) -> int:
    log = sys.stdout if log is None else log
    tf.config.experimental.enable_tensor_float_32_execution(False)  # float32 means float32
    size_names = args.size or (["tutorial"] if args.quick else list(speed.DEFAULT_SIZES))
    sizes = []
    for name in size_names:
        size = dict(speed.SIZES[name])
        for key in size:
            if getattr(args, key) is not None:
                size[key] = getattr(args, key)
        sizes.append((name if size == speed.SIZES[name] else f"{name}*",
                      speed.resolve_size(size)))
    implementations = args.implementations or (QUICK_IMPLEMENTATIONS if args.quick
                                               else DEFAULT_IMPLEMENTATIONS)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    result = run_bench(sizes, args.cells, args.phases, implementations, repeats,
                       log=sys.stderr)
    print(format_table(result), file=log)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot(result, os.path.join(args.out, "bench.png"))
    print(f"\nwrote {os.path.join(args.out, 'bench.json')} and "
          f"{os.path.join(args.out, 'bench.png')}", file=log)
    return 0
