"""What a valid IMDB file holds, checked before anything trains on it.

Reviews: int lists of word ranks ``>= 0`` (or an integer matrix); labels: 0 or 1; a word
index: a non-empty ``{word: rank >= 1}``. Each failure is a ValueError naming the file,
the key or entry, and the value received -- a float id would otherwise be truncated, a
NaN label become int32 min, a rank 0 give a word the row of a reserved id.
"""

from __future__ import annotations

import numpy as np


def check_reviews(x, path, key):
    """Reviews must be int lists (or an integer matrix) of non-negative word ranks."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "iu" and x.ndim == 2:
        bad = np.argwhere(x < 0)
        if len(bad):
            raise ValueError(f"{path}: `{key}` review {bad[0][0]} holds a negative rank "
                             f"{x[tuple(bad[0])]}; expected word ranks >= 0.")
        return
    if not (isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype == object):
        raise ValueError(f"{path}: `{key}` must be a 1-d object array of int lists (Keras's "
                         f"imdb.npz layout); received dtype {x.dtype}, shape {x.shape}.")
    for i, review in enumerate(x):
        if not isinstance(review, list):
            raise ValueError(f"{path}: `{key}` review {i} must be a list of int word ranks; "
                             f"received {type(review).__name__}.")
        for word in review:
            # `type(...) is int`: bool, float and nested lists are all refused.
            if type(word) is not int or word < 0:
                raise ValueError(f"{path}: `{key}` review {i} holds {word!r}; expected "
                                 "integer word ranks >= 0 (float ids would be truncated).")


def check_labels(y, path, key):
    """Labels must be integers 0 (negative) or 1 (positive)."""
    if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iub"):
        dtype = getattr(y, "dtype", type(y).__name__)
        raise ValueError(f"{path}: `{key}` must be a 1-d integer array of labels 0/1; "
                         f"received dtype {dtype}, shape {getattr(y, 'shape', None)}.")
    bad = np.flatnonzero((y != 0) & (y != 1))
    if len(bad):
        raise ValueError(f"{path}: `{key}`[{bad[0]}] is {y[bad[0]]!r}; expected labels 0 "
                         "(negative) or 1 (positive).")


def check_word_index(word_index, source="word_index") -> None:
    """A word index must be a non-empty ``{str word: int rank >= 1}``; else a ValueError
    naming ``source`` and the first offending entry (a rank <= 0 would give a word the
    row of a reserved id or of another word)."""
    if not isinstance(word_index, dict):
        raise ValueError(f"{source}: expected a json object {{word: rank}}; received "
                         f"{type(word_index).__name__}.")
    if not word_index:
        raise ValueError(f"{source}: the word index is empty; expected {{word: rank}} "
                         "entries (an empty index would leave every word unknown).")
    for word, rank in word_index.items():
        if not isinstance(word, str) or type(rank) is not int or rank < 1:
            raise ValueError(f"{source}: entry {word!r}: {rank!r}; expected a word mapped "
                             "to an integer rank >= 1 (1 = most frequent).")
