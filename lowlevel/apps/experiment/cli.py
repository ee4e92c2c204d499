"""``lowlevel train | evaluate | predict``: the experiment on the command line.

``add_parsers(subparsers)`` adds the three subcommands to ``lowlevel``'s parser;
``run(args)`` executes the one in ``args.command`` and returns the exit status
(0 ok, 1 training stopped on a NaN/Inf, 2 bad arguments or files). The ``train``
flags are built from the fields of ``ExperimentConfig`` (``num_words`` ->
``--num-words``; booleans are switches), so the two cannot drift apart.

Examples (standalone: ``python -m lowlevel.apps.experiment.cli`` instead of ``lowlevel``)::

    lowlevel train --data imdb --imdb-path imdb.npz --cell lstm --style layer --epochs 4 \
        --out runs/lstm                       # kill it any time; add --resume to continue
    lowlevel evaluate --run runs/lstm         # the kept weights on the test set
    lowlevel predict --run runs/lstm --word-index imdb_word_index.json "this movie was wonderful"
    # the offline demo, ~1 minute on 2 CPU cores (synthetic ids: 70 positive, 95 negative):
    lowlevel train --data synthetic --num-train 10000 --num-test 2000 --cell gru --style layer \
        --units 32 --embedding-dim 32 --optimizer adam --lr 0.005 --epochs 5 --out runs/demo
    lowlevel predict --run runs/demo "1 70 120 170" "1 95 145 195"
    # data-parallel (lowlevel.distribute): all local GPUs, else the logical CPU devices ...
    lowlevel train --strategy mirrored --batch-size 128 --out runs/mirrored
    # ... or one process per worker, each with its own TF_CONFIG task index and --out:
    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 0}}' \
        lowlevel train --strategy multiworker --out runs/worker0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing

from lowlevel.apps.experiment.config import ExperimentConfig, flag

COMMANDS = ("train", "evaluate", "predict")


def _field_type(hint):
    """``int``, ``float``, ``str`` or ``bool`` from an annotation (``str | None`` -> ``str``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per ``ExperimentConfig`` field, its help and default from the field."""
    hints = typing.get_type_hints(ExperimentConfig)
    for field in dataclasses.fields(ExperimentConfig):
        kind = _field_type(hints[field.name])
        help_text = field.metadata["help"]
        if kind is bool:
            parser.add_argument(flag(field.name), action="store_true", help=help_text)
            continue
        metavar = field.metadata["metavar"] or (None if field.metadata["choices"]
                                                else field.name.upper())
        parser.add_argument(
            flag(field.name), type=kind, default=field.default,
            choices=field.metadata["choices"], metavar=metavar,
            help=help_text + ("" if field.default is None else f" (default: {field.default})"))


def config_from_args(args) -> ExperimentConfig:
    return ExperimentConfig(**{f.name: getattr(args, f.name)
                               for f in dataclasses.fields(ExperimentConfig)})


def config_to_argv(config: ExperimentConfig) -> list:
    """The ``train`` flags that rebuild ``config`` (its non-default fields)."""
    argv = []
    for field in dataclasses.fields(ExperimentConfig):
        value = getattr(config, field.name)
        if value == field.default:
            continue
        if isinstance(value, bool):
            argv.append(flag(field.name))
        else:
            argv += [flag(field.name), str(value)]
    return argv


def add_parsers(subparsers) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to ``subparsers``."""
    train = subparsers.add_parser(
        "train", help="train the sentiment classifier (resumable; see lowlevel.apps.experiment.run)",
        description="Train on IMDB or the synthetic corpus, validate on a split of the "
                    "training set, keep the best epoch, test once at the end.")
    add_config_arguments(train)
    evaluate = subparsers.add_parser(
        "evaluate", help="re-evaluate a run's kept weights on the test set")
    evaluate.add_argument("--run", metavar="DIR", required=True, help="a `lowlevel train --out`")
    evaluate.add_argument("--batch-size", type=int, default=None,
                          help="evaluation batch size (default: the run's)")
    predict = subparsers.add_parser(
        "predict", help="p(positive) of raw review texts under a run's kept weights",
        description="IMDB runs tokenise like Keras built the IMDB word index. Synthetic "
                    "runs have no words: pass whitespace-separated integer ids instead "
                    "(e.g. \"1 70 120\"; the start id 1 is added if missing).")
    predict.add_argument("--run", metavar="DIR", required=True, help="a `lowlevel train --out`")
    predict.add_argument("--word-index", metavar="PATH", default=None,
                         help="IMDB word index json (default: the run's --word-index, "
                              "else Keras's cache/download)")
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="review text(s)")


def run(args) -> int:
    """Execute ``args.command``; return the exit status."""
    from lowlevel.apps.experiment import run as experiment

    try:
        if args.command == "train":
            config = config_from_args(args)
            config.check_files()
            metrics = experiment.train(config)
            print(json.dumps({"out": config.out, "best_epoch": metrics["best_epoch"],
                              "kept_epoch": metrics["kept_epoch"],
                              "test_loss": metrics["test_loss"],
                              "test_accuracy": metrics["test_accuracy"]}))
        elif args.command == "evaluate":
            result = experiment.evaluate(args.run, args.batch_size)
            print(json.dumps({"run": args.run, "test_loss": result["loss"],
                              "test_accuracy": result["accuracy"],
                              "examples": result["examples"]}))
        elif args.command == "predict":
            for text, p in zip(args.texts, experiment.predict(args.run, args.texts,
                                                              args.word_index)):
                print(f"{p:.4f}\t{text}")
        else:
            print(f"lowlevel: unknown command {args.command!r}; expected one of {COMMANDS}.",
                  file=sys.stderr)
            return 2
    except experiment.NonFiniteError as error:
        print(f"\nlowlevel {args.command}: stopped: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"lowlevel {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lowlevel")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
