"""``lowlevel train | evaluate | predict | export``: the experiment on the command line.

``add_parsers(subparsers)`` adds train, evaluate and predict to ``lowlevel``'s parser
(``add_export_parser``, export); none of them imports TensorFlow, which loads when a
command runs.
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
import os
import sys
import typing

from lowlevel.apps.experiment.config import (RESUMABLE_CHANGES, ExperimentConfig, flag,
                                             flag_value)

COMMANDS = ("train", "evaluate", "predict")


def _field_type(hint):
    """``int``, ``float``, ``str`` or ``bool`` from an annotation (``str | None`` -> ``str``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per ``ExperimentConfig`` field, its help and default from the field.

    Defaults are left out of ``args`` (``SUPPRESS``), so ``given_fields`` can tell the
    flags typed from the defaults: ``--resume`` takes the rest from the run's config.json.
    """
    hints = typing.get_type_hints(ExperimentConfig, localns={"Clip": str})  # --clip: text
    for field in dataclasses.fields(ExperimentConfig):
        kind = _field_type(hints[field.name])
        help_text = field.metadata["help"]
        if kind is bool:
            parser.add_argument(flag(field.name), action="store_true",
                                default=argparse.SUPPRESS, help=help_text)
            continue
        metavar = field.metadata["metavar"] or (None if field.metadata["choices"]
                                                else field.name.upper())
        parser.add_argument(
            flag(field.name), type=kind, default=argparse.SUPPRESS,
            choices=field.metadata["choices"], metavar=metavar,
            help=help_text + ("" if field.default is None else f" (default: {field.default})"))


def given_fields(args) -> dict:
    """``{field: value}`` of the config flags given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(ExperimentConfig)
            if hasattr(args, f.name)}


def config_from_args(args) -> ExperimentConfig:
    """The flags given, the field defaults for the rest; with ``--resume``, the run's
    ``config.json`` for the rest, and a flag that disagrees with it is refused."""
    given = given_fields(args)
    if not given.get("resume"):
        return ExperimentConfig(**given)
    out = given.get("out", ExperimentConfig.out)
    path = os.path.join(out, "config.json")
    try:
        with open(path) as f:
            saved = ExperimentConfig.from_json(json.load(f)["config"])
    except FileNotFoundError:
        raise ValueError(f"`--resume`: {out!r} holds no run to resume (no config.json); "
                         "nothing was changed.") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"`--resume`: {path} is unreadable ({type(error).__name__}: "
                         f"{error}); nothing was changed.") from None
    config = dataclasses.replace(saved, **given)  # parses the given flags (e.g. --clip)
    for name, value in given.items():
        if name not in RESUMABLE_CHANGES and getattr(config, name) != getattr(saved, name):
            raise ValueError(f"`{flag(name)} {value}` disagrees with the run's {path} "
                             f"({flag(name)} {flag_value(name, getattr(saved, name))}); "
                             "drop it to resume the run as it was (only "
                             f"{', '.join(map(flag, RESUMABLE_CHANGES))} may change).")
    return config


def config_to_argv(config: ExperimentConfig) -> list:
    """The ``train`` flags that rebuild ``config`` (its non-default fields)."""
    default = ExperimentConfig()
    argv = []
    for field in dataclasses.fields(ExperimentConfig):
        value = getattr(config, field.name)
        if value == getattr(default, field.name):
            continue
        if isinstance(value, bool):
            argv.append(flag(field.name))
        else:
            argv += [flag(field.name), str(flag_value(field.name, value))]
    return argv


