"""Sequence layers: a cell plus a time loop, stacking, ``Bidirectional`` and ``Embedding``.

What these objects are
----------------------
Every layer and cell of lowlevel is a ``tf.Module``, not a ``keras.layers.Layer``. It
owns ``tf.Variable``s with Keras's names and fused layouts, takes Keras's constructor
arguments (Keras's positional order and defaults) and Keras's call contract, and
returns Keras 3's structures. It does not go into ``keras.Sequential`` or
``keras.Model.fit``: call it inside a ``tf.GradientTape`` (``lowlevel.train``, or a
loop of your own). To move between the two worlds:

- ``lowlevel.from_keras(keras_layer)`` / ``lowlevel.to_keras(ours)``: the twin object,
  configuration and weights (:mod:`lowlevel.convert`);
- ``ours.set_weights(keras_layer.get_weights())`` (and back): the weights alone, one
  plain copy, both sides listing them in the same order and layout;
- ``Class.from_config(keras_layer.get_config())``: the configuration alone.

``summary()`` prints the object's sub-layers, output shapes and parameter counts, and
``count_params()`` counts its weights' scalars as Keras counts them
(:mod:`lowlevel._describe`).
"""

from lowlevel.layers.bidirectional import Bidirectional
from lowlevel.layers.embedding import Embedding
from lowlevel.layers.gru import GRU
from lowlevel.layers.lstm import LSTM
from lowlevel.layers.rnn import RNN, clone
from lowlevel.layers.sequential import Sequential
from lowlevel.layers.simple_rnn import SimpleRNN
from lowlevel.layers.stacking import StackedCells, stack_layers

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "StackedCells", "stack_layers", "Bidirectional",
           "Embedding", "Sequential", "clone"]
