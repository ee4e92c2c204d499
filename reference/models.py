"""The tutorial's two IMDB sentiment models, in Keras 3: cell style and layer style.

Both read ``[batch, time]`` word ids and compute::

    x      = embedding(ids)                       # [batch, time, embedding_dim]
    h      = rnn1(rnn0(x))[:, -1]                 # [batch, units]  two stacked RNNs, last step
    logits = Dense(1)(relu(Dropout(Dense(units)(h))))   # [batch, 1]
    prob   = sigmoid(logits)                      # [batch, 1]  p(review is positive)

*Cell style* (``MyRNN``) steps two ``keras.layers.*Cell`` by hand over time;
*layer style* (``MyLayerRNN``) uses ``keras.layers.SimpleRNN/LSTM/GRU``. With the
same weights they compute the same function; ``tests/reference/test_reference.py`` checks it.

Fixes to the tutorial's code (Keras 3.15, TensorFlow 2.21):
  (1) ``self.rnn_cell0(word, state0, training)`` passes ``training`` positionally;
      Keras 3 raises "Only input tensors may be passed as positional arguments"
      for ``training=True/False`` (``None`` slips through) -> ``training=training``.
      The same holds for ``self.outlayer(x, training)``.
  (2) A hand-stepped cell caches its dropout mask on itself and never clears it:
      eagerly every later call reuses the first mask; a mask made while tracing
      (Keras' build trace, ``tf.function``, ``model.fit``) is a graph tensor, and
      the next call in another graph fails with ``InaccessibleTensorError``
      ("... is out of scope and cannot be used here"); an eager mask captured by
      a later ``tf.function`` becomes a constant, so that graph drops the same
      units on every run -> ``MyRNN.call`` calls
      ``reset_dropout_mask()`` and ``reset_recurrent_dropout_mask()`` on each cell
      before and after the time loop, as ``keras.layers.RNN.call`` does: one mask
      per sequence, fresh for every batch.
  (3) ``Embedding(..., input_length=max_review_len)`` is deprecated in Keras 3
      (a ``UserWarning``: "Just remove it") -> removed.
  (4) ``self.state0 = [tf.zeros([batchsz, units])]`` fixes the batch size, so a
      last partial batch fails ("Incompatible shapes: [3,8] vs. [5,8]" for a
      batch of 3 after states built for 5; the tutorial hides it with
      ``drop_remainder=True``) -> zero states from
      ``cell.get_initial_state(batch_size=<actual batch>)`` at call time.
  (5) The GloVe variant: see ``reference/embedding.py``.
  (6) Clipping an embedding's ``IndexedSlices`` gradient: see ``reference/training.py``.
The head is the cell-style script's (``Dense(units)``) for both styles; the
layer-style scripts use ``Dense(32)`` and Adam.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lowlevel_reference.config import TUTORIAL
from lowlevel_reference.embedding import make_embedding

# G, the number of fused blocks in kernel [input_dim, G*units]: simple 1, lstm 4, gru 3.
CELLS = {
    "simple": keras.layers.SimpleRNNCell,
    "lstm": keras.layers.LSTMCell,  # state [h, c]; fused gate order i, f, c, o
    "gru": keras.layers.GRUCell,  # reset_after=True; fused gate order z, r, h
}
LAYERS = {
    "simple": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}
STYLES = ("cell", "layer")


def _seed(seed: int | None, offset: int) -> int | None:
    """Distinct, reproducible seeds per dropout site; the two styles use the same ones."""
    return None if seed is None else seed + offset


def make_head(units: int, dropout: float, seed: int | None = None) -> keras.Sequential:
    """The tutorial's ``outlayer``: ``[batch, units] -> [batch, 1]`` logits (no sigmoid)."""
    head = keras.Sequential(
        [
            keras.layers.Dense(units),  # [batch, units]
            keras.layers.Dropout(dropout, seed=_seed(seed, 2)),
            keras.layers.ReLU(),
            keras.layers.Dense(1),  # [batch, 1]
        ],
        name="outlayer",
    )
    head.build((None, units))
    return head


