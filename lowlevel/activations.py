"""Activation functions by Keras name, mapped onto TensorFlow's own kernels."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def _linear(x):
    return x


def _hard_sigmoid(x):
    # Keras 3's definition: relu6(x + 3) / 6.
    return tf.nn.relu6(x + 3.0) / 6.0


_BY_NAME: dict[str, Callable] = {
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
    "relu": tf.nn.relu,
    "linear": _linear,
    "hard_sigmoid": _hard_sigmoid,
    "elu": tf.nn.elu,
    "selu": tf.nn.selu,
    "softsign": tf.nn.softsign,
    "softplus": tf.nn.softplus,
    "gelu": tf.nn.gelu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
}


def get(identifier, argument: str = "activation") -> Callable:
    """The function named ``identifier``; ``None`` means linear, as in Keras."""
    if identifier is None:
        return _linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(
        f"Unknown `{argument}`: expected a callable, None or one of "
        f"{sorted(_BY_NAME)}; received {identifier!r}."
    )


def name_of(fn: Callable) -> str | Callable:
    """The Keras name of ``fn`` when it has one (for ``get_config``), else ``fn``."""
    for name, candidate in _BY_NAME.items():
        if candidate is fn:
            return name
    return fn
