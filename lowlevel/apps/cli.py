"""The ``lowlevel`` command line: verify, bench, train / evaluate / predict, gradients."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from lowlevel.apps.bench import cli as bench
    from lowlevel.apps.experiment import cli as cli_experiment
    from lowlevel.apps.lab import cli as cli_gradients

    parser = argparse.ArgumentParser(
        prog="lowlevel",
        description="Recurrent networks from scratch in low-level TensorFlow, "
                    "checked against Keras.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify", help="run the parity matrix against Keras and print one row per case")
    verify.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    verify.add_argument("--dtype", choices=["float32", "float64"], action="append",
                        help="only these dtypes (repeatable; default: both)")
    verify.add_argument("--mode", choices=["eager", "function"], action="append",
                        help="only these modes (repeatable; default: both)")
    verify.add_argument("--golden", metavar="PATH", help="also compare every implementation "
                        "with Keras results stored in PATH (e.g. keras_gpu_golden.npz)")
    bench.add_parser(commands)
    cli_experiment.add_parsers(commands)
    cli_gradients.add_parser(commands)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "verify":
        from lowlevel.apps import verify
        return verify.run(json_path=args.json,
                          dtypes=tuple(args.dtype or ("float32", "float64")),
                          modes=tuple(args.mode or ("eager", "function")), golden=args.golden)
    if args.command == "bench":
        from lowlevel.apps.bench import cli as bench
        return bench.run(args)
    if args.command == "gradients":
        from lowlevel.apps.lab import cli as cli_gradients
        return cli_gradients.run(args)
    from lowlevel.apps.experiment import cli as cli_experiment
    return cli_experiment.run(args)


if __name__ == "__main__":
    sys.exit(main())
