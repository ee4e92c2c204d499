"""lowlevel: recurrent neural networks from scratch in low-level TensorFlow.

Cells are one time step (:mod:`lowlevel.cells`), the time loop is
:func:`lowlevel.loops.reference.unroll`, and sequence layers (:mod:`lowlevel.layers`) put the
two together with Keras's call contract and Keras's weight layout, so that
``ours.set_weights(keras_layer.get_weights())`` is the whole weight transfer.
"""

from lowlevel.cells import GRUCell, LSTMCell, SimpleRNNCell
from lowlevel.clipping import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm
from lowlevel.layers import (GRU, LSTM, RNN, Bidirectional, Embedding, SimpleRNN, StackedCells,
                             stack_layers)
from lowlevel.loops.reference import unroll

__version__ = "0.1.0"

__all__ = [
    "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedCells", "RNN", "SimpleRNN", "LSTM",
    "GRU", "stack_layers", "Bidirectional", "Embedding", "unroll", "clip_by_value", "clip_by_norm",
    "clip_by_global_norm", "global_norm",
]
