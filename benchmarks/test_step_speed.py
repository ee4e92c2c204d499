"""Step speed of two stacked RNN layers: lowlevel against Keras, same weights and data.

Run with ``make bench`` or ``pytest benchmarks --benchmark-enable``; see README.md.
Each benchmark traces and warms up outside the timed region, then times a call that
ends with ``.numpy()``, so the device work is inside the measurement.
"""

import time

from step_builders import build_case, environment

ROUNDS = {"quick": 3, "tutorial": 5, "large": 3}
EAGER_ROUNDS = 2


def test_step_speed(benchmark, case_spec, medians):
    kind, implementation, phase, size = case_spec
    case = build_case(kind, implementation, size)
    start = time.perf_counter()
    if phase == "forward":
        def run():
            return case.forward(case.x).numpy()
        output = case.forward(case.x)          # trace + first run, untimed
    else:
        def run():
            return case.train_step(case.x, case.target).numpy()
        output = case.train_step(case.x, case.target)
    output.numpy()
    first_call = time.perf_counter() - start   # tracing + first run, in seconds

    benchmark.group = f"{size}-{phase}-{kind}"
    benchmark.extra_info.update(environment(case, phase, output))
    benchmark.extra_info["first_call_seconds"] = first_call
    rounds = EAGER_ROUNDS if implementation == "keras_cell_loop_eager" else ROUNDS[size]
    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=1)

    if benchmark.stats is not None:            # None under --benchmark-disable
        median = benchmark.stats.stats.median
        row = medians.setdefault((kind, phase, size), {})
        row[implementation] = median
        if "keras_layer" in row and implementation != "keras_layer":
            benchmark.extra_info["ratio_keras_layer_over_this"] = row["keras_layer"] / median
