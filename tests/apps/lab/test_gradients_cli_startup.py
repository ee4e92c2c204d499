"""``lowlevel gradients`` answers --help and rejects a bad flag without importing
TensorFlow or any study: checked in a fresh interpreter, not timed."""

import argparse
import os
import pathlib
import subprocess
import sys

import pytest

from lowlevel.apps.lab import cli, studies

ROOT = pathlib.Path(__file__).resolve().parents[3]

# Runs the command line in-process with ARGS; its last stdout line says whether
# TensorFlow (or a study module) was imported by the time it exited.
_PROBE = """
import sys
from lowlevel.apps import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
loaded = [m for m in ("tensorflow", "matplotlib", "lowlevel.apps.lab.flow",
                      "lowlevel.apps.lab.studies") if m in sys.modules]
print("exit", code, "imported:", ",".join(loaded) or "nothing")
"""


def _gradients(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", _PROBE, "gradients", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT)


def test_gradients_help_lists_its_flags_without_importing_tensorflow():
    done = _gradients("--help")
    assert "usage: lowlevel gradients" in done.stdout and "--quick" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "exit 0 imported: nothing", done.stderr


@pytest.mark.parametrize("args, expected", [
    (["--out", "x", "--steps", "0"], "argument --steps: must be an integer >= 1; received '0'"),
    (["bogus", "--out", "x"], "invalid choice: 'bogus'"),
    (["flow", "--out", "x", "--tasks", "sorting"], "invalid choice: 'sorting'"),
    (["flow"], "the following arguments are required: --out"),
])
def test_a_bad_flag_is_one_line_naming_it_without_importing_tensorflow(args, expected):
    done = _gradients(*args)
    assert done.stdout.strip().splitlines()[-1] == "exit 2 imported: nothing", done.stderr
    assert "Traceback" not in done.stderr
    assert expected in done.stderr


def test_the_parser_offers_exactly_the_studies_that_exist_and_all():
    assert cli.CHOICES == (*studies.STUDIES, "all")
    for name in studies.STUDIES:
        module, config_class = studies.study(name)
        assert callable(module.run) and config_class().seed == 0


def _parse(argv):
    parser = argparse.ArgumentParser(prog="lowlevel")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv", [
    ["gradients", "--out", "runs/g"],
    ["gradients", "memory", "--out", "o", "--time-steps", "50", "100", "--tasks", "copy",
     "--learning-rate", "0.003", "--clip", "none", "--seed", "4", "--seeds", "2"],
    ["gradients", "clipping", "--out", "o", "--quick", "--learning-rates", "1e-4", "0.01",
     "--relative", "0.5", "--absolute", "1", "100", "--tensorboard", "--cells", "gru"],
])
def test_the_command_a_report_names_parses_back_to_the_same_arguments(argv):
    args = _parse(argv)
    named = cli.command_line(args).split()
    assert named[:2] == ["lowlevel", "gradients"]
    assert _parse(named[1:]) == args