class _SentimentRNN(keras.Model):
    """Shared part of both styles: embedding, an encoder (``_encode``), the head."""

    def __init__(
        self,
        cell: str = "simple",
        units: int = TUTORIAL.units,
        num_words: int = TUTORIAL.num_words,
        embedding_dim: int = TUTORIAL.embedding_dim,
        maxlen: int = TUTORIAL.maxlen,
        dropout: float = TUTORIAL.dropout,
        head_dropout: float | None = None,
        embedding_matrix=None,
        trainable_embedding: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_args(cell=cell, units=units, dropout=dropout, head_dropout=head_dropout)
        self.cell_name = cell
        self.units = units
        self.maxlen = maxlen
        self.dropout = dropout
        self.head_dropout = dropout if head_dropout is None else head_dropout
        self.trainable_embedding = trainable_embedding
        self.seed = seed
        # [batch, time] -> [batch, time, embedding_dim]; fix (3): no input_length.
        self.embedding = make_embedding(num_words, embedding_dim, embedding_matrix, trainable_embedding)
        self.num_words, self.embedding_dim = self.embedding.input_dim, self.embedding.output_dim
        self._make_rnn()  # the two stacked RNNs
        self.outlayer = make_head(units, self.head_dropout, seed)
        # Weights exist now. Building here also spares the first call Keras' build
        # trace, which would leave a mask from a scratch graph on the cells (fix 2).
        self.build((None, maxlen))

    def call(self, inputs, training=None, return_logits=False):
        """``[batch, time]`` int ids -> ``[batch, 1]`` probabilities (logits if ``return_logits``)."""
        x = self.embedding(inputs)  # [batch, time, embedding_dim]
        h = self._encode(x, training=training)  # [batch, units]
        logits = self.outlayer(h, training=training)  # [batch, 1]; fix (1): keyword
        return logits if return_logits else tf.sigmoid(logits)

    def _make_rnn(self):
        raise NotImplementedError

    def _encode(self, x, training=None):
        raise NotImplementedError

    def get_config(self):
        # embedding_matrix is left out: the weights carry it.
        return {
            **super().get_config(),
            "cell": self.cell_name,
            "units": self.units,
            "num_words": self.num_words,
            "embedding_dim": self.embedding_dim,
            "maxlen": self.maxlen,
            "dropout": self.dropout,
            "head_dropout": self.head_dropout,
            "trainable_embedding": self.trainable_embedding,
            "seed": self.seed,
        }


class MyRNN(_SentimentRNN):
    """Cell style: two ``keras.layers.{SimpleRNN,LSTM,GRU}Cell`` stepped by hand.

    ``call(inputs [batch, time], training, return_logits) -> [batch, 1]``. The time
    loop is a Python loop over ``tf.unstack(x, axis=1)``, so ``time`` must be
    known when tracing (it is for padded IMDB: ``maxlen``).
    """

    def _make_rnn(self):
        cell_cls = CELLS[self.cell_name]
        self.rnn_cell0 = cell_cls(self.units, dropout=self.dropout, seed=_seed(self.seed, 0))
        self.rnn_cell1 = cell_cls(self.units, dropout=self.dropout, seed=_seed(self.seed, 1))

    def build(self, input_shape):
        """Creates the cells' weights; ``input_shape`` is ``[batch, time]``."""
        self.rnn_cell0.build((None, self.embedding_dim))  # kernel [embedding_dim, G*units]
        self.rnn_cell1.build((None, self.units))  # kernel [units, G*units]

    def initial_state(self, batch_size):
        """Zero states ``[state0, state1]``; each a list ``[h]`` (``[h, c]`` for LSTM) of ``[batch, units]``."""
        # Fix (4): sized from the batch at hand, not a fixed `batchsz`.
        return [
            self.rnn_cell0.get_initial_state(batch_size=batch_size),
            self.rnn_cell1.get_initial_state(batch_size=batch_size),
        ]

    def _reset_dropout_masks(self):
        for cell in (self.rnn_cell0, self.rnn_cell1):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()

    def _encode(self, x, training=None):
        if not x.shape[1]:
            raise ValueError(
                "MyRNN steps over time with a Python loop and needs a static, positive "
                f"time dimension; received inputs of shape {tuple(x.shape)}. Pad to maxlen."
            )
        self._reset_dropout_masks()  # fix (2): a fresh mask for this batch, in this graph
        state0, state1 = self.initial_state(keras.ops.shape(x)[0])
        for word in tf.unstack(x, axis=1):  # word: [batch, embedding_dim]
            # Fix (1): training by keyword.
            out0, state0 = self.rnn_cell0(word, state0, training=training)  # [batch, units]
            out1, state1 = self.rnn_cell1(out0, state1, training=training)  # [batch, units]
        self._reset_dropout_masks()  # leave no graph tensor behind on the cells
        return out1


class MyLayerRNN(_SentimentRNN):
    """Layer style: ``keras.layers.{SimpleRNN,LSTM,GRU}`` ×2, the second returning its last step.

    ``call(inputs [batch, time], training, return_logits) -> [batch, 1]``.
    ``self.rnn.layers[k].cell`` holds the same weights, in the same layout, as
    ``MyRNN.rnn_cell{k}``.
    """

    def _make_rnn(self):
        layer_cls = LAYERS[self.cell_name]
        self.rnn = keras.Sequential(
            [
                # [batch, time, embedding_dim] -> [batch, time, units]
                layer_cls(self.units, dropout=self.dropout, seed=_seed(self.seed, 0), return_sequences=True),
                # [batch, time, units] -> [batch, units]
                layer_cls(self.units, dropout=self.dropout, seed=_seed(self.seed, 1)),
            ],
            name="rnn",
        )

    def build(self, input_shape):
        """Creates the layers' weights; ``input_shape`` is ``[batch, time]``."""
        self.rnn.build((None, input_shape[1], self.embedding_dim))

    def _encode(self, x, training=None):
        return self.rnn(x, training=training)  # [batch, units]


def build_model(
    cell: str = "simple",
    style: str = "cell",
    units: int = TUTORIAL.units,
    num_words: int = TUTORIAL.num_words,
    embedding_dim: int = TUTORIAL.embedding_dim,
    maxlen: int = TUTORIAL.maxlen,
    dropout: float = TUTORIAL.dropout,
    embedding_matrix=None,
    trainable_embedding: bool = True,
    *,
    head_dropout: float | None = None,
    seed: int | None = None,
) -> _SentimentRNN:
    """The tutorial's model: ``MyRNN`` (``style='cell'``) or ``MyLayerRNN`` (``style='layer'``).

    ``model(ids [batch, maxlen], training=...)`` returns probabilities ``[batch, 1]``;
    ``model(ids, return_logits=True)`` the logits before the sigmoid. With
    ``embedding_matrix`` (``[num_words, dim]``) the embedding starts from it, its
    shape overriding ``num_words`` / ``embedding_dim``, frozen unless
    ``trainable_embedding``. ``head_dropout`` defaults to ``dropout``.

    ``seed`` makes every dropout mask reproducible and the same in both styles,
    as long as both models have made the same calls: the RNN layers draw a mask
    on every call, the LSTM and GRU cells only when ``training`` (SimpleRNNCell
    always), so an eval-mode call moves the two styles' seed streams apart.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}; received {style!r}.")
    model_cls = MyRNN if style == "cell" else MyLayerRNN
    return model_cls(
        cell=cell,
        units=units,
        num_words=num_words,
        embedding_dim=embedding_dim,
        maxlen=maxlen,
        dropout=dropout,
        head_dropout=head_dropout,
        embedding_matrix=embedding_matrix,
        trainable_embedding=trainable_embedding,
        seed=seed,
    )


def _check_args(*, cell, units, dropout, head_dropout):
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {tuple(CELLS)}; received {cell!r}.")
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise ValueError(f"units must be a positive int; received {units!r}.")
    for name, rate in (("dropout", dropout), ("head_dropout", head_dropout)):
        if rate is not None and not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1); received {rate!r}.")
