"""``lowlevel train | evaluate | predict``: flags from the config, errors, a killed process."""

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps.experiment import cli as cli_experiment
from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.experiment import config as experiment_config
from lowlevel.apps.experiment.config import ExperimentConfig

TINY = ["--data", "synthetic", "--num-train", "200", "--num-test", "64", "--num-words", "500",
        "--maxlen", "12", "--units", "4", "--embedding-dim", "4", "--batch-size", "16",
        "--seed", "5"]


def parser():
    p = argparse.ArgumentParser(prog="lowlevel")
    cli_experiment.add_parsers(p.add_subparsers(dest="command", required=True))
    return p


def parse_config(argv):
    return cli_experiment.config_from_args(parser().parse_args(["train", *argv]))


# --------------------------------------------------------------------- flags <-> config

def test_every_config_field_is_a_train_flag():
    options = {o for a in parser()._subparsers._group_actions[0].choices["train"]._actions
               for o in a.option_strings}
    for field in dataclasses.fields(ExperimentConfig):
        assert experiment_config.flag(field.name) in options
    for wanted in ("--data", "--imdb-path", "--cell", "--style", "--units", "--layers",
                   "--epochs", "--batch-size", "--maxlen", "--num-words", "--embedding-dim",
                   "--glove", "--freeze-embedding", "--clip", "--optimizer", "--lr", "--seed",
                   "--out", "--resume", "--val-split", "--keep", "--checkpoint-every",
                   "--num-train", "--num-test", "--word-index"):
        assert wanted in options


def test_no_flags_give_the_default_config():
    assert parse_config([]) == ExperimentConfig()


def test_config_to_flags_to_config_round_trips():
    config = ExperimentConfig(
        data="synthetic", imdb_path="a.npz", word_index="w.json", num_train=300, num_test=70,
        num_words=600, maxlen=33, val_split=0.2, cell="gru", style="layer",
        implementation="unrolled", units=7, layers=3,
        dropout=0.25, embedding_dim=9, freeze_embedding=True, optimizer="adam",
        lr=0.0025, clip="global_norm:5", epochs=4, batch_size=32, seed=11, out="runs/x",
        keep="last", checkpoint_every=50, strategy="mirrored", record_gradients=25)
    # --glove needs --data imdb (below); --resume reads the run's config.json (its own test).
    assert all(getattr(config, f.name) != f.default for f in dataclasses.fields(config)
               if f.name not in ("glove", "glove_scale", "resume"))
    assert parse_config(cli_experiment.config_to_argv(config)) == config
    glove = ExperimentConfig(glove="g.txt.gz::g.txt", glove_scale=0.25)
    assert parse_config(cli_experiment.config_to_argv(glove)) == glove


# ----------------------------------------------------------------------- bad flags

@pytest.mark.parametrize("argv, message", [
    (["--clip", "sideways:1"], "error: `--clip` must be 'none' or MODE:THRESHOLD"),
    (["--val-split", "1.5"], "error: `--val-split` must be a number in [0, 1); received 1.5"),
    (["--imdb-path", "/nonexistent/imdb.npz"],
     "error: `--imdb-path`: no file at '/nonexistent/imdb.npz'"),
    (["--data", "synthetic", "--glove", "g.txt"], "error: `--glove` needs `--data imdb`"),
    (["--glove-scale", "0.1"], "error: `--glove-scale` needs `--glove`"),
    (["--glove", "g.txt", "--glove-scale", "0"],
     "error: `--glove-scale` must be a finite number > 0; received 0.0"),
])
def test_bad_flags_exit_2_with_a_message_naming_the_flag(argv, message, capsys, tmp_path):
    assert cli_experiment.main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("argv, message", [
    (["--cell", "tree"], "invalid choice: 'tree'"),
    (["--units", "many"], "--units: invalid int value: 'many'"),
    (["--keep", "first"], "invalid choice: 'first'"),
])
def test_malformed_flags_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_experiment.main(["train", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_evaluate_and_predict_without_a_run_exit_2(tmp_path, capsys):
    assert cli_experiment.main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert cli_experiment.main(["predict", "--run", str(tmp_path), "great"]) == 2


# ------------------------------------------------------- train, evaluate, predict

def test_train_then_evaluate_then_predict(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli_experiment.main(["train", *TINY, "--epochs", "2", "--style", "layer",
                                "--clip", "global_norm:0.05", "--out", out, "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "epoch 2/2: loss" in captured.err and "test (weights of epoch" in captured.err
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert summary["test_accuracy"] == metrics["test_accuracy"]
    assert metrics["epochs"][0]["clipped_fraction"] > 0  # threshold 0.05 is tiny

    assert cli_experiment.main(["evaluate", "--run", out, "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    assert evaluated["examples"] == 64

    assert cli_experiment.main(["predict", "--run", out, "1 70 75", "80 90"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and lines[0][2] == "1 70 75"
    for label, p, _ in lines:
        assert 0 < float(p) < 1 and label == ("positive" if float(p) > 0.5 else "negative")

    assert cli_experiment.main(["predict", "--run", out, "this movie was wonderful"]) == 2
    assert "integer ids" in capsys.readouterr().err


# --------------------------------------------------------------- a real SIGKILL

def test_a_killed_process_resumed_ends_with_the_uninterrupted_weights(tmp_path):
    # 1,080 training rows / 16 = 67 steps per epoch, checkpoints every 5 steps.
    argv = [*TINY, "--num-train", "1200", "--epochs", "3", "--style", "layer", "--cell", "gru",
            "--checkpoint-every", "5", "--keep", "last"]
    broken = str(tmp_path / "broken")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lowlevel.apps.experiment.cli", "train", *argv, "--out", broken],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while process.poll() is None:  # no wall-clock limit: a busy machine is slow
            latest = tf.train.latest_checkpoint(os.path.join(broken, "checkpoints"))
            if latest and int(latest.rsplit("-", 1)[1]) >= 15:
                break
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    killed_at = tf.train.latest_checkpoint(os.path.join(broken, "checkpoints"))
    assert int(killed_at.rsplit("-", 1)[1]) < 201  # stopped mid-run

    assert cli_experiment.main(["train", *argv, "--out", broken, "--resume"]) == 0
    whole = str(tmp_path / "whole")
    assert cli_experiment.main(["train", *argv, "--out", whole]) == 0
    config = parse_config([*argv, "--out", whole])
    models = []
    for run in (whole, broken):
        model = experiment.build_model(config)
        latest = tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
        assert latest.endswith("ckpt-201")
        tf.train.Checkpoint(model=model).read(latest).expect_partial()
        models.append(model)
    for a, b in zip(*(m.weights for m in models)):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    for a, b in zip(*(experiment.dropout_generators(m) for m in models)):
        assert np.array_equal(a.state.numpy(), b.state.numpy())
