"""The experiment driver: outputs, best-epoch keeping, exact resume, NaN stop, evaluate, predict.

Every run is tiny (synthetic corpus, 500 words, reviews of 12 ids, 4 units) so the file
stays well under a minute on a shared CPU.
"""

import csv
import dataclasses
import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.data import glove, imdb
from lowlevel.apps.experiment.run import NonFiniteError
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.apps.experiment.records import EPOCH_FIELDS

TINY = dict(data="synthetic", num_train=200, num_test=64, num_words=500, maxlen=12,
            units=4, embedding_dim=4, batch_size=16, epochs=3, seed=3)


def tiny(tmp_path, name="run", **changes):
    return ExperimentConfig(**{**TINY, "out": str(tmp_path / name), **changes})


def checkpoint_tensors(prefix, skip=("history",)):
    """``{name: array}`` of every tensor in a checkpoint (the history holds wall times)."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not any(s in name for s in skip)}


def assert_same_tensors(a, b):
    assert sorted(a) == sorted(b)
    different = [name for name in a if not np.array_equal(a[name], b[name])]
    assert not different, f"tensors differ: {different}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One tiny finished run, cell style, keeping the best epoch."""
    config = tiny(tmp_path_factory.mktemp("experiment"), checkpoint_every=4)
    return config, experiment.train(config)


# ------------------------------------------------------------------------- outputs

