"""``lowlevel export``: a trained run as a SavedModel that serves without lowlevel.

A tiny synthetic run is trained with ``python -m lowlevel train``, exported, and loaded
in a fresh Python process that never imports lowlevel; its two signatures must give the
probabilities ``python -m lowlevel predict`` prints and the model computes. The
TensorFlow Lite conversion of ``serving_default`` must agree to the float32 tolerance.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.apps import export
from lowlevel.apps.experiment import run as experiment
from lowlevel.tolerances import assert_close

TINY = ["--data", "synthetic", "--num-train", "200", "--num-test", "64", "--num-words", "500",
        "--maxlen", "12", "--units", "4", "--embedding-dim", "4", "--batch-size", "16",
        "--seed", "5", "--epochs", "1", "--cell", "gru", "--optimizer", "adam", "--lr", "0.02"]
TEXTS = ["1 70 120 170", "95 145 195", "7 8 9 10 11 12 13 14 15 16 17 18 19 20", "1"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lowlevel_cli(*argv):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "lowlevel", *argv], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def export_cli(*argv):
    parser = argparse.ArgumentParser(prog="lowlevel")
    export.add_parser(parser.add_subparsers(dest="command", required=True))
    return export.run(parser.parse_args(["export", *argv]))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run_dir, out_dir = str(root / "run"), str(root / "saved")
    lowlevel_cli("train", *TINY, "--out", run_dir)
    assert export_cli("--run", run_dir, "--out", out_dir) == 0
    return run_dir, out_dir


def ids_of(run_dir):
    config, _ = experiment.load_run(run_dir)
    return np.stack([experiment.encode(config, t) for t in TEXTS]).astype(np.int32)


def test_fresh_process_without_lowlevel_serves_what_lowlevel_predict_prints(exported):
    run_dir, out_dir = exported
    ids = ids_of(run_dir)
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        loaded = tf.saved_model.load({out_dir!r})
        by_ids = loaded.signatures["serving_default"](ids=tf.constant({ids.tolist()!r}, tf.int32))
        by_text = loaded.signatures["serving_text"](text=tf.constant({TEXTS!r}))
        assert "lowlevel" not in sys.modules and "lowlevel_reference" not in sys.modules
        print(json.dumps({{"ids": by_ids["probability"].numpy()[:, 0].tolist(),
                          "text": by_text["probability"].numpy()[:, 0].tolist(),
                          "modules": sorted(m for m in sys.modules if m.startswith("lowlevel"))}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["modules"] == []

    expected = experiment.predict(run_dir, TEXTS)  # the model's own probabilities
    assert_close(np.array(served["ids"]), np.array(expected), "float32", "serving_default")
    assert_close(np.array(served["text"]), np.array(expected), "float32", "serving_text")
    printed = [float(line.split("\t")[1])  # label, probability, text
               for line in lowlevel_cli("predict", "--run", run_dir, *TEXTS).splitlines()]
    np.testing.assert_allclose(served["text"], printed, atol=5e-5)  # predict prints 4 decimals


def test_tflite_conversion_of_serving_default_predicts_within_float32_tolerance(exported):
    run_dir, out_dir = exported
    converter = tf.lite.TFLiteConverter.from_saved_model(out_dir,
                                                         signature_keys=["serving_default"])
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    predicted = interpreter.get_signature_runner("serving_default")(ids=ids_of(run_dir))
    assert_close(predicted["probability"][:, 0], np.array(experiment.predict(run_dir, TEXTS)),
                 "float32", "TensorFlow Lite")


def test_pad_front_keeps_the_last_maxlen_ids_with_zeros_in_front_as_pad_sequences():
    from lowlevel.apps.data import imdb

    rows = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11], []]
    got = export.pad_front(tf.ragged.constant(rows, tf.int32, inner_shape=None), 5).numpy()
    np.testing.assert_array_equal(got, imdb.pad(rows, 5))


def test_word_text_encoder_encodes_as_imdb_encode_text():
    from lowlevel.apps.data import imdb

    word_index = {"movie": 1, "great": 2, "it's": 5, "rare": 600, "the": 3}
    texts = ["The movie was GREAT!", "it's rare<br />movie...", "a b c d e f g h movie", ""]
    got = export.WordTextEncoder(word_index, num_words=500, maxlen=6)(tf.constant(texts))
    np.testing.assert_array_equal(
        got.numpy(), np.stack([imdb.encode_text(t, word_index, 500, 6) for t in texts]))


def test_export_refuses_an_existing_out_dir_and_a_dir_without_a_run(exported, tmp_path, capsys):
    run_dir, out_dir = exported
    assert export_cli("--run", run_dir, "--out", out_dir) == 2
    assert capsys.readouterr().err.strip() == (
        f"lowlevel export: error: `--out`: {out_dir!r} exists; give a new directory.")
    assert export_cli("--run", str(tmp_path), "--out", str(tmp_path / "x")) == 2
    assert "holds no run (no config.json)" in capsys.readouterr().err
