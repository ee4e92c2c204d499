"""The first call of one bench case (trace + first run), in a process of its own.

What a user's first training step costs: nothing traced or initialised before it in
the process. :func:`in_own_process` starts ``python -m lowlevel.apps.bench.first_call``
with the case and reads back the seconds; the case is built (weights, optimizer) before
the clock starts, as ``model.fit`` builds its optimizer before the first step.
"""

from __future__ import annotations

import json
import subprocess
import sys


def in_own_process(kind: str, implementation: str, size: dict, phase: str,
                   optimizer: str) -> float:
    """Seconds of the first ``phase`` call of the case, timed in a new Python process."""
    command = [sys.executable, "-m", "lowlevel.apps.bench.first_call", json.dumps(
        dict(kind=kind, implementation=implementation, size=size, phase=phase,
             optimizer=optimizer))]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the first call of {implementation} {kind} failed in its own "
                           f"process: {out.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main(argv=None) -> int:
    import time  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    from lowlevel.apps.bench import speed  # noqa: PLC0415

    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    tf.config.experimental.enable_tensor_float_32_execution(False)
    case = speed.build_case(spec["kind"], spec["implementation"], spec["size"],
                            optimizer=spec["optimizer"])
    start = time.perf_counter()
    case.run(spec["phase"])
    print(json.dumps({"seconds": time.perf_counter() - start}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
