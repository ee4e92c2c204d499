"""The ``lowlevel`` command line: verify, bench, train / evaluate / predict, gradients.

``lowlevel --help`` and a mistyped command answer without importing TensorFlow: the
overview parser below names the commands only, and a command's own flags are declared
(by its module's ``add_parser``) once the command is known. TensorFlow loads when a
command runs, with its start-up chatter filtered out (:func:`tensorflow_chatter_filtered`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile

# Command -> one line of help. Their flags live beside the code they drive.
COMMANDS = {
    "verify": "run the parity matrix against Keras and print one row per case",
    "bench": "time forward and training steps against Keras; table, JSON, PNG",
    "train": "train the sentiment classifier (resumable)",
    "evaluate": "re-evaluate a run's kept weights on the test set",
    "predict": "p(positive) of raw review texts under a run's kept weights",
    "gradients": "gradient lab: flow at initialisation, clipping, memory, the cliff, initialisations",
    "export": "write a trained run's classifier as a TensorFlow SavedModel",
}

DESCRIPTION = "Recurrent networks from scratch in low-level TensorFlow, checked against Keras."

# Lines TensorFlow's C++ side writes while it starts on a machine without a GPU; none
# of them asks anything of the user. (cuInit's "error" is kept when a CUDA driver exists.)
_CHATTER = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|^[IW]\d{4} .*\b(cudart_stub|cpu_feature_guard|cuda_fft|cuda_dnn|cuda_blas|port)\.cc"
    r"|^To enable the following instructions: .*rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered")
_NO_DRIVER = "Could not find cuda drivers on your machine"
_CUINIT = re.compile(r"^E\d{4} .*failed call to cuInit")


def filter_chatter(text: str) -> str:
    """``text`` without TensorFlow's start-up lines; cuInit's only when no driver was found."""
    no_driver = _NO_DRIVER in text
    kept = [line for line in text.splitlines()
            if not _CHATTER.search(line) and not (no_driver and _CUINIT.search(line))]
    return "\n".join(kept)


@contextlib.contextmanager
def tensorflow_chatter_filtered():
    """Capture file descriptor 2, then replay whatever is not TensorFlow's start-up chatter.

    TensorFlow's C++ logging ignores ``TF_CPP_MIN_LOG_LEVEL`` until absl is initialised,
    so filtering what it writes is the one reliable way. Anything else written to stderr
    in the block (argparse's errors, tracebacks) comes out unchanged, in order.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own later warnings
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = filter_chatter(captured.read().decode(errors="replace"))
            if kept:
                print(kept, file=sys.stderr, flush=True)


def load_tensorflow() -> None:
    """Import TensorFlow and look for GPUs (cuInit runs then): its start-up, done once."""
    import tensorflow as tf  # noqa: PLC0415

    tf.config.list_physical_devices("GPU")


class _OneLineErrors(argparse.ArgumentParser):
    """Argument errors as one line naming the argument, without the usage block (a
    command such as ``train`` has dozens of flags); ``--help`` still lists them all."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_verify(commands) -> None:
    verify = commands.add_parser("verify", help=COMMANDS["verify"],
                                 description=COMMANDS["verify"].capitalize() + ".")
    verify.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    verify.add_argument("--dtype", choices=["float32", "float64"], action="append",
                        help="only these dtypes (repeatable; default: both)")
    verify.add_argument("--mode", choices=["eager", "function"], action="append",
                        help="only these modes (repeatable; default: both)")
    verify.add_argument("--golden", metavar="PATH",
                        help="also compare every implementation with Keras results stored in "
                             "PATH (e.g. keras_gpu_golden.npz)")


def _add_command(commands, command: str) -> None:
    """Declare ``command``'s flags, from a module that imports no TensorFlow (the
    gradient lab's still does)."""
    if command == "verify":
        _add_verify(commands)
    elif command == "bench":
        from lowlevel.apps.bench import cli as bench  # noqa: PLC0415
        bench.add_parser(commands)
    elif command == "gradients":
        from lowlevel.apps.lab import cli as lab  # noqa: PLC0415
        lab.add_parser(commands)
    elif command == "export":
        from lowlevel.apps.experiment import cli as experiment  # noqa: PLC0415
        experiment.add_export_parser(commands)
    else:
        from lowlevel.apps.experiment import cli as experiment  # noqa: PLC0415
        experiment.add_parsers(commands)


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser: every command by name only, or ``command`` with all its flags."""
    top = _OneLineErrors(
        prog="lowlevel", description=DESCRIPTION,
        epilog="`lowlevel COMMAND --help` lists a command's flags.")
    top.add_argument("--version", action="version", version=f"lowlevel {_version()}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if command in COMMANDS:
        _add_command(commands, command)
    else:
        for name, help_text in COMMANDS.items():
            commands.add_parser(name, help=help_text, add_help=False)
    return top


def _version() -> str:
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version("lowlevel")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "(not installed)"


def _run(args) -> int:
    if args.command == "verify":
        from lowlevel.apps import verify  # noqa: PLC0415
        return verify.run(json_path=args.json,
                          dtypes=tuple(args.dtype or ("float32", "float64")),
                          modes=tuple(args.mode or ("eager", "function")),
                          golden=args.golden)
    if args.command == "export":
        from lowlevel.apps import export  # noqa: PLC0415
        return export.run(args)
    if args.command == "bench":
        from lowlevel.apps.bench import cli as bench  # noqa: PLC0415
        return bench.run(args)
    if args.command == "gradients":
        from lowlevel.apps.lab import cli as lab  # noqa: PLC0415
        return lab.run(args)
    from lowlevel.apps.experiment import cli as experiment  # noqa: PLC0415
    return experiment.run(args)


def main(argv=None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status.

    A bad value that only the command can judge ends in one line on stderr, exit 2.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    with tensorflow_chatter_filtered():  # some commands' flags already load TensorFlow
        args = parser(command).parse_args(argv)  # exits on --help and on argument errors
        load_tensorflow()
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"lowlevel {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
