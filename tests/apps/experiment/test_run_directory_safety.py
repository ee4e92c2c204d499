"""A run is never lost or poisoned, and nothing outside ``--out`` is touched.

Each promise is reproduced the way a hostile or unlucky user met it: hand-edited state
files, damaged checkpoints, a second run on the same directory, a kill mid-write, a
``--resume`` with nothing to resume. Runs are tiny (synthetic, 11 steps per epoch).
"""

import csv
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps.experiment import rundir
from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.experiment.config import ExperimentConfig

TINY = dict(data="synthetic", num_train=200, num_test=64, num_words=500, maxlen=12,
            units=4, embedding_dim=4, batch_size=16, epochs=2, seed=3, dropout=0.0)
STEPS = 11  # 180 training rows / 16


class Killed(Exception):
    """Stands in for a SIGKILL after a given step."""


def tiny(tmp_path, name="run", **changes):
    return ExperimentConfig(**{**TINY, "out": str(tmp_path / name), **changes})


def killed_at(config, step):
    def kill(global_step, metrics, model):
        if global_step == step:
            raise Killed
    with pytest.raises(Killed):
        experiment.train(config, on_step=kill, quiet=True)


def weights(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if "model" in n and "OPTIMIZER" not in n}


def snapshot(directory):
    """``{relative path: bytes}`` of every file under ``directory``."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """An uninterrupted run, checkpointing every 4 steps: the reference."""
    config = tiny(tmp_path_factory.mktemp("whole"), checkpoint_every=4)
    experiment.train(config, quiet=True)
    return config


def final_weights(config):
    return weights(tf.train.latest_checkpoint(os.path.join(config.out, "checkpoints")))


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    assert all(np.array_equal(a[k], b[k]) for k in a), [k for k in a
                                                        if not np.array_equal(a[k], b[k])]


# ------------------------------------------------------------- nothing outside --out

@pytest.mark.parametrize("outside", ["absolute", "dotdot"])
def test_a_checkpoint_path_outside_the_run_is_refused_and_nothing_outside_is_deleted(
        tmp_path, outside):
    config = tiny(tmp_path, checkpoint_every=4)
    killed_at(config, 13)
    sentinel = tmp_path / "precious.txt"
    sentinel.write_text("keep me")
    for suffix in (".index", ".data-00000-of-00001"):
        (tmp_path / f"precious{suffix}").write_text("keep me too")
    listed = str(tmp_path / "precious") if outside == "absolute" else "../../precious"
    state = os.path.join(config.out, "checkpoints", "checkpoint")
    with open(state, "w") as f:
        f.write(f'model_checkpoint_path: "{listed}"\n'
                f'all_model_checkpoint_paths: "{listed}"\n')
    before = snapshot(config.out)
    with pytest.raises(ValueError, match=r"checkpoint.*outside the run's checkpoints/"):
        experiment.train(dataclasses.replace(config, resume=True), quiet=True)
    assert sentinel.read_text() == "keep me"
    assert (tmp_path / "precious.index").exists()
    assert snapshot(config.out) == before


# ------------------------------------------------------------- --resume and damage

def test_resume_without_a_run_stops_and_creates_nothing(tmp_path):
    config = tiny(tmp_path, resume=True)
    with pytest.raises(ValueError, match="holds no run to resume"):
        experiment.train(config, quiet=True)
    assert not os.path.exists(config.out)


def test_resume_after_checkpoints_are_gone_stops_and_changes_nothing(tmp_path):
    config = tiny(tmp_path, epochs=1)
    experiment.train(config, quiet=True)
    for name in os.listdir(os.path.join(config.out, "checkpoints")):
        os.remove(os.path.join(config.out, "checkpoints", name))
    before = snapshot(config.out)
    with pytest.raises(ValueError, match="no intact checkpoint to resume from; nothing"):
        experiment.train(dataclasses.replace(config, resume=True, epochs=2), quiet=True)
    assert snapshot(config.out) == before


def test_resume_with_a_garbage_state_file_uses_the_checkpoints_on_disk(tmp_path, whole):
    config = dataclasses.replace(whole, out=str(tmp_path / "run"))
    killed_at(config, 13)
    with open(os.path.join(config.out, "checkpoints", "checkpoint"), "w") as f:
        f.write("\x00garbage{{{")
    experiment.train(dataclasses.replace(config, resume=True), quiet=True)
    assert_same(final_weights(config), final_weights(whole))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _empty(path):
    open(path, "wb").close()


def _flip(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        f.seek(0)
        f.write(data)


@pytest.mark.parametrize("damage", [_truncate, _empty, _flip], ids=["truncated", "empty",
                                                                    "bit-flipped"])
@pytest.mark.parametrize("part", ["data-00000-of-00001", "index"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(
        tmp_path, whole, damage, part, capsys):
    config = dataclasses.replace(whole, out=str(tmp_path / "run"))
    killed_at(config, 13)  # checkpoints 4, 8, 11 (epoch end), 12
    damage(os.path.join(config.out, "checkpoints", f"ckpt-12.{part}"))
    experiment.train(dataclasses.replace(config, resume=True), quiet=True)
    err = capsys.readouterr().err
    assert "ckpt-12 is damaged" in err and "resumed from" in err and "ckpt-11" in err
    assert_same(final_weights(config), final_weights(whole))  # exact after all


def test_damaged_best_weights_fall_back_to_that_epochs_checkpoint(tmp_path, capsys):
    # A learning rate of 1e-12 leaves epoch 2 no better than epoch 1: best/ is epoch 1's.
    config = tiny(tmp_path, epochs=2, optimizer="sgd", lr=1e-12)
    killed_at(config, STEPS + 1)  # epoch 1 done: best/ and ckpt-11 written
    _flip(os.path.join(config.out, "best", "weights.data-00000-of-00001"))
    metrics = experiment.train(dataclasses.replace(config, resume=True), quiet=True)
    err = capsys.readouterr().err
    assert metrics["best_epoch"] == metrics["kept_epoch"] == 1
    assert "best weights" in err and "are damaged" in err and "ckpt-11" in err
    models = [experiment.build_model(config) for _ in range(2)]
    tf.train.Checkpoint(model=models[0]).read(
        os.path.join(config.out, "kept", "weights")).assert_existing_objects_matched()
    tf.train.Checkpoint(model=models[1]).read(
        os.path.join(config.out, "checkpoints", "ckpt-11")).expect_partial()
    for a, b in zip(models[0].weights, models[1].weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.name


# ----------------------------------------------------------------------------- lock

def test_a_second_run_on_a_locked_directory_refuses_naming_the_lock(tmp_path):
    config = tiny(tmp_path)
    os.makedirs(config.out)
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    try:
        with open(os.path.join(config.out, rundir.LOCK_NAME), "w") as f:
            f.write(f"{os.uname().nodename} {holder.pid}\n")
        with pytest.raises(ValueError, match=rf"another run \(PID {holder.pid}\).*train.lock"):
            experiment.train(config, quiet=True)
    finally:
        holder.stdin.close()
        holder.wait()
    assert os.listdir(config.out) == [rundir.LOCK_NAME]  # nothing else written


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    config = tiny(tmp_path, epochs=1)
    os.makedirs(config.out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    with open(os.path.join(config.out, rundir.LOCK_NAME), "w") as f:
        f.write(f"{os.uname().nodename} {dead.stdout.strip()}\n")
    experiment.train(config, quiet=True)
    assert "removing the stale lock" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(config.out, rundir.LOCK_NAME))  # released


# ---------------------------------------------------------------- gradients.csv

def test_a_torn_last_gradients_row_is_dropped_not_duplicated(tmp_path, whole):
    config = dataclasses.replace(whole, out=str(tmp_path / "run"))
    killed_at(config, 14)  # rows 1..14 written; checkpoint 12
    with open(os.path.join(config.out, "gradients.csv"), "a") as f:
        f.write("15,0.69")  # the kill tore the next row
    experiment.train(dataclasses.replace(config, resume=True), quiet=True)
    rows = [list(csv.reader(open(os.path.join(c.out, "gradients.csv"))))
            for c in (config, whole)]
    steps = [int(r[0]) for r in rows[0][1:]]
    assert steps == list(range(1, 2 * STEPS + 1))
    assert rows[0] == rows[1]


def test_rewritten_files_leave_no_temporary_behind(whole):
    leftovers = [p for p in snapshot(whole.out) if p.endswith(".tmp")]
    assert not leftovers


# -------------------------------------------------------------------- NaN policy

def test_a_diverging_run_never_saves_a_non_finite_checkpoint(tmp_path):
    # Near float32's largest rate: the first update takes weights to ~1e38 and a later
    # forward pass overflows (16 of 16 seeds tried). At lr=1e30 the saturated gates kept
    # this run's loss finite (~1e29) on one machine and not on another.
    config = tiny(tmp_path, optimizer="sgd", lr=3e38, epochs=1, checkpoint_every=1)
    with pytest.raises(experiment.NonFiniteError, match="not applied and nothing was saved"):
        experiment.train(config, quiet=True)
    managed = os.path.join(config.out, "checkpoints")
    for _, prefix in rundir.checkpoints_on_disk(managed):
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), (prefix, name)


def test_a_failure_while_rewriting_gradients_csv_leaves_the_old_file_whole(tmp_path,
                                                                          monkeypatch):
    from lowlevel import gradient_log
    path = str(tmp_path / "gradients.csv")
    log = gradient_log.GradientLog(["rnn0/0"], csv_path=path, keep_steps=0,
                                   variable_columns=False)
    for step in (1, 2, 3):
        log.record(step, 0.5, 1.0, [1.0], False)
    before = open(path).read()

    def killed(self, rows):
        raise KeyboardInterrupt  # stands in for a kill mid-rewrite
    monkeypatch.setattr(gradient_log.csv.DictWriter, "writerows", killed)
    with pytest.raises(KeyboardInterrupt):
        gradient_log.GradientLog(["rnn0/0"], csv_path=path, keep_steps=2,
                                 variable_columns=False)
    assert open(path).read() == before  # all three rows, not an empty file
