"""``lowlevel gradients [flow|clipping|memory|cliff|init|all] --out DIR [--quick] [--seed N]``.

Wired into :mod:`lowlevel.apps.cli` through :func:`add_parser` and :func:`run`. The
parser is TensorFlow-free; :func:`run` imports the studies it runs. Each study
writes PNG plots, CSVs of its numbers and a markdown report into ``--out``; ``all``
also joins the reports into ``report.md``. ``--quick`` is the demo setting (every study
in under 3 minutes on 2 cores); the size flags override any study that has the field.
"""

from __future__ import annotations

import argparse
import pathlib
import time
from lowlevel import kinds

CHOICES = ("flow", "clipping", "memory", "cliff", "init", "all")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; received {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0; received {text!r}")
    return value


def add_parser(subparsers):
    """Add the ``gradients`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    parser = subparsers.add_parser(
        "gradients", help="gradient lab: flow, clipping, memory, cliff, initialisations",
        description="Run gradient studies; write PNGs, CSVs and markdown into --out.")
    parser.add_argument("study", nargs="?", choices=CHOICES, default="all",
                        help="which study (default: all)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--quick", action="store_true",
                        help="small settings: every study in under 3 minutes")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and weights")
    parser.add_argument("--steps", type=_positive_int, metavar="N",
                        help="training steps of the clipping and memory studies")
    parser.add_argument("--time-steps", type=_positive_int, nargs="+", metavar="T",
                        help="sequence lengths of the memory study; flow and clipping "
                             "use the first")
    parser.add_argument("--cells", nargs="+", choices=kinds.NAMES,
                        help="cells of the flow and memory studies (default: all three)")
    parser.add_argument("--units", type=_positive_int, metavar="N", help="recurrent units")
    parser.add_argument("--batch", type=_positive_int, metavar="N", help="batch size")
    parser.add_argument("--seeds", type=_positive_int, metavar="N",
                        help="seeds per case, from --seed on (default 3)")
    parser.add_argument("--tasks", nargs="+", choices=("adding", "copy", "order"),
                        help="tasks of the memory study (default: all three)")
    parser.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                        help="Adam learning rate of the memory study")
    parser.add_argument("--clip", metavar="MODE:C",
                        help="clipping of the memory study ('none' or e.g. global_norm:1)")
    parser.add_argument("--learning-rates", type=_positive_float, nargs="+", metavar="LR",
                        help="SGD learning rates of the clipping sweep")
    parser.add_argument("--relative", type=_positive_float, nargs="+", metavar="K",
                        help="clipping thresholds as multiples of the typical norm")
    parser.add_argument("--absolute", type=_positive_float, nargs="+", metavar="C",
                        help="absolute global-norm thresholds of the clipping sweep")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write every training run's per-step gradient log as "
                             "TensorBoard events under DIR/tensorboard/")
    return parser


def overrides(args) -> dict:
    """``{'steps': ..., 'time_steps': ...}`` per study from the size flags."""
    common = {"steps": args.steps, "units": args.units, "batch": args.batch,
              "seeds": args.seeds, "tensorboard": args.tensorboard or None}
    per_study = {name: dict(common) for name in ("flow", "clipping", "memory", "init")}
    per_study["memory"].update(tasks=tuple(args.tasks) if args.tasks else None,
                               learning_rate=args.learning_rate, clip=args.clip)
    per_study["clipping"].update(
        learning_rates=tuple(args.learning_rates) if args.learning_rates else None,
        relative=tuple(args.relative) if args.relative else None,
        absolute=tuple(args.absolute) if args.absolute else None)
    if args.cells:
        for name in ("flow", "memory", "init"):
            per_study[name]["cells"] = tuple(args.cells)
    if args.time_steps:
        per_study["memory"]["time_steps"] = tuple(args.time_steps)
        for name in ("flow", "clipping", "init"):
            per_study[name]["time_steps"] = args.time_steps[0]
    return per_study


def command_line(args) -> str:
    """``lowlevel gradients STUDY --out DIR`` and every flag ``args`` sets, in the parser's
    order: the command a report names as its maker."""
    words = ["lowlevel", "gradients", args.study, "--out", str(args.out)]
    for flag in ("quick", "tensorboard"):
        if getattr(args, flag):
            words.append(f"--{flag}")
    for flag in ("seed", "steps", "time_steps", "cells", "units", "batch", "seeds", "tasks",
                 "learning_rate", "clip", "learning_rates", "relative", "absolute"):
        value = getattr(args, flag)
        if value is None or (flag == "seed" and value == 0):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        words += [f"--{flag.replace('_', '-')}", *(f"{v:g}" if isinstance(v, float)
                                                    else str(v) for v in values)]
    return " ".join(words)


def run(args) -> int:
    """Run the study (or all) that ``args`` names; 0 on success."""
    # The studies, TensorFlow and matplotlib load only now, never for --help or a bad flag.
    from lowlevel.apps.lab import studies
    from lowlevel.train import Clip

    if args.clip is not None:
        try:
            Clip.parse(args.clip)
        except ValueError as error:
            raise SystemExit(f"lowlevel gradients: {error}") from None

    names = list(studies.STUDIES) if args.study == "all" else [args.study]
    out = pathlib.Path(args.out)
    start = time.perf_counter()
    studies.run_studies(names, out, quick=args.quick, seed=args.seed,
                        overrides=overrides(args), command=command_line(args))
    print(f"gradients: done in {time.perf_counter() - start:.1f} s; "
          f"report: {out / 'report.md'}")
    return 0
