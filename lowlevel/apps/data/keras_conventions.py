"""What the data modules share with Keras's datasets: where Keras caches a download
(:func:`keras_cache_path`), and how the tutorial pads id sequences (:func:`pad`)."""

from __future__ import annotations

import os

import keras
import numpy as np


def keras_cache_path(fname: str) -> str:
    """Where Keras caches a downloaded dataset: ``$KERAS_HOME/datasets/fname``.

    ``KERAS_HOME`` defaults to ``~/.keras`` (``/tmp/.keras`` if home is not writable),
    as in ``keras/src/backend/config.py``.
    """
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.join(os.path.expanduser(home), "datasets", fname)



def pad(reviews, maxlen=80) -> np.ndarray:
    """``keras.utils.pad_sequences`` with the tutorial's settings: ``[n, maxlen]`` int32.

    Shorter reviews get zeros in FRONT; longer ones lose their BEGINNING (keep the end).
    """
    return keras.utils.pad_sequences(
        reviews, maxlen=maxlen, dtype="int32", padding="pre", truncating="pre", value=0
    )
