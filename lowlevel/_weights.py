"""Weights listed in Keras's order, for every lowlevel module that owns some."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class KerasOrderedWeights:
    """Mixin for a ``tf.Module`` whose ``weights`` property lists its variables.

    ``tf.Module`` would list variables sorted by attribute name (``bias`` first);
    Keras's order is what makes ``ours.set_weights(keras.get_weights())`` a plain copy,
    so ``variables``, ``trainable_variables``, ``get_weights`` and ``set_weights`` all
    follow ``weights``.
    """

    @property
    def variables(self):
        return tuple(self.weights)

    @property
    def trainable_variables(self):
        return tuple(w for w in self.weights if w.trainable)

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        assign_weights(self.weights, list(weights), owner=self.name)


def assign_weights(variables, weights, owner: str) -> None:
    """Assign NumPy ``weights`` to ``variables`` one by one, checking count and shapes
    first, so that a bad list changes nothing."""
    if len(weights) != len(variables):
        raise ValueError(
            f"`weights` for {owner} must be a list of {len(variables)} arrays "
            f"{[tuple(v.shape) for v in variables]}; received {len(weights)}."
        )
    for i, (variable, value) in enumerate(zip(variables, weights)):
        if tuple(np.shape(value)) != tuple(variable.shape):
            raise ValueError(
                f"`weights[{i}]` ({variable.name.split(':')[0]}) of {owner} must have "
                f"shape {tuple(variable.shape)}; received {tuple(np.shape(value))}."
            )
    for variable, value in zip(variables, weights):
        variable.assign(tf.cast(value, variable.dtype))
