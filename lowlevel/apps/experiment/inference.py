"""``evaluate`` and ``predict``: a finished run's kept weights on the test set or on raw
review texts. The run is rebuilt from its ``config.json``; damaged files are errors
naming them, never a traceback."""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from lowlevel.apps.data import imdb, synthetic
from lowlevel.apps.experiment import rundir
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.apps.experiment.epochs import evaluate_arrays
from lowlevel.apps.experiment.pieces import build_model, load_splits, make_eval_fn


def load_run(run_dir):
    """``(config, model)`` of a finished run, the model holding the kept weights."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`--run`: {run_dir!r} holds no run (no config.json).")
    try:
        with open(path) as f:
            saved = json.load(f)
        config = ExperimentConfig.from_json(saved["config"])
        embedding_dim = int(saved["embedding_dim"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"`--run`: {path} is damaged ({type(error).__name__}: {error}).") \
            from None
    kept = os.path.join(run_dir, "kept", "weights")
    if not tf.io.gfile.exists(kept + ".index"):
        raise FileNotFoundError(f"`--run`: {run_dir!r} has no kept weights yet (the run did "
                                "not finish; resume it with `lowlevel train --resume`).")
    why = rundir.damage(kept)
    if why is not None:
        raise ValueError(f"`--run`: the kept weights {kept} are damaged ({why}).")
    model = build_model(config, embedding_dim=embedding_dim)
    tf.train.Checkpoint(model=model).read(kept).assert_existing_objects_matched()
    return config, model


def evaluate(run_dir, batch_size=None, quiet=True) -> dict:
    """The kept weights of ``run_dir`` on the test set: ``{'loss', 'accuracy', 'examples'}``.

    ``batch_size`` ``None``: the run's; ``quiet=False`` shows a per-batch progress bar.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`--batch-size` must be an integer >= 1; received {batch_size!r}.")
    config, model = load_run(run_dir)
    x, y = load_splits(config)["test"]
    result = evaluate_arrays(make_eval_fn(model, config.maxlen), x, y,
                             batch_size or config.batch_size, None if quiet else "test")
    return {**result, "examples": len(x)}


def encode(config, text, word_index=None) -> np.ndarray:
    """One review as a ``[maxlen]`` row of ids.

    IMDB: Keras's tokenisation and the word index (``imdb.encode_text``). Synthetic: the
    corpus has ids, not words, so ``text`` is whitespace-separated integer ids as the
    corpus writes them (``synthetic.lexicon(num_words)`` lists the polar ids); the start
    id 1 is prepended when absent.
    """
    if config.data == "imdb":
        return imdb.encode_text(text, word_index, config.num_words, config.maxlen)
    try:
        ids = [int(token) for token in text.split()]
    except ValueError:
        raise ValueError("a synthetic-corpus run has no words: pass whitespace-separated "
                         f"integer ids (e.g. '1 70 120'); received {text!r}.") from None
    bad = [i for i in ids if not 0 <= i < config.num_words]
    if bad:
        raise ValueError(f"ids must be in [0, {config.num_words}); received {bad[:5]}.")
    if not ids or ids[0] != synthetic.START_CHAR:
        ids = [synthetic.START_CHAR] + ids
    return imdb.pad([ids], config.maxlen)[0]


def known_words(config, text, word_index) -> tuple:
    """``(known, total)`` words of ``text`` that get their own id (not the oov id)."""
    if config.data != "imdb":
        return len(text.split()), len(text.split())  # ids: all known
    words = imdb.text_to_word_sequence(text)
    known = [w for w in words
             if w in word_index and word_index[w] + 3 < config.num_words]  # index_from 3
    return len(known), len(words)


def predict_with_coverage(run_dir, texts, word_index_path=None) -> list:
    """``[{'probability', 'known', 'words'}]`` per review under the kept weights:
    p(positive) and how many of its words the model has an id for."""
    config, model = load_run(run_dir)
    word_index = None
    if config.data == "imdb":
        word_index = imdb.get_word_index(word_index_path or config.word_index)
    rows = np.stack([encode(config, text, word_index) for text in texts])  # [n, maxlen]
    probabilities = model.probabilities(tf.constant(rows, tf.int32)).numpy()[:, 0]
    return [{"probability": float(p), **dict(zip(("known", "words"),
                                                 known_words(config, text, word_index)))}
            for p, text in zip(probabilities, texts)]


def predict(run_dir, texts, word_index_path=None) -> list:
    """p(positive) of each review in ``texts`` under the kept weights of ``run_dir``."""
    return [r["probability"] for r in predict_with_coverage(run_dir, texts, word_index_path)]
