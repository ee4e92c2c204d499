"""``lowlevel train | evaluate | predict`` on bad flags, bad files and I/O failures:
one line naming the flag or file, exit status 2 for bad input and 1 for a failed run,
no traceback, and no run directory left behind by a run that failed validation."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lowlevel.apps.experiment import cli as cli_experiment
from lowlevel.apps.experiment import records

TINY = ["--data", "synthetic", "--num-train", "200", "--num-test", "64", "--num-words", "500",
        "--maxlen", "12", "--units", "4", "--embedding-dim", "4", "--batch-size", "16",
        "--seed", "3", "--quiet"]


def main(*argv):
    return cli_experiment.main(list(argv))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "run")
    assert main("train", *TINY, "--epochs", "1", "--units", "5", "--out", out) == 0
    return out


@pytest.mark.parametrize("argv, flag", [
    (["--seed", str(2**70)], "`--seed` must be an integer in [0, 4294967295]"),
    (["--maxlen", "1000000000"], "`--maxlen` must be an integer in [1, 100000]"),
    (["--batch-size", "0"], "`--batch-size` must be an integer in [1, 1048576]"),
    (["--clip", "global_norm:inf"], "`--clip` must be 'none' or MODE:THRESHOLD"),
    (["--clip", "norm:nan"], "`--clip` must be 'none' or MODE:THRESHOLD"),
    (["--clip", "value:0"], "`--clip` must be 'none' or MODE:THRESHOLD"),
])
def test_a_bad_train_flag_exits_2_naming_it_and_creates_nothing(tmp_path, capsys, argv, flag):
    out = tmp_path / "run"
    assert main("train", *TINY, "--out", str(out), *argv) == 2
    err = capsys.readouterr().err
    assert flag in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_out_pointing_at_a_file_exits_2(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("x")
    assert main("train", *TINY, "--out", str(path)) == 2
    err = capsys.readouterr().err
    assert "`--out`" in err and "is a file" in err
    assert path.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_out_exits_2(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        assert main("train", *TINY, "--out", str(parent / "run")) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        parent.chmod(0o700)


def test_a_full_disk_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    def full(path, content):
        raise OSError(28, "No space left on device", path)
    monkeypatch.setattr(records, "write_json", full)
    monkeypatch.setattr("lowlevel.apps.experiment.run.write_json", full)
    assert main("train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert "failed: OSError: [Errno 28] No space left on device" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("size", ["-5", "0"])
def test_evaluate_batch_size_below_1_exits_2_naming_it(finished, capsys, size):
    assert main("evaluate", "--run", finished, "--batch-size", size) == 2
    assert f"`--batch-size` must be an integer >= 1; received {size}" in capsys.readouterr().err


def test_evaluate_prints_a_readable_line_and_json_on_request(finished, capsys):
    assert main("evaluate", "--run", finished, "--quiet") == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{finished}: test accuracy ") and "on 64 examples" in line
    assert main("evaluate", "--run", finished, "--json", "--quiet") == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 64


def test_resume_reads_the_runs_config_and_refuses_a_flag_that_disagrees(finished, capsys):
    assert main("train", "--out", finished, "--resume", "--units", "8") == 2
    err = capsys.readouterr().err
    assert "`--units 8` disagrees with the run's" in err and "--units 5" in err
    assert main("train", "--out", finished, "--resume", "--epochs", "2", "--quiet") == 0
    with open(os.path.join(finished, "metrics.json")) as f:
        metrics = json.load(f)
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert metrics["config"]["units"] == 5 and metrics["config"]["num_train"] == 200


def test_resume_in_an_empty_place_exits_2_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "nothing"
    assert main("train", "--out", str(out), "--resume") == 2
    assert "holds no run to resume" in capsys.readouterr().err
    assert not out.exists()


def test_a_damaged_kept_weights_file_is_one_line_exit_2(tmp_path, finished, capsys):
    copy = str(tmp_path / "copy")
    shutil.copytree(finished, copy)
    with open(os.path.join(copy, "kept", "weights.index"), "wb") as f:
        f.write(b"\0" * 10)
    assert main("evaluate", "--run", copy) == 2
    assert "kept weights" in capsys.readouterr().err


def test_predict_prints_label_and_probability_and_warns_on_unknown_words(tmp_path, capsys):
    words = ["the", "movie", "was", "great"]
    x = np.empty(40, dtype=object)
    x[:] = [[1 + i % 4, 1 + (i + 1) % 4] for i in range(40)]
    np.savez(tmp_path / "imdb.npz", x_train=x, y_train=np.arange(40) % 2, x_test=x[:8],
             y_test=np.arange(8) % 2)
    (tmp_path / "words.json").write_text(json.dumps({w: i + 1 for i, w in enumerate(words)}))
    out = str(tmp_path / "run")
    assert main("train", "--data", "imdb", "--imdb-path", str(tmp_path / "imdb.npz"),
                "--word-index", str(tmp_path / "words.json"), "--num-words", "20",
                "--maxlen", "4", "--units", "2", "--embedding-dim", "2", "--batch-size", "8",
                "--epochs", "1", "--quiet", "--out", out) == 0
    capsys.readouterr()
    assert main("predict", "--run", out, "the movie was great", "zxq blorp florb") == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()]
    assert [r[2] for r in rows] == ["the movie was great", "zxq blorp florb"]
    for label, p, _ in rows:
        assert label == ("positive" if float(p) > 0.5 else "negative")
    assert "knows 0 of the 3 words of 'zxq blorp florb'" in captured.err
    assert "the movie was great" not in captured.err


def test_the_command_line_refuses_a_malicious_npz_without_running_it(tmp_path):
    from test_data_files_are_safe import malicious_npz  # a sibling test module
    marker = tmp_path / "pwned"
    evil = malicious_npz(tmp_path / "evil.npz", marker)
    result = subprocess.run(
        [sys.executable, "-m", "lowlevel.apps.experiment.cli", "train", "--imdb-path", evil,
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "refused: its pickle asks for" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_a_diverging_run_exits_1_with_one_stop_line(tmp_path, capsys):
    # Near float32's largest rate: a later forward pass overflows
    # (test_run_directory_safety.py says why not 1e30).
    assert main("train", *TINY, "--epochs", "1", "--optimizer", "sgd", "--lr", "3e38",
                "--out", str(tmp_path / "run")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("lowlevel train: stopped: non-finite training at step")
    assert "Traceback" not in err
