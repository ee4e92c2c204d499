"""IMDB sentiment data exactly as the Keras tutorial sees it.

The word index and the text conversions (:mod:`lowlevel.apps.data.imdb_words`) and the
``tf.data`` pipelines (:mod:`lowlevel.apps.data.pipelines`) are importable from here too.

``load`` equals ``keras.datasets.imdb.load_data(num_words=...)`` followed by
``keras.utils.pad_sequences(x, maxlen=80)`` (pad and truncate ``'pre'``: long reviews keep
their END). Keras verifies the hash of its own cached file, so a local copy with other
bytes is read here and Keras's transforms are reproduced from the npz.

File layout (Keras's ``imdb.npz``): ``x_train``, ``x_test`` are object arrays of Python
int lists of raw word ranks (1 = most frequent word, no start character, no offset);
``y_train``, ``y_test`` are integer labels (1 = positive).

Id convention of every review returned (``index_from = 3``)::

    0 = padding, 1 = start_char, 2 = oov_char, 3 = unused (rank 0 does not exist),
    id = rank + index_from for a word kept, i.e. rank < num_words - index_from.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from lowlevel.apps.data import safe_npz
from lowlevel.apps.data._arguments import int_at_least as _int_at_least
from lowlevel.apps.data.imdb_checks import (check_labels, check_reviews,  # noqa: F401
                                            check_word_index)
from lowlevel.apps.data.keras_conventions import keras_cache_path, pad  # noqa: F401
# The word index and the text conversions, and the tf.data pipelines, also read from here.
from lowlevel.apps.data.imdb_words import (KERAS_TEXT_FILTERS, RESERVED_TOKENS,  # noqa: F401
                                           decode_review, encode_text, get_word_index,
                                           reverse_word_index, text_to_word_sequence)
from lowlevel.apps.data.pipelines import make_datasets  # noqa: F401

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_OFFLINE_HINT = (
    "Download imdb.npz once (e.g. from "
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/) and pass its location "
    "with `path=` (command line: `--imdb-path`)."
)


# ------------------------------------------------------------------------ files

def read_npz(path) -> tuple:
    """``(x_train, y_train, x_test, y_test)`` raw from a Keras-layout npz, validated.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not an npz, a pickle asking for more than NumPy arrays (never run;
            :mod:`lowlevel.apps.data.safe_npz`), a key of ``NPZ_KEYS`` missing, reviews that
            are not int lists of ranks >= 0, labels other than 0/1, or reviews and labels
            of a split of different lengths -- naming the file and the position.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IMDB file not found: {path!r}. {_OFFLINE_HINT}")
    arrays = safe_npz.load_npz(path)  # never runs code from the file
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{path}: missing key(s) {missing}; expected keys {list(NPZ_KEYS)} "
            f"(Keras's imdb.npz layout); received {sorted(arrays)}."
        )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        check_reviews(x, path, f"x_{split}")
        check_labels(y, path, f"y_{split}")
        if len(x) != len(y):
            raise ValueError(
                f"{path}: `x_{split}` has {len(x)} reviews but `y_{split}` has "
                f"{len(y)} labels; expected equal lengths."
            )
    return tuple(arrays[key] for key in NPZ_KEYS)


# ------------------------------------------------------------ Keras's transforms

def shuffle_splits(x_train, y_train, x_test, y_test, seed: int = 113):
    """Keras's shuffle: ONE ``RandomState(seed)`` permutes train, then (continuing) test.

    Each split's reviews and labels get the same permutation.
    """
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, y_train = x_train[indices], y_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    return x_train, y_train, x_test[indices], y_test[indices]


