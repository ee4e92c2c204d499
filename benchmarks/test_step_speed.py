"""Step speed of stacked RNN layers: lowlevel against Keras, same weights and data.

Run with ``make bench`` or ``pytest benchmarks --benchmark-enable``; see README.md.
Each benchmark traces and warms up outside the timed region, then times a call that
ends with ``.numpy()``, so the device work is inside the measurement. The cases are
:mod:`lowlevel.apps.bench.speed`'s, as in ``lowlevel bench``.
"""

import time

from lowlevel.apps.bench.names import baseline_of
from lowlevel.apps.bench.speed import build_case, environment, matmul_flops

ROUNDS = {"quick": 3, "tutorial": 5, "large": 3}
EAGER_ROUNDS = 2


def test_step_speed(benchmark, case_spec, medians):
    kind, implementation, phase, size = case_spec
    case = build_case(kind, implementation, size)
    start = time.perf_counter()
    case.run(phase)                            # trace + first run, untimed
    first_call = time.perf_counter() - start   # tracing + first run, in seconds

    benchmark.group = f"{size}-{phase}-{kind}"
    benchmark.extra_info.update(environment())
    benchmark.extra_info.update(kind=kind, implementation=implementation, phase=phase,
                                size=dict(case.size), dtype="float32",
                                matmul_flops=matmul_flops(kind, case.size, phase),
                                first_call_seconds=first_call)
    rounds = EAGER_ROUNDS if implementation == "keras_cell_loop_eager" else ROUNDS[size]
    benchmark.pedantic(lambda: case.run(phase), rounds=rounds, iterations=1, warmup_rounds=1)

    if benchmark.stats is not None:            # None under --benchmark-disable
        median = benchmark.stats.stats.median
        row = medians.setdefault((kind, phase, size), {})
        row[implementation] = median
        base = baseline_of(implementation)
        if base in row and implementation != base:
            benchmark.extra_info[f"ratio_{base}_over_this"] = row[base] / median
