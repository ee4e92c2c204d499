"""The one tolerance table, shared by the tests and by ``lowlevel verify``.

An error is measured relative to the magnitude of the values compared::

    scaled_error(actual, expected) = max|actual - expected| / max(max|expected|, tiny)

so every element is judged against the largest element of its tensor (a norm-wise
relative error in the infinity norm). This is the usual choice for comparing two
computations that sum the same terms in a different order: their difference scales
with the size of the terms, not with each individual element.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Largest allowed ``scaled_error`` per compute dtype. float64 and float32 are the bars
# the project promises; float16/bfloat16 follow tf.test's per-dtype defaults
# (about 1e-3 and 1e-2), loosened by a factor that covers recurrence over a few
# dozen steps.
TOLERANCE = {
    tf.float64: 1e-10,
    tf.float32: 1e-5,
    tf.float16: 1e-2,
    tf.bfloat16: 5e-2,
}


def tolerance(dtype) -> float:
    """The tolerance for ``dtype`` (a ``tf.DType`` or anything ``tf.as_dtype`` takes)."""
    dtype = tf.as_dtype(dtype)
    if dtype not in TOLERANCE:
        raise ValueError(
            f"No tolerance for dtype {dtype.name!r}; expected one of "
            f"{sorted(d.name for d in TOLERANCE)}."
        )
    return TOLERANCE[dtype]


def scaled_error(actual, expected, scale_floor: float = 0.0) -> float:
    """``max|actual - expected| / max(max|expected|, scale_floor)`` in float64; 0.0 for
    empty tensors.

    ``scale_floor``: the size of the terms the compared values were summed from, when
    that is larger than the values themselves (a weight trained to near zero by steps
    of a known size carries the rounding of those steps, not of its own size).
    """
    actual = np.asarray(_to_numpy(actual), dtype=np.float64)
    expected = np.asarray(_to_numpy(expected), dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(
            f"Cannot compare arrays of shapes {actual.shape} and {expected.shape}."
        )
    if actual.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(expected))), scale_floor, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(actual - expected)) / scale)


def _to_numpy(value):
    if isinstance(value, tf.IndexedSlices):
        value = tf.convert_to_tensor(value)
    if hasattr(value, "numpy"):
        return value.numpy()
    return value


def assert_close(actual, expected, dtype, what: str = "", scale_floor: float = 0.0) -> None:
    """Raise ``AssertionError`` unless ``scaled_error(actual, expected, scale_floor) <=
    tolerance(dtype)``."""
    err = scaled_error(actual, expected, scale_floor)
    tol = tolerance(dtype)
    if not (np.isfinite(err) and err <= tol):
        raise AssertionError(
            f"{what}: scaled error {err:.3g} exceeds the "
            f"{tf.as_dtype(dtype).name} tolerance {tol:.0e}"
        )
