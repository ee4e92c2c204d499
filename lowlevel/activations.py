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


# ---------------------------------------------------------------- derivatives
# ``dy ⊙ φ'(a)`` written through the activation's value ``y = φ(a)``, with TensorFlow's
# one-op kernels where they exist (one op per gate instead of three). A hand-written
# backward step (``RecurrentCell.backward``) saves ``y`` and needs nothing else.
def _d_tanh(y, dy):
    return tf.raw_ops.TanhGrad(y=y, dy=dy)  # dy (1 - y²)


def _d_sigmoid(y, dy):
    return tf.raw_ops.SigmoidGrad(y=y, dy=dy)  # dy y (1 - y)


def _d_linear(y, dy):
    return dy


def _d_relu(y, dy):
    return tf.raw_ops.ReluGrad(gradients=dy, features=y)  # dy [y > 0]


def _d_hard_sigmoid(y, dy):
    # relu6(x + 3) / 6: slope 1/6 strictly inside (0, 1), as relu6's gradient.
    return dy * (tf.cast((y > 0) & (y < 1), y.dtype) / 6.0)


_DERIVATIVES: dict[Callable, Callable] = {
    tf.tanh: _d_tanh, tf.sigmoid: _d_sigmoid, _linear: _d_linear, tf.nn.relu: _d_relu,
    _hard_sigmoid: _d_hard_sigmoid,
}
DERIVATIVE_NAMES = tuple(sorted(name_of(fn) for fn in _DERIVATIVES))


def derivative(fn: Callable) -> Callable | None:
    """``(y, dy) -> dy ⊙ φ'(a)`` for ``φ = fn`` and ``y = φ(a)``; ``None`` if not known here."""
    return _DERIVATIVES.get(fn)