def add_parsers(subparsers) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to ``subparsers``."""
    train = subparsers.add_parser(
        "train", help="train the sentiment classifier (resumable; see lowlevel.apps.experiment.run)",
        description="Train on IMDB or the synthetic corpus, validate on a split of the "
                    "training set, keep the best epoch, test once at the end. With "
                    "--resume, settings not given are read from the run's config.json.")
    add_config_arguments(train)
    _add_output_flags(train, "the summary")
    evaluate = subparsers.add_parser(
        "evaluate", help="re-evaluate a run's kept weights on the test set")
    _add_run_arguments(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=None,
                          help="evaluation batch size, >= 1 (default: the run's)")
    _add_output_flags(evaluate, "the result")
    predict = subparsers.add_parser(
        "predict", help="label and p(positive) of raw review texts under a run's kept weights",
        description="IMDB runs tokenise like Keras built the IMDB word index. Synthetic "
                    "runs have no words: pass whitespace-separated integer ids instead "
                    "(e.g. \"1 70 120\"; the start id 1 is added if missing).")
    _add_run_arguments(predict, words="the run's --word-index, else Keras's cache/download")
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="review text(s)")


def add_export_parser(subparsers) -> None:
    """Add ``export`` (run by :func:`lowlevel.apps.export.run`) to ``subparsers``."""
    export = subparsers.add_parser(
        "export", help="write a run's kept classifier as a TensorFlow SavedModel",
        description="A SavedModel with signatures serving_default (token ids [batch, maxlen] "
                    "-> probability) and, when the vocabulary is at hand, serving_text "
                    "(raw texts -> probability). Loading it needs TensorFlow only.")
    _add_run_arguments(export, words="the run's --word-index; without one, no text "
                                     "signature")
    export.add_argument("--out", metavar="DIR", required=True,
                        help="the SavedModel directory to write (must not exist yet)")


def _add_run_arguments(parser, words=None) -> None:
    """``--run DIR``, the run a command reads (evaluate, predict, export); with ``words``
    (what the default is), also ``--word-index PATH`` for commands that read words."""
    parser.add_argument("--run", metavar="DIR", required=True, help="a `lowlevel train --out`")
    if words is not None:
        parser.add_argument("--word-index", metavar="PATH", default=None,
                            help=f"IMDB word index json (default: {words})")


def _add_output_flags(parser, what):
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON line")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no phase lines")


def _train(args) -> None:
    from lowlevel.apps.experiment import run as experiment

    config = config_from_args(args)
    config.check_files()
    metrics = experiment.train(config, quiet=args.quiet)
    summary = {"out": config.out, "best_epoch": metrics["best_epoch"],
               "kept_epoch": metrics["kept_epoch"], "test_loss": metrics["test_loss"],
               "test_accuracy": metrics["test_accuracy"]}
    print(json.dumps(summary) if args.json else
          f"{config.out}: test accuracy {summary['test_accuracy']:.4f}, loss "
          f"{summary['test_loss']:.4f} (weights of epoch {summary['kept_epoch']}; best by "
          f"validation accuracy: {summary['best_epoch']})")


def _evaluate(args) -> None:
    from lowlevel.apps.experiment import run as experiment

    result = experiment.evaluate(args.run, args.batch_size, quiet=args.quiet)
    print(json.dumps({"run": args.run, "test_loss": result["loss"],
                      "test_accuracy": result["accuracy"], "examples": result["examples"]})
          if args.json else
          f"{args.run}: test accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f} "
          f"on {result['examples']} examples")


def _predict(args) -> None:
    from lowlevel.apps.experiment import run as experiment

    results = experiment.predict_with_coverage(args.run, args.texts, args.word_index)
    for text, r in zip(args.texts, results):
        if r["known"] * 2 < r["words"] or r["words"] == 0:
            print(f"warning: the model knows {r['known']} of the {r['words']} words of "
                  f"{text[:40]!r}; its prediction says little", file=sys.stderr)
        label = "positive" if r["probability"] > 0.5 else "negative"
        print(f"{label}\t{r['probability']:.4f}\t{text}")


def run(args) -> int:
    """Execute ``args.command``; return the exit status: 0 done, 1 the run failed
    (non-finite training, an I/O or TensorFlow error, out of memory), 2 bad input
    (flags, files, run directories). Always one line on stderr, no traceback."""
    import tensorflow as tf

    from lowlevel.apps.experiment import run as experiment

    commands = {"train": _train, "evaluate": _evaluate, "predict": _predict}
    if args.command not in commands:
        print(f"lowlevel: unknown command {args.command!r}; expected one of {COMMANDS}.",
              file=sys.stderr)
        return 2
    try:
        commands[args.command](args)
    except experiment.NonFiniteError as error:
        print(f"\nlowlevel {args.command}: stopped: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, RuntimeError, PermissionError,
            IsADirectoryError, NotADirectoryError) as error:
        print(f"lowlevel {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, tf.errors.OpError, MemoryError) as error:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        print(f"lowlevel {args.command}: failed: {type(error).__name__}: "
              f"{message.splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nlowlevel {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lowlevel")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
