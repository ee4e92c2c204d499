"""lowlevel: recurrent neural networks from scratch in low-level TensorFlow.

Cells are one time step (:mod:`lowlevel.cells`), the time loop is
:func:`lowlevel.loops.reference.unroll`, and sequence layers (:mod:`lowlevel.layers`) put the
two together with Keras's call contract and Keras's weight layout, so that
``ours.set_weights(keras_layer.get_weights())`` is the whole weight transfer;
:func:`from_keras` and :func:`to_keras` convert whole objects, architecture and weights.

Every public submodule is reachable after ``import lowlevel``, as ``keras.optimizers``
is after ``import keras`` (``lowlevel.optimizers.RMSprop(1e-3)``).

The names below load on first use (PEP 562), so that ``import lowlevel`` alone, as the
``lowlevel`` command line does before parsing its arguments, does not import TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "SimpleRNNCell": "lowlevel.cells", "LSTMCell": "lowlevel.cells", "GRUCell": "lowlevel.cells",
    "StackedCells": "lowlevel.layers", "RNN": "lowlevel.layers", "SimpleRNN": "lowlevel.layers",
    "LSTM": "lowlevel.layers", "GRU": "lowlevel.layers", "stack_layers": "lowlevel.layers",
    "Bidirectional": "lowlevel.layers", "Embedding": "lowlevel.layers", "Sequential": "lowlevel.layers",
    "unroll": "lowlevel.loops.reference",
    "clip_by_value": "lowlevel.clipping", "clip_by_norm": "lowlevel.clipping",
    "clip_by_global_norm": "lowlevel.clipping", "global_norm": "lowlevel.clipping",
    "from_keras": "lowlevel.convert", "to_keras": "lowlevel.convert",
}
# ``lowlevel.data``: the applications' data package (IMDB, GloVe, the synthetic corpus),
# reachable as Keras users expect ``keras.datasets``; the library itself never uses it.
_ALIASES = {"data": "lowlevel.apps.data"}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # type checkers and IDEs see the names directly
    from lowlevel.cells import GRUCell, LSTMCell, SimpleRNNCell
    from lowlevel.clipping import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm
    from lowlevel.convert import from_keras, to_keras
    from lowlevel.layers import (GRU, LSTM, RNN, Bidirectional, Embedding, Sequential, SimpleRNN,
                                 StackedCells, stack_layers)
    from lowlevel.loops.reference import unroll


def __getattr__(name: str):
    """``lowlevel.LSTM`` imports :mod:`lowlevel.layers` on first use; ``lowlevel.train`` and
    the other submodules load the same way."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _ALIASES:
        value = importlib.import_module(_ALIASES[name])
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'lowlevel' has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
