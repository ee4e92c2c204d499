"""lowlevel: recurrent neural networks from scratch in low-level TensorFlow.

Cells are one time step (:mod:`lowlevel.cells`), the time loop is
:func:`lowlevel.loops.reference.unroll`, and sequence layers (:mod:`lowlevel.layers`) put the
two together with Keras's call contract and Keras's weight layout, so that
``ours.set_weights(keras_layer.get_weights())`` is the whole weight transfer;
:func:`from_keras` and :func:`to_keras` convert whole objects, architecture and weights.

Every public submodule is reachable after ``import lowlevel``, as ``keras.optimizers``
is after ``import keras`` (``lowlevel.optimizers.RMSprop(1e-3)``); the ones not needed
by the names above are imported on first use (a module ``__getattr__``, PEP 562), so
``import lowlevel`` stays as fast as its layers.
"""

import importlib

from lowlevel.cells import GRUCell, LSTMCell, SimpleRNNCell
from lowlevel.clipping import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm
from lowlevel.convert import from_keras, to_keras
from lowlevel.layers import (GRU, LSTM, RNN, Bidirectional, Embedding, SimpleRNN, StackedCells,
                             stack_layers)
from lowlevel.loops.reference import unroll

__version__ = "0.1.0"

__all__ = [
    "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedCells", "RNN", "SimpleRNN", "LSTM",
    "GRU", "stack_layers", "Bidirectional", "Embedding", "unroll", "clip_by_value", "clip_by_norm",
    "clip_by_global_norm", "global_norm", "from_keras", "to_keras",
]

# Submodules imported on first attribute access: name -> module path. ``data`` is the
# applications' data package (IMDB, GloVe, the synthetic corpus); the library itself
# never imports it.
_LAZY_SUBMODULES = {
    name: f"lowlevel.{name}"
    for name in ("optimizers", "train", "models", "gradients", "clipping", "distribute",
                 "parity", "tolerances", "cells", "loops", "layers", "activations",
                 "convert", "keras_config", "apps")
}
_LAZY_SUBMODULES["data"] = "lowlevel.apps.data"


def __getattr__(name):
    """``lowlevel.<submodule>``, imported on first use (PEP 562)."""
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(_LAZY_SUBMODULES[name])
        globals()[name] = module  # later look-ups skip this function
        return module
    raise AttributeError(f"module 'lowlevel' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
