"""``lowlevel verify``: the parity matrix, one printed row per case."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time

import keras
import tensorflow as tf

from lowlevel import parity

_COLUMNS = [("component", 13), ("options", 58), ("dtype", 7), ("device", 6), ("mode", 8),
            ("out err", 9), ("grad err", 9), ("tol", 6), ("ok", 4)]


def _format_row(row: dict) -> str:
    values = [row["component"], row["options"], row["dtype"],
              row["device"].strip("/").split(":")[0].lower(), row["mode"],
              f"{row['output_error']:.1e}", f"{row['gradient_error']:.1e}",
              f"{row['tolerance']:.0e}", "ok" if row["ok"] else "FAIL"]
    return "  ".join(str(v)[:w].ljust(w) for v, (_, w) in zip(values, _COLUMNS))


class _NotRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning.

    Every case wraps the same function of :mod:`lowlevel.parity` in a new ``tf.function``
    and traces it once: TensorFlow counts traces per code object, not per function, and
    takes those single traces for a retracing loop.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _retracing_warnings_dropped():
    logger, dropped = tf.get_logger(), _NotRetracing()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


def run(json_path: str | None = None, dtypes=("float32", "float64"),
        modes=("eager", "function"), out=sys.stdout) -> int:
    """Run every case, print the table, optionally write JSON; return the exit status."""
    # TF32 would round float32 matmuls on Ampere+ GPUs; parity is about equations.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    devices = ["/CPU:0"] + [d.name for d in tf.config.list_logical_devices("GPU")]
    cases = parity.verify_matrix(devices=devices, dtypes=dtypes, modes=modes)
    print(f"lowlevel verify: {len(cases)} cases against Keras {keras.__version__} "
          f"(TensorFlow {tf.__version__}); devices: {', '.join(devices)}", file=out)
    if len(devices) == 1:
        print("no GPU visible to TensorFlow: GPU rows skipped", file=out)
    print("errors are max|ours - keras| / max|keras| over outputs and states (out) and "
          "over gradients w.r.t. inputs, initial states and weights (grad)", file=out)
    print("  ".join(name.ljust(w) for name, w in _COLUMNS), file=out)
    rows = []
    start = time.perf_counter()
    with _retracing_warnings_dropped():
        for case in cases:
            row = parity.run_case(case).row()
            rows.append(row)
            print(_format_row(row), file=out, flush=True)
    failed = sum(not r["ok"] for r in rows)
    print(f"{len(rows) - failed} ok, {failed} failed in {time.perf_counter() - start:.1f} s",
          file=out)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump({"tensorflow": tf.__version__, "keras": keras.__version__,
                       "rows": rows}, f, indent=1)
    return 1 if failed else 0
