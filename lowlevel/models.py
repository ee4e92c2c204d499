"""The tutorial's IMDB sentiment classifier, from scratch, in both of its styles.

``ids [batch, time]`` -> ``logits [batch, 1]`` (``sigmoid(logits)`` = p(positive))::

    x      = embedding(ids)                          # [batch, time, embedding_dim]
    h      = rnn_1(rnn_0(x)) at the last step        # [batch, units]
    a      = relu(dropout(h @ W_1 + b_1))            # [batch, head_units]
    logits = a @ W_2 + b_2                           # [batch, 1]

*Cell style* steps a :class:`~lowlevel.StackedCells` at every word, like the tutorial's
``MyRNN`` (on the time loop a layer would run, :mod:`lowlevel.loops.registry`);
*layer style* stacks sequence layers (each non-last one with
``return_sequences=True``) and runs them as one time loop (:func:`lowlevel.stack_layers`:
the same function, layer ``l`` at step ``t`` beside layer ``l - 1`` at step ``t + 1``).
Same weights, same function (``tests/models/test_models.py``).
The Keras twin is ``reference.build_model``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowlevel import _checks, kinds
from lowlevel.cells import dropout_mask
from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights
from lowlevel.cells.base import _initial_value
from lowlevel.layers.embedding import Embedding
from lowlevel.layers.stacking import StackedCells, runs_as_one_loop, stack_layers
from lowlevel.loops import DEFAULT_IMPLEMENTATION, registry
from lowlevel.loops.request import Request

CELLS = kinds.NAMES  # the `cell` argument's values: the cell kinds of lowlevel.kinds
STYLES = ("cell", "layer")


class Dense(Describable, tf.Module):
    """``y = x @ kernel + bias``: ``x [batch, in]`` -> ``[batch, out]``, Keras's layout
    (``kernel [in, out]`` glorot-uniform, ``bias [out]`` zeros)."""

    def __init__(self, input_dim, units, dtype=tf.float32, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.kernel = tf.Variable(_initial_value("glorot_uniform", [input_dim, units],
                                                     dtype, "kernel_initializer"), name="kernel")
            self.bias = tf.Variable(tf.zeros([units], dtype), name="bias")

    @property
    def weights(self):
        return [self.kernel, self.bias]

    def __call__(self, x):
        return x @ self.kernel + self.bias


class _StackedLoop:
    """The layer style's one time loop (:func:`lowlevel.stack_layers` of its layers).

    A plain object, not a ``tf.Module``: variable tracking and checkpoints do not look
    inside it, so they see the layers once, as the model's ``rnn``, and a checkpoint has
    the same layout whether or not the layers run as one loop.
    """

    def __init__(self, layers):
        self.layer = stack_layers(layers)


def _check_style(style):
    if style not in STYLES:
        raise ValueError(f"`style` must be one of {STYLES}; received {style!r}.")


def _stack_loop(implementation, stack):
    """The cell style's time loop: ``implementation`` (``None``: the layers' default), if
    it can run ``stack``; else a ``ValueError`` naming it and why not."""
    implementation = registry.check(DEFAULT_IMPLEMENTATION if implementation is None
                                    else implementation)
    reason = registry.cannot_run(implementation, stack)
    if reason is not None:
        raise ValueError(f"implementation={implementation!r} cannot run style='cell' (a "
                         f"stack of cells stepped together): {reason}. Use style='layer', "
                         "whose layers it runs in turn, or another implementation.")
    return implementation


def _embedding(num_words, embedding_dim, embedding_matrix, trainable, dtype):
    """``Embedding(num_words, embedding_dim)``, or one that starts at ``embedding_matrix
    [num_words, dim]`` (whose shape then wins)."""
    if embedding_matrix is None:
        return Embedding(num_words, embedding_dim, trainable=trainable, dtype=dtype)
    embedding_matrix = np.asarray(embedding_matrix)
    if embedding_matrix.ndim != 2:
        raise ValueError("`embedding_matrix` must have shape [num_words, dim]; "
                         f"received shape {embedding_matrix.shape}.")
    embedding = Embedding(*embedding_matrix.shape, trainable=trainable, dtype=dtype)
    embedding.set_weights([embedding_matrix])
    return embedding


def _seed_of(seed, i):
    """Layer ``i``'s seed: ``seed + i`` (``None``: unseeded)."""
    return None if seed is None else seed + i


def _recurrent_cells(kind, sizes, dropout, seed, dtype):
    """The cell style's cells, ``sizes = [input_dim, units, units, ...]``."""
    return [kind.cell_class()(units, dropout=dropout, seed=_seed_of(seed, i),
                              input_dim=sizes[i], dtype=dtype)
            for i, units in enumerate(sizes[1:])]


def _recurrent_layers(kind, sizes, implementation, dropout, seed, dtype):
    """The layer style's sequence layers; each but the last returns sequences."""
    last = len(sizes) - 2
    return [kind.layer_class()(units, dropout=dropout, seed=_seed_of(seed, i),
                               input_dim=sizes[i], return_sequences=i < last,
                               implementation=implementation, dtype=dtype)
            for i, units in enumerate(sizes[1:])]


def _one_loop_over(layers):
    """One time loop over the stack where that computes the same (not for 'bptt', which
    differentiates one cell by hand: its layers run in turn); else ``None``."""
    return _StackedLoop(layers) if runs_as_one_loop(layers) else None