def offset_ids(reviews, start_char=1, index_from: int = 3) -> list:
    """``[start_char] + [rank + index_from for rank in review]`` (no start if ``None``)."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in review] for review in reviews]


def replace_rare(reviews, num_words: int, skip_top: int = 0, oov_char=2) -> list:
    """Ids outside ``[skip_top, num_words)`` become ``oov_char`` (dropped if ``None``).

    As in Keras the test applies to every id, start character included (so a
    ``skip_top > start_char`` also replaces the start character).
    """
    if oov_char is None:
        return [[w for w in review if skip_top <= w < num_words] for review in reviews]
    return [[w if skip_top <= w < num_words else oov_char for w in review] for review in reviews]


def transform(x_train, y_train, x_test, y_test, num_words=10000, skip_top=0, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Keras's ``imdb.load_data`` transforms on raw splits; reviews stay unpadded lists.

    Shuffle (``shuffle_splits``), offset (``offset_ids``), then replace rare ids
    (``replace_rare``). ``num_words=None`` follows Keras: the largest id present becomes
    the limit, so (a Keras quirk, kept for equality) that one id is also replaced.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: lists of int lists, int labels.
    """
    x_train, y_train, x_test, y_test = shuffle_splits(x_train, y_train, x_test, y_test, seed)
    x_train = offset_ids(x_train, start_char, index_from)
    x_test = offset_ids(x_test, start_char, index_from)
    if num_words is None:
        num_words = max(max(x) for x in x_train + x_test if x)
    x_train = replace_rare(x_train, num_words, skip_top, oov_char)
    x_test = replace_rare(x_test, num_words, skip_top, oov_char)
    return (x_train, y_train), (x_test, y_test)


def _download_with_keras(**kwargs):
    """The network path: Keras downloads, checks the hash, caches and transforms."""
    try:
        return keras.datasets.imdb.load_data(**kwargs)
    except Exception as error:  # Keras raises a bare Exception on URL failures
        raise RuntimeError(
            f"No local IMDB file ({keras_cache_path('imdb.npz')} is absent) and Keras "
            f"could not download it ({type(error).__name__}: {error}). {_OFFLINE_HINT}"
        ) from error


def load(num_words=10000, maxlen=80, path=None, skip_top=0, seed=113, start_char=1,
         oov_char=2, index_from=3):
    """IMDB as ``keras.datasets.imdb.load_data(num_words=...)`` + ``pad_sequences(maxlen)``.

    Args:
        num_words: keep ids ``< num_words`` (i.e. ranks ``< num_words - index_from``),
            others become ``oov_char``; must exceed ``index_from``. ``None``: Keras's rule.
        maxlen: columns of the output; ``None`` pads to the longest review.
        path: a Keras-layout ``imdb.npz``. ``None``: Keras's cache file
            (``keras_cache_path('imdb.npz')``) if present, else Keras's download.
        skip_top, seed, start_char, oov_char, index_from: as in Keras.

    Returns:
        ``(x_train [n_train, maxlen] int32, y_train [n_train] int32),
        (x_test [n_test, maxlen] int32, y_test [n_test] int32)``.

    Raises:
        ValueError: bad arguments, or a malformed file (naming it).
        RuntimeError: no ``path``, no cached file, and the download failed (offline).
    """
    index_from = _int_at_least(index_from, "index_from", 0)
    if num_words is not None:
        num_words = _int_at_least(num_words, "num_words", index_from + 1)
    if maxlen is not None:
        maxlen = _int_at_least(maxlen, "maxlen", 1)
    skip_top = _int_at_least(skip_top, "skip_top", 0)
    options = dict(num_words=num_words, skip_top=skip_top, seed=seed, start_char=start_char,
                   oov_char=oov_char, index_from=index_from)
    if path is None and not os.path.isfile(keras_cache_path("imdb.npz")):
        (x_train, y_train), (x_test, y_test) = _download_with_keras(**options)
    else:
        raw = read_npz(keras_cache_path("imdb.npz") if path is None else path)
        (x_train, y_train), (x_test, y_test) = transform(*raw, **options)
    return ((pad(x_train, maxlen), np.asarray(y_train, dtype=np.int32)),
            (pad(x_test, maxlen), np.asarray(y_test, dtype=np.int32)))
