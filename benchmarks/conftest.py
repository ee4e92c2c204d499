"""Options for the step-speed benchmarks, and a closing table of ratios to Keras.

Select sizes with ``--bench-size tutorial,large`` or ``LOWLEVEL_BENCH_SIZES=...``
(``quick`` is the tiny smoke size), implementations with ``--bench-impl`` or
``LOWLEVEL_BENCH_IMPLS``. Defaults: tutorial and large, every implementation.
"""

import os

import pytest
import tensorflow as tf

from lowlevel.apps.bench import speed

# As in tests/conftest.py: float32 matmuls stay float32 on Ampere+ GPUs.
tf.config.experimental.enable_tensor_float_32_execution(False)

# (kind, phase, size) -> {implementation: median seconds}, filled by the benchmarks.
MEDIANS = {}


def _choice(config, option, env, default, allowed):
    raw = config.getoption(option) or os.environ.get(env) or ",".join(default)
    chosen = [s.strip() for s in raw.split(",") if s.strip()]
    bad = [s for s in chosen if s not in allowed]
    if bad:
        raise pytest.UsageError(f"{option} / {env}: unknown {bad}; expected some of {list(allowed)}.")
    return chosen


def pytest_addoption(parser):
    group = parser.getgroup("lowlevel benchmarks")
    group.addoption("--bench-size", default=None,
                    help="comma-separated sizes: quick, tutorial, large "
                         "(env LOWLEVEL_BENCH_SIZES; default tutorial,large)")
    group.addoption("--bench-impl", default=None,
                    help="comma-separated implementations (env LOWLEVEL_BENCH_IMPLS; default all)")


def pytest_generate_tests(metafunc):
    if "case_spec" not in metafunc.fixturenames:
        return
    config = metafunc.config
    sizes = _choice(config, "--bench-size", "LOWLEVEL_BENCH_SIZES",
                    speed.DEFAULT_SIZES, speed.SIZES)
    impls = _choice(config, "--bench-impl", "LOWLEVEL_BENCH_IMPLS",
                    speed.IMPLEMENTATIONS, speed.IMPLEMENTATIONS)
    # What this machine lacks (a GPU, PyTorch) shows as a skip, not as silence.
    params = []
    for size in sizes:
        for phase in speed.PHASES:
            for kind in speed.KINDS:
                for impl in impls:
                    if speed.applies(kind, impl, phase, size) is not None:
                        continue
                    reason = speed.unavailable(impl)
                    marks = [pytest.mark.skip(reason=reason)] if reason else []
                    params.append(pytest.param((kind, impl, phase, size), marks=marks,
                                               id=f"{size}-{phase}-{kind}-{impl}"))
    metafunc.parametrize("case_spec", params)


@pytest.fixture
def medians():
    return MEDIANS


def pytest_terminal_summary(terminalreporter):
    if not MEDIANS:
        return
    from lowlevel.apps.bench.names import baseline_of

    tr = terminalreporter
    tr.section("median time ratio baseline / implementation (>1: faster); baseline "
               "keras_layer, keras_mixed_bfloat16 for lowlevel_bfloat16")
    for (kind, phase, size), row in sorted(MEDIANS.items()):
        cells = []
        for impl, median in row.items():
            base = row.get(baseline_of(impl))
            ratio = f"{base / median:5.2f}x" if base else "  n/a"
            cells.append(f"{impl} {median * 1e3:8.2f} ms ({ratio})")
        tr.write_line(f"{size:8} {phase:10} {kind:6} | " + " | ".join(cells))
