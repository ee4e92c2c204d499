"""``lowlevel verify``: the parity matrix, one printed row per case; with ``--golden PATH``,
also rows against Keras results computed elsewhere (Keras on a GPU: ``keras_gpu_golden.npz``)."""

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
            ("out err", 9), ("grad err", 9), ("tol", 6), ("structure", 16), ("ok", 4)]


def _format_row(row: dict) -> str:
    values = [row["component"], row["options"], row["dtype"],
              row["device"].strip("/").split(":")[0].lower(), row["mode"],
              f"{row['output_error']:.1e}", f"{row['gradient_error']:.1e}",
              f"{row['tolerance']:.0e}", row["structure"], "ok" if row["ok"] else "FAIL"]
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
        modes=("eager", "function"), golden: str | None = None, out=sys.stdout) -> int:
    """Run every case, print the table, optionally write JSON; return the exit status.

    ``golden``: a file of Keras results computed elsewhere (``keras_gpu_golden.npz``):
    adds one row per case, dtype and implementation (:func:`golden_rows`).
    """
    if golden and not os.path.isfile(golden):
        print(f"lowlevel verify: error: `--golden`: no file at {golden!r}.", file=sys.stderr)
        return 2
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
    golden_table = []
    if golden:
        golden_table = golden_rows(golden, dtypes=dtypes, out=out)
        failed += sum(not r["ok"] for r in golden_table)
    total = len(rows) + len(golden_table)
    print(f"{total - failed} ok, {failed} failed in {time.perf_counter() - start:.1f} s",
          file=out)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump({"tensorflow": tf.__version__, "keras": keras.__version__,
                       "rows": rows, "golden_rows": golden_table}, f, indent=1)
    return 1 if failed else 0


# ------------------------------------------------------------------ golden numbers
# A golden file holds Keras's results computed elsewhere (e.g. on a GPU): keys
# ``CASE/DTYPE/TENSOR`` with inputs ``in:*``, weights ``w:*``, loss weights ``lossw:*``,
# results ``out:*`` and gradients ``grad:*`` (``/work/shared/data/README.md`` describes
# ``keras_gpu_golden.npz``). Layer options: return_sequences and return_state, Keras's
# defaults otherwise.
_GOLDEN_LAYERS = {"simple_rnn": ("SimpleRNN", {}), "lstm": ("LSTM", {}),
                  "lstm_nocudnn": ("LSTM", {}), "gru": ("GRU", {"reset_after": True}),
                  "gru_reset_before": ("GRU", {"reset_after": False})}


def golden_cases(data) -> list:
    """``[(case, dtype)]`` present in the golden ``data`` (an ``np.load`` result), sorted."""
    pairs = {tuple(key.split("/")[:2]) for key in data.files if key.count("/") == 2}
    return sorted((case, dtype) for case, dtype in pairs if f"{case}/{dtype}/out:seq" in data)


def _golden_layer(case, dtype, implementation, units):
    import lowlevel  # noqa: PLC0415

    kind, options = _GOLDEN_LAYERS[case.removesuffix("_mask")]
    return getattr(lowlevel, kind)(units, return_sequences=True, return_state=True,
                                   implementation=implementation, dtype=dtype, **options)


def golden_row(data, case, dtype, implementation) -> dict:
    """Our layer (``implementation``) on the golden inputs and weights against the golden
    outputs and gradients: ``max scaled_error`` over outputs (``out:*``) and over gradients
    (``grad:*``)."""
    import numpy as np  # noqa: PLC0415

    from lowlevel.tolerances import scaled_error, tolerance  # noqa: PLC0415

    def get(name):
        return data[f"{case}/{dtype}/{name}"]

    layer = _golden_layer(case, dtype, implementation, get("w:recurrent_kernel").shape[0])
    layer.build(get("in:x").shape[-1])
    layer.set_weights([get("w:kernel"), get("w:recurrent_kernel"), get("w:bias")])
    x = tf.constant(get("in:x"))
    states = [tf.constant(get(f"in:{s}")) for s in ("h0", "c0") if f"{case}/{dtype}/in:{s}" in data]
    mask = tf.constant(get("in:mask")) if f"{case}/{dtype}/in:mask" in data else None
    with tf.GradientTape() as tape:
        tape.watch([x] + states)
        seq, *final = layer(x, initial_state=states, mask=mask)
        outputs = {"seq": seq, "h": final[0], **({"c": final[1]} if len(final) > 1 else {})}
        loss = tf.add_n([tf.reduce_sum(t * get(f"lossw:{name}")) for name, t in outputs.items()])
    outputs["loss"] = loss
    sources = {"x": x, **{s: t for s, t in zip(("h0", "c0"), states)},
               **{w: v for w, v in zip(("kernel", "recurrent_kernel", "bias"), layer.weights)}}
    grads = dict(zip(sources, tape.gradient(loss, list(sources.values()))))
    out_err = max(scaled_error(t, get(f"out:{n}")) for n, t in outputs.items())
    grad_err = max(scaled_error(g, get(f"grad:{n}")) for n, g in grads.items()
                   if f"{case}/{dtype}/grad:{n}" in data)
    # Keras's own GPU-vs-CPU spread, from the same file, for scale.
    keras_spread = max((scaled_error(get(k.split("/", 2)[2][4:]), data[k]) for k in data.files
                        if k.startswith(f"{case}/{dtype}/cpu:")), default=float("nan"))
    tol = tolerance(dtype)
    return {"case": case, "dtype": dtype, "implementation": implementation,
            "output_error": out_err, "gradient_error": grad_err, "tolerance": tol,
            "keras_gpu_vs_cpu": keras_spread,
            "ok": bool(np.isfinite(out_err) and out_err <= tol and grad_err <= tol)}


def golden_rows(path, implementations=None, dtypes=("float32", "float64"), out=sys.stdout):
    """Every implementation against every case of the golden file at ``path``; printed."""
    import numpy as np  # noqa: PLC0415

    from lowlevel.layers.rnn import IMPLEMENTATIONS  # noqa: PLC0415

    data = np.load(path, allow_pickle=False)  # arrays only: never unpickle a given file
    meta = json.loads(str(data["meta.json"])) if "meta.json" in data.files else {}
    versions = meta.get("versions", {})
    print(f"golden {path}: Keras {versions.get('keras', '?')} "
          f"({versions.get('keras_backend', '?')} backend) on {versions.get('device_kind', '?')}; lowlevel computed here on "
          f"{_here()}", file=out)
    print("  case                    dtype    implementation  out err   grad err  tol     "
          "keras gpu-vs-cpu  ok", file=out)
    rows = []
    for case, dtype in golden_cases(data):
        if dtype not in dtypes:
            continue
        for implementation in implementations or IMPLEMENTATIONS:
            row = golden_row(data, case, dtype, implementation)
            rows.append(row)
            print(f"  {case:<24}{dtype:<9}{implementation:<16}{row['output_error']:<10.1e}"
                  f"{row['gradient_error']:<10.1e}{row['tolerance']:<8.0e}"
                  f"{row['keras_gpu_vs_cpu']:<18.1e}{'ok' if row['ok'] else 'FAIL'}",
                  file=out, flush=True)
    return rows


def _here() -> str:
    gpus = tf.config.list_logical_devices("GPU")
    return "GPU" if gpus else "CPU (no GPU visible: lowlevel's own GPU path is not checked)"
