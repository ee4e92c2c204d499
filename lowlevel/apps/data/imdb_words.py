"""The IMDB word index and the text <-> ids conversions of the tutorial.

Ids follow :mod:`lowlevel.apps.data.imdb`'s convention: ``id = rank + index_from``, with
``0 <PAD>, 1 <START>, 2 <UNK>, 3 <UNUSED>`` reserved.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from lowlevel.apps.data._arguments import int_at_least
from lowlevel.apps.data.imdb_checks import check_word_index
from lowlevel.apps.data.keras_conventions import keras_cache_path, pad

# Keras's ``text_to_word_sequence`` default filters (keras/src/legacy/preprocessing/text.py),
# the tokenisation the IMDB word index was built with. The apostrophe is kept: "it's".
KERAS_TEXT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
RESERVED_TOKENS = {0: "<PAD>", 1: "<START>", 2: "<UNK>", 3: "<UNUSED>"}  # the tutorial's
_OFFLINE_WORDS_HINT = (
    "Download imdb_word_index.json once (e.g. from "
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/) and pass its location "
    "with `path=` (command line: `--word-index`)."
)


def get_word_index(path=None) -> dict:
    """The IMDB word index ``{word: rank}`` (rank 1 = most frequent), from a json file.

    ``path=None``: Keras's cache file ``keras_cache_path('imdb_word_index.json')`` if
    present, else ``keras.datasets.imdb.get_word_index()`` (download; an offline failure
    raises RuntimeError saying how to pass a file).
    """
    if path is None:
        cached = keras_cache_path("imdb_word_index.json")
        if not os.path.isfile(cached):
            try:
                return keras.datasets.imdb.get_word_index()
            except Exception as error:  # bare Exception on URL failures
                raise RuntimeError(
                    f"No local IMDB word index ({cached} is absent) and Keras could not "
                    f"download it ({type(error).__name__}: {error}). {_OFFLINE_WORDS_HINT}"
                ) from error
        path = cached
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IMDB word index not found: {path!r}. {_OFFLINE_WORDS_HINT}")
    try:
        with open(path, encoding="utf-8") as f:
            word_index = json.load(f)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: expected UTF-8 json; byte {error.start} is not UTF-8."
                         ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}:{error.colno}: expected a json object "
                         f"{{word: rank}}; {error.msg}.") from None
    check_word_index(word_index, path)
    return word_index


def reverse_word_index(word_index: dict, index_from: int = 3) -> dict:
    """``{id: word}`` with ``id = rank + index_from``, plus the tutorial's reserved ids
    ``0 <PAD>, 1 <START>, 2 <UNK>, 3 <UNUSED>`` (reserved names win over words)."""
    reverse = {rank + index_from: word for word, rank in word_index.items()}
    reverse.update(RESERVED_TOKENS)
    return reverse


def decode_review(ids, word_index: dict, index_from: int = 3, skip_padding: bool = False) -> str:
    """Ids back to text, as the tutorial's ``decode_review``; unknown ids print as ``?``.

    ``skip_padding=True`` drops the ``<PAD>`` (id 0) tokens of a padded row.
    """
    reverse = reverse_word_index(word_index, index_from)
    return " ".join(reverse.get(int(i), "?") for i in ids if not (skip_padding and int(i) == 0))


def text_to_word_sequence(text: str) -> list:
    """Keras's default tokenisation: lowercase, ``KERAS_TEXT_FILTERS`` -> space, split.

    ``"<br />It's GREAT!"`` -> ``["br", "it's", "great"]``.
    """
    table = str.maketrans({c: " " for c in KERAS_TEXT_FILTERS})
    return text.lower().translate(table).split()


def encode_text(text: str, word_index: dict, num_words=10000, maxlen=80, index_from=3,
                start_char=1, oov_char=2) -> np.ndarray:
    """Raw review text to one padded row like those of ``load``: ``[maxlen]`` int32.

    ``[start_char] + [rank + index_from if known and < num_words else oov_char]``, then
    padded/truncated ``'pre'`` (keeps the end). Stack rows for a batch ``[batch, maxlen]``.
    """
    num_words = int_at_least(num_words, "num_words", index_from + 1)
    ids = [start_char]
    for word in text_to_word_sequence(text):
        rank = word_index.get(word)
        word_id = None if rank is None else rank + index_from
        ids.append(word_id if word_id is not None and word_id < num_words else oov_char)
    return pad([ids], maxlen)[0]
