"""Recurrent cells: one time step each, ``output, new_states = cell(x_t, states)``.

Each cell's module holds its equations forward and backward; the contract a cell
implements is :class:`RecurrentCell`'s (:mod:`lowlevel.cells.base`).
"""

from lowlevel.cells.base import RecurrentCell, dropout_mask
from lowlevel.cells.gru import GRUCell, gru_step
from lowlevel.cells.lstm import LSTMCell, lstm_step
from lowlevel.cells.simple_rnn import SimpleRNNCell, simple_rnn_step

__all__ = ["RecurrentCell", "SimpleRNNCell", "LSTMCell", "GRUCell", "simple_rnn_step",
           "lstm_step", "gru_step", "dropout_mask"]
