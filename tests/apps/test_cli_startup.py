"""The ``lowlevel`` command line answers before TensorFlow loads, and TensorFlow's start-up
chatter never reaches the user.

Nothing here is timed: "fast" is checked as "TensorFlow was not imported", in a fresh
subprocess (``python -m lowlevel``, the same entry point as the ``lowlevel`` script).
"""

import os
import pathlib
import subprocess
import sys

import pytest

from lowlevel.apps import cli

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs `python -m lowlevel ARGS` in-process and reports on stderr's last line whether
# TensorFlow was imported by the time the command line exited.
_PROBE = """
import runpy, sys
sys.argv = ["lowlevel", *sys.argv[1:]]
try:
    runpy.run_module("lowlevel", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
print("tensorflow imported" if "tensorflow" in sys.modules else "tensorflow not imported",
      file=sys.stderr)
sys.exit(code)
"""


def _lowlevel(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


def test_help_lists_every_command_without_importing_tensorflow():
    done = _lowlevel("--help")
    assert done.returncode == 0, done.stderr
    for command in cli.COMMANDS:
        assert command in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "tensorflow not imported"


@pytest.mark.parametrize("args, expected", [
    (["trian"], "invalid choice: 'trian'"),
    ([], "the following arguments are required: COMMAND"),
    (["verify", "--bogus"], "unrecognized arguments: --bogus"),
    (["bench", "--cells", "lstm,rnn"], "`--cells` takes comma-separated names"),
])
def test_argument_errors_name_the_argument_in_one_line_without_importing_tensorflow(
        args, expected):
    done = _lowlevel(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "tensorflow not imported"
    assert "Traceback" not in done.stderr
    assert any(expected in line for line in lines), done.stderr


# Every command's flags are declared without TensorFlow; it loads when the command runs.
@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_of_every_command_does_not_import_tensorflow(command):
    done = _lowlevel(command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: lowlevel {command}" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "tensorflow not imported"


# (command, a bad flag, what its one line says); required arguments given, so that the
# error is the bad flag's.
_BAD_FLAGS = [
    ("train", ["--cell", "rnn"], "argument --cell: invalid choice: 'rnn'"),
    ("train", ["--units", "many"], "argument --units: invalid int value: 'many'"),
    ("train", ["--implementation", "cudnn"], "argument --implementation: invalid choice"),
    ("train", ["--optimizer", "adagrad"], "argument --optimizer: invalid choice"),
    ("train", ["--strategy", "tpu"], "argument --strategy: invalid choice"),
    ("evaluate", ["--run", "r", "--batch-size", "x"], "argument --batch-size: invalid int"),
    ("predict", ["--run", "r", "text", "--bogus"], "unrecognized arguments: --bogus"),
    ("export", ["--run", "r", "--out", "o", "--bogus"], "unrecognized arguments: --bogus"),
    ("verify", ["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    ("bench", ["--bogus"], "unrecognized arguments: --bogus"),
    ("gradients", ["--out", "o", "--units", "0"], "argument --units: must be an integer >= 1"),
]


@pytest.mark.parametrize("command, argv, expected", _BAD_FLAGS)
def test_a_bad_flag_is_one_line_naming_it_exit_2_without_importing_tensorflow(
        command, argv, expected):
    done = _lowlevel(command, *argv)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "tensorflow not imported"
    assert len(lines) == 2 and expected in lines[0], done.stderr
    assert lines[0].startswith("lowlevel"), done.stderr


def test_version_is_answered_without_importing_tensorflow():
    done = _lowlevel("--version")
    assert done.returncode == 0 and done.stdout.startswith("lowlevel ")
    assert done.stderr.strip().splitlines()[-1] == "tensorflow not imported"


_START_UP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796008161.847888    8878 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796008161.923902    8878 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796008166.152582    8878 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_start_up_chatter_of_a_machine_without_gpu_driver_is_dropped_entirely():
    assert cli.filter_chatter(_START_UP) == ""


def test_cuinit_failure_is_kept_when_a_cuda_driver_exists_and_other_lines_always():
    with_driver = "\n".join(line for line in _START_UP.splitlines()
                            if "Could not find cuda drivers" not in line)
    kept = cli.filter_chatter(with_driver + "\nValueError: something real")
    assert kept.splitlines() == [_START_UP.splitlines()[-1], "ValueError: something real"]


def test_chatter_filter_replays_other_stderr_output_in_order(capfd):
    with cli.tensorflow_chatter_filtered():
        os.write(2, _START_UP.encode())
        os.write(2, b"first real line\n")
        os.write(2, b"second real line\n")
    assert capfd.readouterr().err == "first real line\nsecond real line\n"


def test_a_command_that_imports_tensorflow_prints_no_start_up_chatter(tmp_path):
    """A real TensorFlow start-up, then an error the user should see: only the error."""
    done = _lowlevel("predict", "--run", str(tmp_path / "missing"), "text")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "tensorflow imported"
    assert len(lines) == 2 and lines[0].startswith("lowlevel predict: error:"), done.stderr
