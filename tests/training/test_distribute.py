"""``--strategy mirrored|multiworker`` trains the same weights as one device.

The comparisons run ``lowlevel.apps.experiment.run.train`` end to end in subprocesses
(``tests/distribute_worker.py``): one process splits its CPU into two logical devices
(which must happen before TensorFlow initialises them) and trains single-device, then
``mirrored`` with two replicas; two more processes form a two-worker
``multiworker`` cluster on 127.0.0.1. All use the same global batch of 32, dropout OFF
(each replica draws its own dropout stream, so dropout-on runs are not comparable), and
global-norm clipping that acts at most steps, so that clipping each replica's partial
gradient instead of the all-reduced one would show. Weights agree to the float32 bar.
Every run records its gradients (``--record-gradients 2``), and the records agree too.
"""

import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from lowlevel import distribute, optimizers
from lowlevel.apps.experiment import cli as cli_experiment
from lowlevel.apps.experiment import recording
from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.models import SentimentClassifier
from lowlevel.tolerances import assert_close
from lowlevel.train import Clip, make_train_step

WORKER = os.path.join(os.path.dirname(__file__), os.pardir, "distribute_worker.py")
# No wall-clock limit by default (a busy machine is not a failure). Set
# LOWLEVEL_TEST_SUBPROCESS_TIMEOUT (seconds) to bound a hang, e.g. in CI.
TIMEOUT = float(os.environ.get("LOWLEVEL_TEST_SUBPROCESS_TIMEOUT", "inf"))
TINY = dict(data="synthetic", num_train=256, num_test=32, num_words=500, maxlen=8,
            cell="simple", units=4, embedding_dim=4, batch_size=32, epochs=1, dropout=0.0,
            val_split=0.0, keep="last", optimizer="adam", lr=0.01, clip="global_norm:0.01",
            seed=3)  # 8 steps; gradient norms ~0.1: most steps clipped