class SentimentClassifier(KerasOrderedWeights, Describable, tf.Module):
    """``SentimentClassifier(cell='simple'|'lstm'|'gru', style='cell'|'layer', ...)``.

    Defaults are the tutorial's: vocabulary 10,000, embedding 100, two recurrent
    layers of 64 units with cell dropout 0.5, head ``Dense(64)`` -> ``Dropout(0.5)``
    -> ReLU -> ``Dense(1)``. ``embedding_matrix [num_words, dim]`` initialises the
    embedding (e.g. GloVe); ``trainable_embedding=False`` freezes it.
    ``implementation``: the time loop of the sequence layers, or of the cell style's
    stack (``lowlevel.loops.IMPLEMENTATIONS``; ``None``: the layers' default, ``'auto'``;
    ``'bptt'``, which differentiates one cell by hand, runs the layer style only).

    ``weights`` (and ``get_weights``) are ordered as the Keras twin's
    ``model.weights``: embedding, recurrent layers bottom-up (kernel,
    recurrent_kernel, bias each), head kernel and bias, output kernel and bias.
    """

    def __init__(self, cell="simple", style="layer", num_words=10000, embedding_dim=100,
                 units=64, num_layers=2, dropout=0.5, head_units=64, head_dropout=0.5,
                 embedding_matrix=None, trainable_embedding=True, seed=None,
                 implementation=None, dtype=tf.float32, name=None):
        super().__init__(name=name)
        kind = kinds.kind(cell, "cell")
        _check_style(style)
        self.cell_kind, self.style = cell, style
        self.units = _checks.positive_int(units, "units")
        num_layers = _checks.positive_int(num_layers, "num_layers")
        self.head_dropout = _checks.rate(head_dropout, "head_dropout")
        dtype = _checks.float_dtype(dtype)
        self.embedding = _embedding(num_words, embedding_dim, embedding_matrix,
                                    trainable_embedding, dtype)
        sizes = [self.embedding.output_dim] + [self.units] * num_layers
        options = dict(dropout=dropout, seed=seed, dtype=dtype)
        if style == "cell":
            self.rnn = StackedCells(_recurrent_cells(kind, sizes, **options))
            self._stack_implementation = _stack_loop(implementation, self.rnn)
            self._run_stack = None
        else:
            self.rnn = _recurrent_layers(kind, sizes, implementation, **options)
            self._run_stack = _one_loop_over(self.rnn)
        self.head = Dense(self.units, head_units, dtype=dtype, name="head")
        self.out = Dense(head_units, 1, dtype=dtype, name="out")
        self._rng = (tf.random.Generator.from_seed(seed + 1000) if seed is not None
                     else tf.random.Generator.from_non_deterministic_state())
        recurrent = self.rnn.cells if style == "cell" else self.rnn  # one per layer
        self._weights = ([self.embedding.embeddings] + [w for r in recurrent for w in r.weights]
                         + self.head.weights + self.out.weights)
        # The layer each weight belongs to, for per-layer gradient norms.
        self._layer_names = (["embedding"] + [f"rnn{i}" for i, r in enumerate(recurrent)
                                              for _ in r.weights]
                             + ["head"] * 2 + ["out"] * 2)

    # --------------------------------------------------------------- weights
    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_layer_names(self) -> list[str]:
        """For each of ``trainable_variables``, its layer: ``embedding``, ``rnn0``,
        ``rnn1``, ..., ``head``, ``out``."""
        return [n for n, w in zip(self._layer_names, self._weights) if w.trainable]

    @property
    def stacked(self):
        """The layer style's one time loop over its layers (:func:`lowlevel.stack_layers`
        of ``rnn``); ``None`` when the layers run in turn (cell style, ``'bptt'``)."""
        return None if self._run_stack is None else self._run_stack.layer

    # ------------------------------------------------------------------ call
    # Not converted by AutoGraph inside a training step: the control flow here is on
    # Python values only, and converting it (and the layers it calls) lengthened the first
    # step (docs/speed.md, "The default path's first call").
    @tf.autograph.experimental.do_not_convert
    def encode(self, ids, training=False):
        """``ids [batch, time]`` -> last hidden state of the top layer ``[batch, units]``."""
        x = self.embedding(ids)  # [batch, time, embedding_dim]
        if self.stacked is not None:
            return self._run_stack.layer(x, training=training)
        if self.style == "layer":
            for layer in self.rnn:
                x = layer(x, training=training)
            return x
        # Cell style, as the tutorial's MyRNN: the whole stack stepped at every word, by
        # the time loop a layer's would be (lowlevel.loops.registry); by default 'auto',
        # which in a compiled step writes the words out ten per traced chunk, the chunk
        # reused along the sequence. A Python loop over the words traced 80 words of two cells
        # and their backward pass op by op in the first training step (docs/speed.md,
        # "The default path's first call").
        batch = tf.shape(x)[0]
        masks = self.rnn.draw_dropout_masks(batch) if training else None  # one per sequence
        request = Request(self.rnn, x, self.rnn.get_initial_state(batch), dropout_masks=masks,
                          called_eagerly=tf.executing_eagerly(), training=training)
        last, _, _ = registry.run(self._stack_implementation, request)
        return last

    @tf.autograph.experimental.do_not_convert  # as encode
    def __call__(self, ids, training=False):
        """``ids [batch, time]`` -> ``logits [batch, 1]``."""
        training = _checks.python_bool(training)  # as the sequence layers take it
        h = self.encode(_checks.has_time_steps(ids, "ids"), training=training)
        a = self.head(h)  # [batch, head_units]
        if training and self.head_dropout:
            a = a * dropout_mask(self._rng, tf.shape(a), self.head_dropout, a.dtype)
        return self.out(tf.nn.relu(a))  # [batch, 1]

    def probabilities(self, ids):
        return tf.sigmoid(self(ids, training=False))
