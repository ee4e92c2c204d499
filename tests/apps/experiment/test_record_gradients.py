"""``lowlevel train --record-gradients N``: ``gradients_record.npz`` holds, per recurrent
layer, ``[checkpoint, time]`` and ``[checkpoint, unit]`` arrays at step 0 and every N
steps, for both styles and the three cells; a resumed run keeps the earlier rows once;
a bad value is one line naming the flag. (The recorder's numbers are checked against
a tape in tests/gradients/test_gradient_record.py; mirrored and multiworker runs record
what a single-device run records in tests/training/test_distribute.py.)"""

import dataclasses
import io
import os

import numpy as np
import pytest
import tensorflow as tf

from lowlevel import kinds
from lowlevel.apps import cli
from lowlevel.apps.experiment import recording
from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.tolerances import assert_close

# 48 training reviews in batches of 16: 3 steps per epoch. Dropout on: recording must
# not draw from the dropout generators.
TINY = dict(data="synthetic", num_train=64, num_test=16, num_words=500, maxlen=7, units=3,
            embedding_dim=4, batch_size=16, val_split=0.25, epochs=1, seed=2, dropout=0.2)
PER_TIME = ("grad_h", "grad_c", "grad_state", "jacobian_norm")
PER_CHECKPOINT = ("grad_ratio", "saturated_fraction", "forget_mean", "forget_open_fraction",
                  "update_mean")


def _train(tmp_path, name="run", on_step=None, **changes):
    config = ExperimentConfig(**{**TINY, "out": str(tmp_path / name), **changes})
    experiment.train(config, log=io.StringIO(), quiet=True, on_step=on_step)
    return config


def _saved(config):
    with np.load(os.path.join(config.out, recording.FILE), allow_pickle=False) as saved:
        return {key: saved[key] for key in saved.files}


@pytest.mark.parametrize("style", ["cell", "layer"])
@pytest.mark.parametrize("cell", kinds.NAMES)
def test_the_record_has_every_layer_at_step_0_and_every_n_steps(tmp_path, cell, style):
    config = _train(tmp_path, cell=cell, style=style, record_gradients=2, epochs=2)
    saved = _saved(config)
    kind, units = kinds.kind(cell), TINY["units"]
    for layer in ("rnn0", "rnn1"):  # the default two layers
        checkpoints = 4  # steps 0, 2, 4, 6 of 2 epochs x 3 steps
        np.testing.assert_array_equal(saved[f"{layer}/step"], [0, 2, 4, 6])
        for name in PER_TIME:
            assert saved[f"{layer}/{name}"].shape == (checkpoints, TINY["maxlen"]), name
        assert saved[f"{layer}/jacobian_singular_values"].shape == (checkpoints,
                                                                   units * kind.states)
        for name in ("spectral_radius", "sigma_max"):
            assert saved[f"{layer}/{name}"].shape == (checkpoints, kind.gates)
        assert len(saved[f"{layer}/gates"]) == kind.gates
        for name in PER_CHECKPOINT:
            assert saved[f"{layer}/{name}"].shape == (checkpoints,)
        assert np.all(np.isfinite(saved[f"{layer}/grad_h"]))
        assert np.all(saved[f"{layer}/grad_h"] > 0)
        assert np.isnan(saved[f"{layer}/grad_c"]).all() == (cell != "lstm")
        assert np.isnan(saved[f"{layer}/forget_mean"]).all() == (cell != "lstm")
        assert np.isnan(saved[f"{layer}/update_mean"]).all() == (cell != "gru")
    summaries = tf.compat.v1.train.summary_iterator  # the run's TensorBoard scalars
    events = os.listdir(os.path.join(config.out, "tensorboard"))
    tags = {v.tag for e in events for event in summaries(
        os.path.join(config.out, "tensorboard", e)) for v in event.summary.value}
    assert {"record/rnn0/grad_ratio", "record/rnn1/grad_ratio",
            f"record/rnn0/spectral_radius/{saved['rnn0/gates'][0]}",
            f"record/rnn1/sigma_max/{saved['rnn1/gates'][-1]}"} <= tags


class Kill(Exception):
    pass


def _kill_at(step_to_die):
    def hook(step, metrics, model):
        if step == step_to_die:
            raise Kill(step)
    return hook


def test_a_resumed_run_keeps_the_earlier_rows_once_and_ends_as_an_uninterrupted_one(
        tmp_path):
    # Killed at step 5, after its row was written and one step past the checkpoint at 4:
    # the resume restarts from step 4, drops the row of step 5 and records it again.
    common = dict(cell="lstm", style="layer", epochs=3, checkpoint_every=2,
                  record_gradients=1)
    whole = _train(tmp_path, "whole", **common)
    with pytest.raises(Kill):
        _train(tmp_path, "broken", on_step=_kill_at(5), **common)
    broken = ExperimentConfig(**{**TINY, **common, "out": str(tmp_path / "broken")})
    np.testing.assert_array_equal(_saved(broken)["rnn0/step"], [0, 1, 2, 3, 4, 5])
    experiment.train(dataclasses.replace(broken, resume=True), log=io.StringIO(), quiet=True)
    expected, resumed = _saved(whole), _saved(broken)
    np.testing.assert_array_equal(resumed["rnn0/step"], np.arange(10))
    assert sorted(expected) == sorted(resumed)
    for key in expected:
        np.testing.assert_array_equal(resumed[key], expected[key], err_msg=key)


def test_the_probe_loss_is_the_classifiers_own(tmp_path):
    """``logits_of_encoding`` is the head of ``SentimentClassifier``, for either style."""
    for style in ("cell", "layer"):
        config = ExperimentConfig(**{**TINY, "style": style, "out": str(tmp_path)})
        model = experiment.build_model(config)
        ids = tf.constant(np.random.default_rng(0).integers(0, 500, (5, 7)), tf.int32)
        np.testing.assert_array_equal(
            recording.logits_of_encoding(model, model.encode(ids)).numpy(), model(ids).numpy())
        # The cell style's cells, run as sequence layers, give the encoding.
        x = model.embedding(ids)
        for layer in recording.sequence_layers(model):
            x = layer(x)
        assert_close(x, model.encode(ids), "float32")


def test_a_bad_value_is_one_line_naming_the_flag(tmp_path, capfd):
    out = str(tmp_path / "run")
    assert cli.main(["train", "--data", "synthetic", "--record-gradients", "-1",
                     "--out", out]) == 2
    assert capfd.readouterr().err.strip().splitlines() == [
        "lowlevel train: error: `--record-gradients` must be an integer in [0, 1000000000]; "
        "received -1."]
    with pytest.raises(SystemExit) as exit:
        cli.main(["train", "--record-gradients", "often", "--out", out])
    assert exit.value.code == 2
    assert capfd.readouterr().err.strip().splitlines() == [
        "lowlevel train: error: argument --record-gradients: invalid int value: 'often'"]
    assert not os.path.exists(out)
