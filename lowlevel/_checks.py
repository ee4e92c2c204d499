"""Argument checks whose messages name the argument, what was expected and what came."""

from __future__ import annotations

import numbers

import tensorflow as tf

FLOAT_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)


def positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"`{argument}` must be a positive integer; received {value!r}."
        )
    return int(value)


def rate(value, argument: str) -> float:
    """A dropout rate in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{argument}` must be a float in [0, 1); received {value!r}.")
    return float(value)


def float_dtype(value, argument: str = "dtype") -> tf.DType:
    try:
        dtype = tf.as_dtype(value)
    except TypeError:
        dtype = None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"`{argument}` must be one of {[d.name for d in FLOAT_DTYPES]}; "
            f"received {value!r}."
        )
    return dtype


def as_float_tensor(value, dtype: tf.DType, argument: str) -> tf.Tensor:
    """Convert ``value`` to a ``dtype`` tensor; a tensor of another dtype is an error.

    Python numbers, lists and NumPy arrays are converted (as Keras does); a TensorFlow
    tensor must already have the layer's dtype, because a silent cast would hide a
    float64-vs-float32 mix-up in a parity study.
    """
    if isinstance(value, (tf.Tensor, tf.Variable)):
        if value.dtype != dtype:
            raise TypeError(
                f"`{argument}` must have dtype {dtype.name}; received a tensor of "
                f"dtype {value.dtype.name}."
            )
        return tf.convert_to_tensor(value)
    try:
        return tf.convert_to_tensor(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{argument}` must be convertible to a {dtype.name} tensor; "
            f"received {type(value).__name__}: {error}"
        ) from None


def shape_matches(tensor: tf.Tensor, expected: list, argument: str) -> None:
    """Check a tensor's static shape against ``expected`` (``None`` = any size)."""
    shape = tensor.shape
    if shape.rank != len(expected) or any(
        e is not None and s is not None and s != e for s, e in zip(shape, expected)
    ):
        pretty = "[" + ", ".join("?" if e is None else str(e) for e in expected) + "]"
        raise ValueError(
            f"`{argument}` must have shape {pretty}; received shape {shape.as_list() if shape.rank is not None else shape}."
        )
