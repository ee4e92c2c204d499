"""Timing the bench's cases: round-robin rounds in one process, the machine's load beside them.

For each size and cell kind, every implementation (:mod:`lowlevel.apps.bench.speed`) is built from
the same seeded weights and data, called once (trace + first run, timed as
``first_call``), checked against its baseline's first output, warmed up once, then
timed in ``repeats`` round-robin rounds: within a round each implementation runs
once, and the starting implementation rotates from round to round, so slow drifts of
a shared machine fall on all of them alike. Reported per row:

- ``median`` and the quartiles ``q1``, ``q3`` of the per-call seconds; ``spread`` =
  ``(q3 - q1) / median``, and ``unreliable`` when it exceeds :data:`UNRELIABLE_SPREAD`
  (the machine was busy: another process took the cores during some calls);
- ``ratio`` = baseline median / this median (> 1: faster than the baseline), where the
  baseline is ``keras_layer``, or ``keras_mixed_bfloat16`` for ``lowlevel_bfloat16``;
- ``gflops`` = :func:`lowlevel.apps.bench.speed.matmul_flops` / median, and ``peak_fraction``,
  its share of a large float32 matmul's rate measured in the same run (before and after
  the cases; the better of the two);
- ``error`` = the scaled error ``max|a - b| / max|b|`` of the first call's result (the
  forward output, or the first training loss) against the baseline's;
- ``first_call_own_process``: for the training step of the implementations in
  ``own_process``, its first call timed again in a process of its own
  (:mod:`lowlevel.apps.bench.first_call`): what a user's first step costs, with nothing
  traced before it (``None`` for the others).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from lowlevel.apps.bench import first_call as first_call_module
from lowlevel.apps.bench import speed
from lowlevel.apps.bench.names import (DEFAULT_IMPLEMENTATIONS, DEFAULT_OPTIMIZER,
                                       DEFAULT_REPEATS, OWN_PROCESS_FIRST_CALL, baseline_of)

# A row whose interquartile range exceeds this share of its median is flagged: with
# the machine this busy, a ratio can be off by more than the differences it reports.
UNRELIABLE_SPREAD = 0.2


def scaled_error(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(float(np.max(np.abs(expected))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(actual - expected))) / scale


def spread(seconds) -> float:
    """``(q3 - q1) / median`` of the per-call seconds."""
    q1, median, q3 = np.percentile(seconds, [25, 50, 75])
    return float((q3 - q1) / median)


def rotating_rounds(calls: dict, repeats: int) -> dict:
    """``{name: [seconds per call]}``: every zero-argument ``calls[name]`` timed once a
    round for ``repeats`` rounds, the first of them rotating from round to round (so
    slow drifts of a shared machine fall on all of them alike)."""
    names = list(calls)
    seconds = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            calls[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def _called_on_host(fn, arguments: tuple):
    """``fn(*arguments)`` copied to the host: a timing waits for the result."""
    return fn(*arguments).numpy()


def time_forms(forms: dict, arguments: tuple, repeats: int) -> dict:
    """``{name: (median seconds, spread)}`` of compiled ``forms[name](*arguments)``,
    each called once first (trace and warm-up), then in :func:`rotating_rounds`; for the
    scripts in ``benchmarks/`` that compare forms of one computation."""
    calls = {name: functools.partial(_called_on_host, fn, arguments)
             for name, fn in forms.items()}
    for call in calls.values():
        call()
    return {name: (float(np.median(s)), spread(s))
            for name, s in rotating_rounds(calls, repeats).items()}


def compare_forms(argv, description: str, forms_at, shapes: dict, steps: int, repeats: int,
                  flops=None) -> None:
    """The command line of the ``benchmarks/`` scripts that time forms of one computation.

    ``--steps``, ``--repeats`` and ``--shapes`` (names of ``shapes``, a dict of ``(batch,
    units)``, or ``BATCHxUNITS``, comma-separated); at each shape ``forms_at(batch,
    units, steps) -> ({name: compiled form}, arguments)`` is timed by :func:`time_forms`
    and printed as one JSON line per form (with GFLOP/s when ``flops(batch, units,
    steps)`` gives one call's).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--shapes", type=lambda s: s.split(","), default=list(shapes),
                        help="bench size names or BATCHxUNITS, comma-separated")
    args = parser.parse_args(argv)
    for shape in args.shapes:
        batch, units = shapes.get(shape) or map(int, shape.split("x"))
        forms, arguments = forms_at(batch, units, args.steps)
        for name, (median, row_spread) in time_forms(forms, arguments, args.repeats).items():
            line = dict(shape=shape, batch=batch, units=units, steps=args.steps, form=name,
                        median=median, spread=row_spread)
            if flops is not None:
                line["gflops"] = flops(batch, units, args.steps) / median / 1e9
            print(json.dumps(line), flush=True)


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (runnable processes), where the OS has them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


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


