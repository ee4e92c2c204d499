"""Sequence layers: a cell plus a time loop, stacking, ``Bidirectional`` and ``Embedding``."""

from lowlevel.layers.bidirectional import Bidirectional
from lowlevel.layers.embedding import Embedding
from lowlevel.layers.rnn import GRU, LSTM, RNN, SimpleRNN, clone
from lowlevel.layers.sequential import Sequential
from lowlevel.layers.stacking import StackedCells, stack_layers

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "StackedCells", "stack_layers", "Bidirectional",
           "Embedding", "Sequential", "clone"]