# ------------------------------------------------------------------------- helpers

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(configs, logical_cpus, log_path, tf_config=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    with open(log_path, "w") as log:  # the child keeps its own handle
        process = subprocess.Popen([sys.executable, WORKER, json.dumps(configs),
                                    str(logical_cpus)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    process.log_path = log_path
    return process


def _finish(processes):
    """Wait for every process; all must exit 0.

    A worker that fails ends the wait at once and the others are killed (a multiworker
    peer would otherwise wait for it forever); ``TIMEOUT`` (default: none) is reported
    as such, naming the processes still running.
    """
    started = time.monotonic()
    try:
        while any(p.poll() is None for p in processes):
            if any(p.returncode not in (None, 0) for p in processes):
                break
            if time.monotonic() - started > TIMEOUT:
                running = [os.path.basename(p.log_path) for p in processes if p.poll() is None]
                pytest.fail(f"LOWLEVEL_TEST_SUBPROCESS_TIMEOUT={TIMEOUT:g} s passed with "
                            f"{running} still running (raise it on a busy machine).")
            time.sleep(0.2)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p in processes:
        if p.returncode != 0:
            with open(p.log_path) as f:
                tail = f.read()[-3000:]
            pytest.fail(f"{p.args[1]} exited with {p.returncode}:\n{tail}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{name: (weights, metrics, gradient record)}`` for single, mirrored and the two
    multiworker workers, each recording its gradients every other step
    (``--record-gradients 2``)."""
    root = tmp_path_factory.mktemp("distribute")
    out = {name: str(root / name) for name in ("single", "mirrored", "worker0", "worker1")}
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    recorded = dict(TINY, record_gradients=2)
    processes = [_start([dict(recorded, out=out["single"]),
                         dict(recorded, strategy="mirrored", out=out["mirrored"])],
                        2, root / "local.log")]
    for i in range(2):
        worker = dict(recorded, strategy="multiworker", out=out[f"worker{i}"])
        processes.append(_start([worker], 1, root / f"worker{i}.log",
                                {"cluster": cluster, "task": {"type": "worker", "index": i}}))
    _finish(processes)
    result = {}
    for name, path in out.items():
        with np.load(os.path.join(path, "weights.npz")) as f:
            weights = [f[k] for k in f.files]
        with open(os.path.join(path, "metrics.json")) as f:
            metrics = json.load(f)
        with np.load(os.path.join(path, recording.FILE), allow_pickle=False) as f:
            record = {key: f[key] for key in f.files}
        result[name] = (weights, metrics, record)
    return result


def _model(strategy, dropout=0.0):
    tf.keras.utils.set_random_seed(1)
    with strategy.scope():
        model = SentimentClassifier(cell="gru", style="cell", num_words=40, embedding_dim=3,
                                    units=3, num_layers=1, dropout=dropout, head_units=3,
                                    head_dropout=dropout, seed=1)
        optimizer = optimizers.RMSprop(0.05)
    return model, optimizer


def _batch(n=8, time=4):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 40, (n, time)).astype(np.int32),
            rng.integers(0, 2, n).astype(np.int32))


# ---------------------------------------------------------------- across processes

@pytest.mark.parametrize("name", ["mirrored", "worker0", "worker1"])
def test_distributed_training_ends_with_the_single_device_weights(runs, name):
    single, distributed = runs["single"][0], runs[name][0]
    assert len(single) == len(distributed)
    for i, (expected, actual) in enumerate(zip(single, distributed)):
        # Adam moves every weight by about lr a step, so a weight that ends near zero
        # (the head's bias: 3e-5 after eight steps of 0.01) is a difference of such
        # steps and carries their rounding, not an error relative to its own size.
        assert_close(actual, expected, tf.float32, f"{name} weight {i}",
                     scale_floor=TINY["lr"])


@pytest.mark.parametrize("name", ["mirrored", "worker0", "worker1"])
def test_distributed_metrics_are_the_global_batch_ones_clipped_on_the_global_norm(runs, name):
    expected, actual = runs["single"][1]["epochs"][0], runs[name][1]["epochs"][0]
    assert expected["clipped_fraction"] == actual["clipped_fraction"] >= 0.5
    for key in ("loss", "accuracy", "global_norm_mean"):
        assert actual[key] == pytest.approx(expected[key], rel=1e-5), key
    assert runs[name][1]["test_loss"] == pytest.approx(runs["single"][1]["test_loss"], rel=1e-5)


@pytest.mark.parametrize("name", ["mirrored", "worker0", "worker1"])
def test_distributed_runs_record_what_a_single_device_run_records(runs, name):
    """Each distributed run's gradient record (per layer, every other step) equals the
    single device's. Not-applicable entries are NaN in both."""
    expected, actual = runs["single"][2], runs[name][2]
    assert sorted(actual) == sorted(expected)
    for key, want in expected.items():
        if want.dtype.kind != "f":
            np.testing.assert_array_equal(actual[key], want, err_msg=f"{name} {key}")
            continue
        np.testing.assert_array_equal(np.isnan(actual[key]), np.isnan(want),
                                      err_msg=f"{name} {key}")
        assert_close(np.nan_to_num(actual[key]), np.nan_to_num(want), tf.float32,
                     f"{name} {key}")


# -------------------------------------------------------------------- in process

def test_distributed_step_under_the_default_strategy_equals_make_train_step():
    ids, labels = _batch()
    clip = Clip("global_norm", 0.01)
    reference, reference_opt = _model(tf.distribute.get_strategy())
    step = make_train_step(reference, reference_opt, clip)
    strategy = distribute.make_strategy("default")
    model, optimizer = _model(strategy)
    distributed = distribute.make_distributed_train_step(strategy, model, optimizer, clip)
    for _ in range(3):
        expected, actual = step(ids, labels), distributed(ids, labels)
    for key in ("loss", "accuracy", "global_norm"):
        assert float(actual[key]) == pytest.approx(float(expected[key]), rel=1e-6), key
    assert bool(actual["clipped"]) and bool(expected["clipped"])
    for i, (a, e) in enumerate(zip(model.get_weights(), reference.get_weights())):
        assert_close(a, e, tf.float32, f"weight {i}")


def test_mirrored_scope_mirrors_model_optimizer_and_slots_and_dropout_trains():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])  # one replica: devices are fixed
    model, optimizer = _model(strategy, dropout=0.5)
    step = distribute.make_distributed_train_step(strategy, model, optimizer)
    mirrored = tf.distribute.DistributedValues
    assert all(isinstance(v, mirrored) for v in model.trainable_variables)
    assert isinstance(optimizer.iterations, mirrored)
    assert all(isinstance(s, mirrored) for v in model.trainable_variables
               for s in optimizer.slots(v).values())  # built before the first step
    before = model.get_weights()
    metrics = step(*_batch())
    assert np.isfinite(float(metrics["loss"])) and int(optimizer.iterations.numpy()) == 1
    assert any(np.any(a != b) for a, b in zip(model.get_weights(), before))


def test_optimizer_build_creates_the_slots_that_the_first_update_would():
    variables = [tf.Variable(tf.ones([2, 3])), tf.Variable(tf.ones([3]))]
    built = optimizers.Adam(0.1).build(variables)
    assert [sorted(built.slots(v)) for v in variables] == [["momentum", "velocity"]] * 2
    first = built.slots(variables[0])["momentum"]
    built.build(variables)  # idempotent: the same slot variables
    assert built.slots(variables[0])["momentum"] is first
    lazy = optimizers.Adam(0.1)
    copies = [tf.Variable(v) for v in variables]
    grads = [tf.fill([2, 3], 0.5), tf.fill([3], -2.0)]
    built.apply_gradients(zip(grads, variables))
    lazy.apply_gradients(zip(grads, copies))
    for v, c in zip(variables, copies):
        np.testing.assert_array_equal(v.numpy(), c.numpy())
    # Checkpointed in the same order as lazily created slots.
    assert ([s.name for s in built.trainable_variables + built.variables]
            == [s.name for s in lazy.trainable_variables + lazy.variables])


def test_strategy_is_a_config_field_and_train_flag():
    args = cli_experiment.config_from_args(_parse(["--strategy", "mirrored"]))
    assert args.strategy == "mirrored"
    assert ExperimentConfig().strategy == "default"
    with pytest.raises(ValueError, match=r"`--strategy` must be one of .*'bogus'"):
        ExperimentConfig(strategy="bogus")


def test_multiworker_without_tf_config_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        distribute.make_strategy("multiworker")
    with pytest.raises(ValueError, match=r"`--strategy` must be one of"):
        distribute.make_strategy("tpu")


def test_batch_size_must_split_evenly_over_the_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    distribute.check_batch_size(TwoReplicas(), 32)
    with pytest.raises(ValueError, match=r"multiple of the 2 replicas.*received 33"):
        distribute.check_batch_size(TwoReplicas(), 33)


def _parse(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="lowlevel")
    cli_experiment.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["train", *argv])


def test_a_run_from_before_the_strategy_field_still_resumes(tmp_path):
    config = ExperimentConfig(out=str(tmp_path), resume=True)
    saved = dataclasses.asdict(config)
    del saved["strategy"]
    (tmp_path / "config.json").write_text(json.dumps({"config": saved}))
    experiment._check_resumable(config)  # no "changed --strategy None -> 'default'"
    with pytest.raises(ValueError, match=r"--strategy 'default' -> 'mirrored'"):
        experiment._check_resumable(dataclasses.replace(config, strategy="mirrored"))


def test_a_mirrored_run_resumed_after_an_epoch_ends_bit_identical(tmp_path):
    """Checkpoints hold the mirrored weights, slots and dropout generators (dropout on);
    in this process ``mirrored`` has one replica, the CPU."""
    tiny = dict(TINY, num_train=96, dropout=0.3, strategy="mirrored", epochs=2)
    whole = ExperimentConfig(**tiny, out=str(tmp_path / "whole"))
    experiment.train(whole, log=io.StringIO())
    parts = ExperimentConfig(**{**tiny, "epochs": 1}, out=str(tmp_path / "parts"))
    experiment.train(parts, log=io.StringIO())
    experiment.train(dataclasses.replace(parts, epochs=2, resume=True), log=io.StringIO())
    for a, b in zip(experiment.load_run(whole.out)[1].get_weights(),
                    experiment.load_run(parts.out)[1].get_weights()):
        np.testing.assert_array_equal(a, b)