def choose(size_name, size, kind, phase, implementations):
    """``(chosen, skipped)``: the implementations that run, and why the others do not."""
    chosen, skipped = [], []
    for impl in implementations:
        reason = speed.unavailable(impl) or speed.applies(
            kind, impl, phase, size_name if size_name in speed.SIZES else size)
        if reason is None and baseline_of(impl) not in implementations:
            reason = f"its baseline {baseline_of(impl)} is not selected"
        if reason is None:
            chosen.append(impl)
        else:
            skipped.append(dict(size=size_name, kind=kind, phase=phase,
                                implementation=impl, reason=reason))
    return chosen, skipped


def _row(size_name, size, kind, phase, impl, seconds, first_call, first_result):
    median = float(np.median(seconds[impl]))
    q1, q3 = (float(q) for q in np.percentile(seconds[impl], [25, 75]))
    base = baseline_of(impl)
    row_spread = spread(seconds[impl])
    return dict(
        size=size_name, shape=dict(size), kind=kind, phase=phase, implementation=impl,
        baseline=base, median=median, q1=q1, q3=q3, seconds=seconds[impl],
        spread=row_spread, unreliable=row_spread > UNRELIABLE_SPREAD,
        ratio=float(np.median(seconds[base])) / median,
        gflops=speed.matmul_flops(kind, size, phase) / median / 1e9,
        first_call=first_call[impl],
        error=scaled_error(first_result[impl], first_result[base]))


def measure_group(size_name, size, kind, phases, implementations, repeats, log,
                  optimizer=DEFAULT_OPTIMIZER, own_process=()):
    """Rows and skips for one size and cell kind (all phases); no peak fractions yet."""
    rows, skipped, cases = [], [], {}
    for phase in phases:
        chosen, phase_skipped = choose(size_name, size, kind, phase, implementations)
        skipped += phase_skipped
        first_call, first_result = {}, {}
        for impl in chosen:
            if impl not in cases:
                cases[impl] = speed.build_case(kind, impl, size, optimizer=optimizer)
            first_call[impl], first_result[impl] = _timed(cases[impl], phase)
            _timed(cases[impl], phase)  # warm-up: a second trace can hide in the first runs
        seconds = rotating_rounds({impl: functools.partial(cases[impl].run, phase)
                                   for impl in chosen}, repeats)
        phase_rows = [_row(size_name, size, kind, phase, impl, seconds, first_call,
                           first_result) for impl in chosen]
        for row in phase_rows:
            row["first_call_own_process"] = (
                first_call_module.in_own_process(kind, row["implementation"], size, phase,
                                                 optimizer)
                if phase == "train_step" and row["implementation"] in own_process else None)
        rows += phase_rows
        print(f"  {size_name} {kind} {phase}: " + ", ".join(
            f"{row['implementation']} {row['ratio']:.2f}x"
            + (" (unreliable)" if row["unreliable"] else "") for row in phase_rows),
            file=log, flush=True)
    return rows, skipped


def run_bench(sizes, kinds=speed.KINDS, phases=speed.PHASES,
              implementations=DEFAULT_IMPLEMENTATIONS, repeats=DEFAULT_REPEATS,
              peak_n=2048, log=None, optimizer=DEFAULT_OPTIMIZER,
              own_process=OWN_PROCESS_FIRST_CALL) -> dict:
    """Measure; ``sizes`` is a list of ``(name, shape dict)``. Returns the JSON content.

    ``optimizer``: the training step's update (``'rmsprop'`` or ``'sgd'``);
    ``own_process``: the implementations whose first training step is also timed in a
    process of its own."""
    log = sys.stderr if log is None else log
    speed.check_optimizer(optimizer)
    if repeats < 1:
        raise ValueError(f"`repeats` must be >= 1; received {repeats}.")
    implementations = list(dict.fromkeys([speed.BASELINE, *implementations]))
    for impl in implementations:
        speed.applies("lstm", impl, "forward", "tutorial")  # raises on an unknown name
    load_start = load_average()
    peak_start = matmul_peak(peak_n)
    print(f"float32 matmul peak ({peak_n}x{peak_n}x{peak_n}): {peak_start:.1f} GFLOP/s; "
          f"load average {load_start} on {os.cpu_count()} cores", file=log, flush=True)
    rows, skipped = [], []
    for size_name, size in sizes:
        for kind in kinds:
            group_rows, group_skipped = measure_group(size_name, size, kind, phases,
                                                      implementations, repeats, log,
                                                      optimizer, own_process)
            rows += group_rows
            skipped += group_skipped
    peak = max(peak_start, matmul_peak(peak_n))  # a busy moment only lowers a measurement
    for row in rows:
        row["peak_fraction"] = row["gflops"] / peak
    return {"environment": speed.environment(),
            "device": "GPU" if speed.gpu_present() else "CPU",
            "peak_gflops": peak, "peak_matmul_n": peak_n, "repeats": repeats,
            "optimizer": optimizer,
            "load_average": {"start": load_start, "end": load_average()},
            "unreliable_spread": UNRELIABLE_SPREAD,
            "sizes": {name: size for name, size in sizes}, "rows": rows, "skipped": skipped}