def test_run_writes_metrics_json_csv_png_tensorboard_and_checkpoints(finished_run):
    config, metrics = finished_run
    out = config.out
    with open(os.path.join(out, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    assert saved["config"] == config.to_json()
    assert ExperimentConfig.from_json(saved["config"]) == config
    assert [row["epoch"] for row in saved["epochs"]] == [1, 2, 3]
    for row in saved["epochs"]:
        assert set(EPOCH_FIELDS) <= set(row)
        assert 0 <= row["val_accuracy"] <= 1 and row["global_norm_mean"] > 0
        assert row["clipped_fraction"] == 0  # --clip none
    assert 0 <= saved["test_accuracy"] <= 1 and saved["test_loss"] > 0
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[1]["val_loss"]) == pytest.approx(saved["epochs"][1]["val_loss"])
    with open(os.path.join(out, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    tags = set()
    for name in os.listdir(os.path.join(out, "tensorboard")):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(out, "tensorboard", name)):
            tags |= {value.tag for value in event.summary.value}
    assert {"train/loss", "train/accuracy", "train/global_norm", "epoch/val_accuracy"} <= tags
    assert {"grad/embedding", "grad/rnn0", "grad/rnn1", "grad/head", "grad/out"} <= tags
    # 180 training rows / 16 = 11 steps per epoch; every 4 steps and every epoch end.
    latest = tf.train.latest_checkpoint(os.path.join(out, "checkpoints"))
    assert latest.endswith("ckpt-33")
    assert os.path.isfile(os.path.join(out, "kept", "weights.index"))


def test_gradients_csv_logs_every_step_with_per_layer_norms_that_make_the_global_norm(
        finished_run):
    config, metrics = finished_run
    with open(os.path.join(config.out, "gradients.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 34))  # 3 epochs x 11 steps
    layers = ["embedding", "rnn0", "rnn1", "head", "out"]
    assert list(rows[0]) == ["step", "loss", "global_norm", "clipped"] + [
        f"norm/{layer}" for layer in layers]
    for row in rows:
        # ‖g‖² over all variables = Σ over layers of each layer's ‖g‖².
        by_layers = np.sqrt(sum(float(row[f"norm/{layer}"]) ** 2 for layer in layers))
        assert by_layers == pytest.approx(float(row["global_norm"]), rel=1e-5)
        assert all(float(row[f"norm/{layer}"]) > 0 for layer in layers)
    for epoch, summary in enumerate(metrics["epochs"]):
        norms = [float(r["global_norm"]) for r in rows[11 * epoch:11 * (epoch + 1)]]
        assert np.mean(norms) == pytest.approx(summary["global_norm_mean"], rel=1e-6)


def test_kept_weights_are_the_best_validation_epochs(finished_run):
    config, metrics = finished_run
    accuracies = [row["val_accuracy"] for row in metrics["epochs"]]
    assert metrics["best_epoch"] == 1 + int(np.argmax(accuracies))  # first of equals
    assert metrics["kept_epoch"] == metrics["best_epoch"]
    best = checkpoint_tensors(os.path.join(config.out, "best", "weights"))
    kept = checkpoint_tensors(os.path.join(config.out, "kept", "weights"))
    assert_same_tensors(best, kept)


def test_evaluate_reproduces_the_test_metrics_of_the_run(finished_run):
    config, metrics = finished_run
    result = experiment.evaluate(config.out)
    assert result["examples"] == config.num_test
    assert result["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    assert result["loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)


def test_predict_on_synthetic_ids_gives_probabilities(finished_run):
    config, _ = finished_run
    probabilities = experiment.predict(config.out, ["1 70 75 80", "70 75"])
    assert len(probabilities) == 2 and all(0 < p < 1 for p in probabilities)
    # The start id is prepended when absent: both spellings are the same review.
    assert experiment.predict(config.out, ["1 70 75"]) == experiment.predict(config.out, ["70 75"])
    with pytest.raises(ValueError, match="integer ids"):
        experiment.predict(config.out, ["this movie was wonderful"])


# ----------------------------------------------------------------- resume, NaN stop

class Kill(Exception):
    pass


def kill_after(step_to_die):
    def hook(step, metrics, model):
        if step == step_to_die:
            raise Kill(step)
    return hook


def test_resume_after_a_kill_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    # Killed one step past the checkpoint at step 12, in epoch 2 (11 steps per epoch):
    # step 13 is redone. A real SIGKILL of a subprocess:
    # tests/apps/experiment/test_cli_experiment.py.
    common = dict(cell="lstm", epochs=2, keep="last", checkpoint_every=4)
    whole = tiny(tmp_path, "whole", **common)
    experiment.train(whole)
    broken = tiny(tmp_path, "broken", **common)
    with pytest.raises(Kill):
        experiment.train(broken, on_step=kill_after(13))
    resumed = experiment.train(dataclasses.replace(broken, resume=True))
    final = {c.out: tf.train.latest_checkpoint(os.path.join(c.out, "checkpoints"))
             for c in (whole, broken)}
    # Model, optimiser slots, dropout generators, counters: all equal, bit for bit.
    assert_same_tensors(checkpoint_tensors(final[whole.out]), checkpoint_tensors(final[broken.out]))
    with open(os.path.join(whole.out, "metrics.json")) as f:
        expected = json.load(f)
    for a, b in zip(expected["epochs"], resumed["epochs"]):
        assert {k: v for k, v in a.items() if k != "seconds"} == \
               {k: v for k, v in b.items() if k != "seconds"}
    assert expected["test_accuracy"] == resumed["test_accuracy"]
    # The per-step gradient log holds each step once, as the uninterrupted run's does.
    logs = []
    for config in (whole, broken):
        with open(os.path.join(config.out, "gradients.csv")) as f:
            logs.append(list(csv.DictReader(f)))
    assert logs[0] == logs[1] and len(logs[0]) == 22
    # keep='last': the kept weights are the final checkpoint's.
    assert resumed["kept_epoch"] == 2
    _, kept = experiment.load_run(broken.out)
    last = experiment.build_model(broken)
    tf.train.Checkpoint(model=last).read(final[broken.out]).expect_partial()
    for a, b in zip(kept.weights, last.weights):
        assert np.array_equal(a.numpy(), b.numpy())


def test_nan_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny(tmp_path, checkpoint_every=2)

    def poison(step, metrics, model):
        if step == 3:  # after step 3 (not checkpointed): step 4 sees NaN weights
            model.out.kernel.assign(tf.fill(model.out.kernel.shape, np.nan))

    with pytest.raises(NonFiniteError, match=r"step 4 \(epoch 1, batch 4\).*loss nan"):
        experiment.train(config, on_step=poison)
    latest = tf.train.latest_checkpoint(os.path.join(config.out, "checkpoints"))
    assert latest.endswith("ckpt-2")
    tensors = checkpoint_tensors(latest)
    assert all(np.all(np.isfinite(v)) for v in tensors.values()
               if isinstance(v, np.ndarray) and v.dtype.kind == "f")


def test_huge_learning_rate_stops_on_a_non_finite_loss_or_gradient(tmp_path):
    config = tiny(tmp_path, optimizer="sgd", lr=3e38, epochs=1)  # overflows: see
    # test_run_directory_safety.py::test_a_diverging_run_never_saves_a_non_finite_checkpoint
    with pytest.raises(NonFiniteError, match=r"non-finite training at step \d+"):
        experiment.train(config)


def test_a_run_directory_is_not_overwritten_and_resume_keeps_its_settings(finished_run):
    config, _ = finished_run
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        experiment.train(config)
    with pytest.raises(ValueError, match=r"--units 4 -> 8"):
        experiment.train(dataclasses.replace(config, resume=True, units=8))


# ------------------------------------------------------------------- data and config

def test_epoch_order_is_a_function_of_seed_and_epoch():
    assert np.array_equal(experiment.epoch_order(3, 1, 50), experiment.epoch_order(3, 1, 50))
    assert not np.array_equal(experiment.epoch_order(3, 1, 50), experiment.epoch_order(3, 2, 50))
    assert not np.array_equal(experiment.epoch_order(3, 1, 50), experiment.epoch_order(4, 1, 50))


def test_validation_split_is_carved_from_the_training_set(tmp_path):
    splits = experiment.load_splits(tiny(tmp_path, val_split=0.25))
    assert len(splits["val"][0]) == 50 and len(splits["train"][0]) == 150
    assert len(splits["test"][0]) == 64
    rows = {r.tobytes() for r in splits["train"][0]}
    assert not any(r.tobytes() in rows for r in splits["val"][0])


@pytest.mark.parametrize("changes, message", [
    (dict(clip="sideways:1"), r"`--clip` must be 'none' or MODE:THRESHOLD.*'sideways:1'"),
    (dict(clip="global_norm:-1"), r"`--clip`.*'global_norm:-1'"),
    (dict(val_split=1.5), r"`--val-split` must be a number in \[0, 1\); received 1.5"),
    (dict(val_split=0.0), r"`--keep best` needs a validation set"),
    (dict(cell="tree"), r"`--cell` must be one of \['simple', 'lstm', 'gru'\]; received 'tree'"),
    (dict(epochs=0), r"`--epochs` must be an integer in \[1, 1000000\]; received 0"),
    (dict(lr=float("nan")), r"`--lr` must be a finite number > 0"),
    (dict(glove="g.txt", data="synthetic"), r"`--glove` needs `--data imdb`"),
    (dict(implementation="cudnn"), r"`--implementation` must be one of \['reference', "),
    (dict(implementation="bptt"), r"`--implementation bptt` differentiates one cell by "
                                  r"hand and cannot run `--style cell`.*`--style layer`"),
])
def test_bad_settings_name_the_flag_and_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(**changes)


def test_missing_files_name_the_flag(tmp_path):
    config = ExperimentConfig(imdb_path=str(tmp_path / "absent.npz"), out=str(tmp_path / "run"))
    with pytest.raises(FileNotFoundError, match=r"`--imdb-path`: no file at .*absent.npz"):
        experiment.train(config)


def test_evaluate_and_predict_on_a_directory_without_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no run"):
        experiment.evaluate(str(tmp_path))


# -------------------------------------------------------- IMDB layout, GloVe, words

WORDS = ["the", "movie", "was", "wonderful", "awful", "great", "bad", "plot", "it's", "and"]


@pytest.fixture
def tiny_imdb(tmp_path, rng=np.random.default_rng(0)):
    """A Keras-layout imdb.npz of random rank lists, its word index and a GloVe file."""
    def reviews(n):
        out = np.empty(n, dtype=object)
        out[:] = [[int(r) for r in rng.integers(1, len(WORDS) + 1, size=rng.integers(3, 15))]
                  for _ in range(n)]
        return out
    np.savez(tmp_path / "imdb.npz", x_train=reviews(80), y_train=rng.integers(0, 2, 80),
             x_test=reviews(20), y_test=rng.integers(0, 2, 20), allow_pickle=True)
    with open(tmp_path / "word_index.json", "w") as f:
        json.dump({w: i + 1 for i, w in enumerate(WORDS)}, f)
    with gzip.open(tmp_path / "glove.txt.gz", "wt") as f:
        for w in WORDS[:7]:  # "plot", "it's", "and" have no vector
            f.write(w + " " + " ".join(f"{v:.3f}" for v in rng.normal(size=6)) + "\n")
    return tmp_path


def test_imdb_run_with_frozen_scaled_glove_then_predict_from_words(tiny_imdb, capsys):
    config = ExperimentConfig(
        data="imdb", imdb_path=str(tiny_imdb / "imdb.npz"),
        word_index=str(tiny_imdb / "word_index.json"), glove=str(tiny_imdb / "glove.txt.gz"),
        glove_scale=0.5, freeze_embedding=True, num_words=20, maxlen=10, units=4,
        batch_size=16, epochs=1, style="layer", out=str(tiny_imdb / "run"))
    experiment.train(config)
    assert ("7/10 vocabulary words found (70.0%), dim 6, scaled by 0.5"
            in capsys.readouterr().err)
    with open(tiny_imdb / "run" / "config.json") as f:
        assert json.load(f)["embedding_dim"] == 6  # the GloVe file's, not --embedding-dim
    kept = checkpoint_tensors(str(tiny_imdb / "run" / "kept" / "weights"))
    embedding = next(v for k, v in kept.items() if "embeddings" in k)
    vectors, _ = glove.load(config.glove, imdb.get_word_index(config.word_index), 20)
    assert np.any(vectors[3 + 1] != 0)
    np.testing.assert_array_equal(embedding, 0.5 * vectors)  # frozen, scaled GloVe rows
    [p] = experiment.predict(config.out, ["The movie was WONDERFUL!"])
    assert 0 < p < 1
    row = experiment.encode(config, "The movie was WONDERFUL!",
                            {w: i + 1 for i, w in enumerate(WORDS)})
    assert list(row[-5:]) == [1, 4, 5, 6, 7]  # start, then rank + 3
