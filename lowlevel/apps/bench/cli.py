"""``lowlevel bench``: step speed against Keras, measured in one process, same weights and data.

:func:`add_parser` declares the flags without loading TensorFlow (``--help`` answers at
once); :func:`run` measures (:mod:`lowlevel.apps.bench.measure`), prints the table and
writes ``DIR/bench.json`` (with versions, device, threads and the machine's load) and
``DIR/bench.png`` (:mod:`lowlevel.apps.bench.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from lowlevel.apps.bench.names import (DEFAULT_IMPLEMENTATIONS, DEFAULT_OPTIMIZER,
                                       DEFAULT_REPEATS, DEFAULT_SIZES, IMPLEMENTATIONS, KINDS,
                                       OPTIMIZERS, OWN_PROCESS_FIRST_CALL, PHASES,
                                       QUICK_IMPLEMENTATIONS, QUICK_REPEATS, SIZES)


def _names(allowed, argument):
    """An argparse type: comma-separated names from ``allowed``, or an error naming the flag."""
    def parse(text):
        names = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in names if s not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"`{argument}` takes comma-separated names from {', '.join(allowed)}; "
                f"received {text!r}.")
        return names
    return parse


def add_parser(commands):
    """Add ``bench`` to ``commands`` (from ``add_subparsers``)."""
    bench = commands.add_parser(
        "bench", help="time forward and training steps against Keras; table, JSON, PNG",
        description="Time forward and training steps of every implementation against "
                    "Keras, same weights and data, in one process.")
    bench.add_argument("--quick", action="store_true",
                       help=f"tutorial size, {', '.join(QUICK_IMPLEMENTATIONS)}, "
                            f"{QUICK_REPEATS} repeats")
    bench.add_argument("--size", action="append", choices=sorted(SIZES),
                       help=f"preset sizes, repeatable (default: {' and '.join(DEFAULT_SIZES)}; "
                            "--quick: tutorial)")
    for name in ("batch", "time", "input", "units", "layers"):
        bench.add_argument(f"--{name}", type=int, help=f"override the sizes' {name}")
    bench.add_argument("--cells", type=_names(KINDS, "--cells"), default=list(KINDS),
                       help=f"comma-separated cell kinds (default: {','.join(KINDS)})")
    bench.add_argument("--phases", type=_names(PHASES, "--phases"), default=list(PHASES),
                       help=f"comma-separated phases (default: {','.join(PHASES)})")
    bench.add_argument("--implementations", type=_names(IMPLEMENTATIONS, "--implementations"),
                       help="comma-separated implementations (default: "
                            f"{','.join(DEFAULT_IMPLEMENTATIONS)}; the baseline keras_layer "
                            "is always added)")
    bench.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULT_OPTIMIZER,
                       help="the training step's update, each library's own "
                            f"(default: {DEFAULT_OPTIMIZER})")
    bench.add_argument("--own-process", type=_names(IMPLEMENTATIONS, "--own-process"),
                       default=list(OWN_PROCESS_FIRST_CALL),
                       help="implementations whose first training step is also timed in a "
                            "process of its own (default: "
                            f"{','.join(OWN_PROCESS_FIRST_CALL)}; 'keras_layer' alone to "
                            "save time)")
    bench.add_argument("--repeats", type=int, help=f"timed rounds (default {DEFAULT_REPEATS}, "
                                                   f"--quick {QUICK_REPEATS})")
    bench.add_argument("--out", default="runs/bench", metavar="DIR",
                       help="writes DIR/bench.json and DIR/bench.png (default: runs/bench)")


def _sizes(args):
    """``[(name, shape)]`` from ``--size`` and the dimension overrides (``name*`` if changed)."""
    from lowlevel.apps.bench import speed  # noqa: PLC0415 (TensorFlow)

    sizes = []
    for name in args.size or (["tutorial"] if args.quick else list(DEFAULT_SIZES)):
        size = dict(SIZES[name])
        for key in size:
            if getattr(args, key) is not None:
                size[key] = getattr(args, key)
        sizes.append((name if size == SIZES[name] else f"{name}*", speed.resolve_size(size)))
    return sizes


def run(args, log=None) -> int:
    import tensorflow as tf  # noqa: PLC0415 (only when the command runs)

    from lowlevel.apps.bench import measure, report  # noqa: PLC0415

    log = sys.stdout if log is None else log
    tf.config.experimental.enable_tensor_float_32_execution(False)  # float32 means float32
    implementations = args.implementations or (QUICK_IMPLEMENTATIONS if args.quick
                                               else DEFAULT_IMPLEMENTATIONS)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    result = measure.run_bench(_sizes(args), args.cells, args.phases, implementations,
                               repeats, log=sys.stderr, optimizer=args.optimizer,
                               own_process=args.own_process)
    print(report.format_table(result), file=log)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    report.plot(result, os.path.join(args.out, "bench.png"))
    print(f"\nwrote {os.path.join(args.out, 'bench.json')} and "
          f"{os.path.join(args.out, 'bench.png')}", file=log)
    return 0
