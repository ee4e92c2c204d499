"""A small sequence regressor for the long-memory tasks: one recurrent layer + Dense(1).

``x [batch, time, features]`` -> ``y [batch, 1]``::

    h = rnn(x) at the last step        # [batch, units]
    y = h @ W + b                      # [batch, 1]

Weights are drawn from a seeded NumPy generator (:func:`seed_layer_weights`), so a
study with the same seed trains the same network: Keras's initialisers themselves are
not seeded by the cells.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowlevel import _checks, kinds
from lowlevel.models import Dense


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))  # Haar-distributed


def seed_layer_weights(layer, seed) -> None:
    """Re-draw ``kernel`` and ``recurrent_kernel`` of a built layer from ``seed``.

    ``kernel [input_dim, G*units]``: Glorot uniform, ``limit = sqrt(6 / (fan_in +
    fan_out))`` (Keras's default). ``recurrent_kernel [units, G*units]``: each gate block
    ``[units, units]`` its own random orthogonal matrix, so every singular value of a
    block is 1 and :func:`lowlevel.gradients.rescale_recurrent_kernel` sets them all at
    once. The bias keeps the cell's initial value (zeros; LSTM forget gate 1).
    """
    cell = layer.cell
    rng = np.random.default_rng(seed)
    fan_in, fan_out = cell.kernel.shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    cell.kernel.assign(tf.cast(rng.uniform(-limit, limit, (fan_in, fan_out)), cell.dtype))
    units = cell.units
    blocks = [_orthogonal(rng, units) for _ in range(cell.recurrent_kernel.shape[1] // units)]
    cell.recurrent_kernel.assign(tf.cast(np.concatenate(blocks, axis=1), cell.dtype))


def make_layer(cell, units, input_dim, seed=0, activation="tanh", dtype=tf.float32,
               return_sequences=False):
    """A built, seeded ``SimpleRNN`` / ``LSTM`` / ``GRU`` (``cell`` in ``kinds.NAMES``).

    ``activation`` is the candidate activation (tanh, or e.g. relu for SimpleRNN).
    """
    layer = kinds.kind(cell, "cell").layer_class()(
        units, activation=activation, input_dim=input_dim, dtype=dtype,
        return_sequences=return_sequences)
    seed_layer_weights(layer, seed)
    return layer


class SequenceRegressor(tf.Module):
    """``SequenceRegressor(cell='lstm', units=32, input_dim=2, activation='tanh', seed=0)``.

    ``__call__(x [batch, time, input_dim]) -> [batch, output_dim]``: the recurrent layer's
    last output through ``Dense(output_dim)`` (default 1); with ``return_sequences`` every
    step's output, ``[batch, time, output_dim]`` (the copy-memory task). ``layers`` names the parts for per-layer logging.
    """

    def __init__(self, cell="lstm", units=32, input_dim=2, activation="tanh", seed=0,
                 dtype=tf.float32, name=None, output_dim=1, return_sequences=False):
        super().__init__(name=name)
        units = _checks.positive_int(units, "units")
        output_dim = _checks.positive_int(output_dim, "output_dim")
        with self.name_scope:
            self.rnn = make_layer(cell, units, input_dim, seed=seed, activation=activation,
                                  dtype=dtype, return_sequences=return_sequences)
            self.head = Dense(units, output_dim, dtype=dtype)
        rng = np.random.default_rng([seed, 1])
        limit = np.sqrt(6.0 / (units + output_dim))
        self.head.kernel.assign(tf.cast(rng.uniform(-limit, limit, (units, output_dim)),
                                        dtype))
        self.cell_kind = cell

    @property
    def layers(self) -> dict:
        """``{'rnn': [kernel, recurrent_kernel, bias], 'head': [kernel, bias]}``."""
        return {"rnn": list(self.rnn.weights), "head": list(self.head.weights)}

    @property
    def variables_in_order(self) -> list:
        return [v for vs in self.layers.values() for v in vs]

    def __call__(self, x):
        h = self.rnn(x)  # [batch, units] or [batch, time, units]
        return self.head(h)  # [batch, output_dim] or [batch, time, output_dim]


def mean_squared_error(predictions, targets):
    """``mean((y - t)^2)`` over ``[batch, 1]``."""
    return tf.reduce_mean(tf.square(predictions - tf.cast(targets, predictions.dtype)))
