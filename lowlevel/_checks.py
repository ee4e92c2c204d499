"""Argument checks whose messages name the argument, what was expected and what came."""

from __future__ import annotations

import numbers

import numpy as np
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


def python_bool(value, argument: str = "training") -> bool:
    """``value`` as a Python bool: a bool, a NumPy bool, or a tensor whose value is known
    when tracing (eager, or a constant). A tensor known only when the function runs
    cannot choose Python control flow (which steps apply dropout)."""
    if tf.is_tensor(value):
        known = tf.get_static_value(value)
        if known is None:
            raise TypeError(
                f"`{argument}` must be a Python bool; received a tensor whose value is "
                f"known only when the function runs ({value!r}). Pass True or False, "
                "e.g. as a Python argument of the tf.function (traced once per value).")
        value = known
    return bool(value)


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


_EMBEDDING_HINT = ("ids are looked up in an Embedding first (lowlevel.Embedding), whose "
                   "float vectors [batch, time, features] the recurrent layer reads")


def as_float_tensor(value, dtype: tf.DType, argument: str) -> tf.Tensor:
    """Convert ``value`` to a ``dtype`` tensor; a tensor of another dtype is an error.

    Python numbers, lists and NumPy float arrays are converted (as Keras does); a
    TensorFlow tensor must already have the layer's dtype, because a silent cast would
    hide a float64-vs-float32 mix-up in a parity study. Integer or boolean data (a tensor,
    a NumPy array or a list of ints) is refused with a hint: it is usually word ids whose
    Embedding was forgotten.
    """
    if isinstance(value, (tf.Tensor, tf.Variable)):
        if value.dtype.is_integer or value.dtype == tf.bool:
            raise TypeError(f"`{argument}` must be floating point ({dtype.name}); received a "
                            f"tensor of dtype {value.dtype.name}: {_EMBEDDING_HINT}.")
        if value.dtype != dtype:
            raise TypeError(
                f"`{argument}` must have dtype {dtype.name}; received a tensor of "
                f"dtype {value.dtype.name}."
            )
        return tf.convert_to_tensor(value)
    kind = _numpy_kind(value)
    if kind in ("i", "u", "b"):
        raise TypeError(f"`{argument}` must be floating point ({dtype.name}); received "
                        f"{type(value).__name__} of {np.asarray(value).dtype}: "
                        f"{_EMBEDDING_HINT}.")
    try:
        return tf.convert_to_tensor(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{argument}` must be convertible to a {dtype.name} tensor; "
            f"received {type(value).__name__}: {error}"
        ) from None


def _numpy_kind(value):
    """NumPy's dtype kind of an array, a NumPy scalar or a (nested) list; else None."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype.kind
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value).dtype.kind
        except (ValueError, TypeError):
            return None
    return None


def has_time_steps(inputs, argument: str = "inputs"):
    """``inputs [batch, time, ...]`` with ``time >= 1``; a ValueError now when the time
    size is known, else an assert that fails when the step runs."""
    inputs = tf.convert_to_tensor(inputs)
    message = f"`{argument}` must have at least one time step; received time = 0."
    if inputs.shape.rank is not None and inputs.shape.rank >= 2:
        if inputs.shape[1] == 0:
            raise ValueError(message)
        if inputs.shape[1] is not None:
            return inputs
    check = tf.debugging.assert_positive(tf.shape(inputs)[1], message=message)
    with tf.control_dependencies([check]):
        return tf.identity(inputs)


_CELL_METHODS = ("build", "step", "get_initial_state")


def cells(value, argument: str = "cells") -> list:
    """A non-empty list of recurrent cells (objects with ``build``, ``step``,
    ``get_initial_state`` and ``dtype``), else an error naming the first bad entry."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"`{argument}` must be a list of recurrent cells; received "
                        f"{type(value).__name__}.")
    value = list(value)
    for i, cell in enumerate(value):
        if not (all(callable(getattr(cell, m, None)) for m in _CELL_METHODS)
                and hasattr(cell, "dtype")):
            raise TypeError(f"`{argument}[{i}]` must be a recurrent cell (e.g. "
                            f"lowlevel.LSTMCell(units)); received {type(cell).__name__}: "
                            f"{cell!r}.")
    return value


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
