"""Clipping by value, norm and global norm equals TensorFlow's, edge cases included.

Every comparison is against ``tf.clip_by_value``, ``tf.clip_by_norm``,
``tf.clip_by_global_norm`` or ``tf.linalg.global_norm`` on the same inputs, plus a
NumPy float64 evaluation of the docstring equation where that says more.
"""

import numpy as np
import pytest
import tensorflow as tf

from lowlevel import clipping
from lowlevel.optimizers import sum_repeated_rows
from lowlevel.tolerances import assert_close

DTYPES = [tf.float32, tf.float64]
SHAPES = [(3, 4), (5,), (2, 3, 2)]
# Thresholds around the data: the random tensors below have norms of a few units.
ACTING, NOT_ACTING = 0.5, 100.0
CLIP_NORMS = {"acting": ACTING, "not_acting": NOT_ACTING}


def random_tensors(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=s).astype(dtype.as_numpy_dtype)) for s in SHAPES]


def embedding_gradient(dtype, seed=0):
    """An IndexedSlices gradient of a [10, 4] table whose id 3 repeats."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(4, 4)).astype(dtype.as_numpy_dtype)
    return tf.IndexedSlices(tf.constant(values), tf.constant([1, 3, 3, 7]), tf.constant([10, 4]))


def assert_same_as_tf(actual, expected, dtype, what):
    """Same kind (None / IndexedSlices with the same indices / tensor), close values."""
    if expected is None:
        assert actual is None, what
        return
    if isinstance(expected, tf.IndexedSlices):
        assert isinstance(actual, tf.IndexedSlices), what
        np.testing.assert_array_equal(actual.indices, expected.indices)
        np.testing.assert_array_equal(actual.dense_shape, expected.dense_shape)
        actual, expected = actual.values, expected.values
    assert actual.dtype == expected.dtype, what
    assert_close(actual, expected, dtype, what)


def assert_equal_with_nan(actual, expected, what=""):
    """Bitwise-level agreement where NaN equals NaN in the same places."""
    if isinstance(expected, tf.IndexedSlices):
        actual, expected = actual.values, expected.values
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected), err_msg=what)


def np_norm(ts):
    return np.sqrt(sum(np.sum(np.asarray(t, np.float64) ** 2) for t in ts))


# ---------------------------------------------------------------------------------
# The equations, against TensorFlow and NumPy.
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (-100.0, 100.0)], ids=["acting", "not_acting"])
def test_clip_by_value_is_max_of_min_t_clip_value_max_and_clip_value_min(bounds, dtype):
    low, high = bounds
    for t in random_tensors(dtype):
        actual = clipping.clip_by_value(t, low, high)
        assert_same_as_tf(actual, tf.clip_by_value(t, low, high), dtype, "clip_by_value")
        np.testing.assert_array_equal(actual, np.maximum(np.minimum(t, high), low))
        if bounds == (-100.0, 100.0):
            np.testing.assert_array_equal(actual, t)


def test_clip_by_value_broadcasts_tensor_bounds_like_tf():
    t = random_tensors(tf.float32)[0]  # [3, 4]
    low = tf.constant([[-1.0], [-0.5], [0.0]])  # one bound per row: [3, 1]
    assert_same_as_tf(clipping.clip_by_value(t, low, 0.5), tf.clip_by_value(t, low, 0.5),
                      tf.float32, "broadcast bounds")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("case", CLIP_NORMS)
def test_clip_by_norm_is_t_times_clip_norm_over_max_of_norm_and_clip_norm(case, dtype):
    clip_norm = CLIP_NORMS[case]
    for t in random_tensors(dtype):
        actual = clipping.clip_by_norm(t, clip_norm)
        assert_same_as_tf(actual, tf.clip_by_norm(t, clip_norm), dtype, "clip_by_norm")
        norm = np_norm([t])
        assert_close(actual, np.asarray(t, np.float64) * clip_norm / max(norm, clip_norm),
                     dtype, "t * clip_norm / max(||t||, clip_norm)")
        assert_close(np_norm([actual]), min(norm, clip_norm), dtype, "norm after clipping")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_global_norm_is_sqrt_of_sum_of_all_squares(dtype):
    ts = random_tensors(dtype)
    actual = clipping.global_norm(ts)
    assert actual.dtype == dtype and actual.shape == []
    assert_close(actual, tf.linalg.global_norm(ts), dtype, "global_norm vs TF")
    assert_close(actual, np_norm(ts), dtype, "global_norm vs NumPy")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("case", CLIP_NORMS)
def test_global_norm_clip_scales_by_clip_norm_over_global_norm(case, dtype):
    clip_norm = CLIP_NORMS[case]
    ts = random_tensors(dtype)
    clipped, norm = clipping.clip_by_global_norm(ts, clip_norm)
    tf_clipped, tf_norm = tf.clip_by_global_norm(ts, clip_norm)
    assert_close(norm, tf_norm, dtype, "returned norm")
    assert_close(norm, np_norm(ts), dtype, "returned norm is the norm before clipping")
    for i, (a, e) in enumerate(zip(clipped, tf_clipped)):
        assert_same_as_tf(a, e, dtype, f"tensor {i}")
    scale = clip_norm / max(np_norm(ts), clip_norm)
    for a, t in zip(clipped, ts):
        assert_close(a, np.asarray(t, np.float64) * scale, dtype, "t_i * scale")
    assert_close(np_norm(clipped), min(np_norm(ts), clip_norm), dtype, "global norm after")
    if case == "not_acting":
        # scale = clip_norm / clip_norm is exactly 1 (TF's clip_norm * (1 / clip_norm)
        # need not be): below the threshold the gradients come back bit for bit.
        for a, t in zip(clipped, ts):
            np.testing.assert_array_equal(a, t)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_use_norm_replaces_the_computed_global_norm(dtype):
    ts = random_tensors(dtype)
    use_norm = tf.constant(10.0, dtype)
    clipped, norm = clipping.clip_by_global_norm(ts, 1.0, use_norm=use_norm)
    tf_clipped, _ = tf.clip_by_global_norm(ts, 1.0, use_norm=use_norm)
    assert float(norm) == 10.0
    for a, e in zip(clipped, tf_clipped):
        assert_same_as_tf(a, e, dtype, "scaled by 1 / use_norm")


# ---------------------------------------------------------------------------------
# IndexedSlices, None, zeros, inf and NaN.
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("case", CLIP_NORMS)
def test_indexed_slices_stay_indexed_slices_and_match_tf(case, dtype):
    clip_norm = CLIP_NORMS[case]
    g = embedding_gradient(dtype)
    assert_same_as_tf(clipping.clip_by_value(g, -0.5, 0.5), tf.clip_by_value(g, -0.5, 0.5),
                      dtype, "clip_by_value")
    assert_same_as_tf(clipping.clip_by_norm(g, clip_norm), tf.clip_by_norm(g, clip_norm),
                      dtype, "clip_by_norm")
    ts = [g] + random_tensors(dtype)
    clipped, norm = clipping.clip_by_global_norm(ts, clip_norm)
    tf_clipped, tf_norm = tf.clip_by_global_norm(ts, clip_norm)
    assert_close(norm, tf_norm, dtype, "global norm with IndexedSlices")
    for i, (a, e) in enumerate(zip(clipped, tf_clipped)):
        assert_same_as_tf(a, e, dtype, f"tensor {i}")


def test_norm_of_indexed_slices_is_norm_of_values_not_of_the_dense_sum_like_tf():
    # Two slices at row 1: stored values [3, 0] and [4, 0], dense row [7, 0].
    g = tf.IndexedSlices(tf.constant([[3.0, 0.0], [4.0, 0.0]]), tf.constant([1, 1]),
                         tf.constant([3, 2]))
    assert float(clipping.global_norm([g])) == float(tf.linalg.global_norm([g])) == 5.0
    assert float(tf.norm(tf.convert_to_tensor(g))) == 7.0
    # So clip_norm = 5 leaves the slices alone although the dense gradient has norm 7 ...
    np.testing.assert_array_equal(clipping.clip_by_norm(g, 5.0).values, g.values)
    np.testing.assert_array_equal(tf.clip_by_norm(g, 5.0).values, g.values)
    # ... and summing repeated rows first clips by the dense norm.
    dense_norm_clipped = clipping.clip_by_norm(sum_repeated_rows(g), 5.0)
    np.testing.assert_allclose(tf.convert_to_tensor(dense_norm_clipped), [[0, 0], [5, 0], [0, 0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_none_entries_pass_through_and_add_nothing_to_global_norm(dtype):
    t, u, _ = random_tensors(dtype)
    ts = [t, None, u, None]
    assert_close(clipping.global_norm(ts), clipping.global_norm([t, u]), dtype, "norm")
    clipped, norm = clipping.clip_by_global_norm(ts, ACTING)
    tf_clipped, tf_norm = tf.clip_by_global_norm(ts, ACTING)
    assert clipped[1] is None and clipped[3] is None
    assert_close(norm, tf_norm, dtype, "norm")
    for i, (a, e) in enumerate(zip(clipped, tf_clipped)):
        assert_same_as_tf(a, e, dtype, f"entry {i}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_zero_tensors_are_returned_as_zeros_without_nan(dtype):
    zeros = [tf.zeros(s, dtype) for s in SHAPES]
    for z in zeros:
        np.testing.assert_array_equal(clipping.clip_by_norm(z, 1.0), np.zeros(z.shape))
    clipped, norm = clipping.clip_by_global_norm(zeros, 1.0)
    assert float(norm) == 0.0
    for c in clipped:
        np.testing.assert_array_equal(c, np.zeros(c.shape))


def test_clip_by_norm_gradient_is_finite_at_zero_and_matches_tf():
    # d sqrt(s)/ds is infinite at s = 0; the norm is taken only where s > 0.
    weights = tf.constant([1.0, -2.0, 3.0], tf.float64)
    for x in [tf.zeros([3], tf.float64), tf.constant([3.0, 4.0, 12.0], tf.float64)]:
        grads = []
        for clip in (clipping.clip_by_norm, tf.clip_by_norm):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(clip(x, 1.0) * weights)
            grads.append(tape.gradient(y, x))
        assert np.all(np.isfinite(grads[0]))
        assert_close(grads[0], grads[1], tf.float64, f"gradient at {x.numpy()}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("bad", [np.inf, np.nan], ids=["inf", "nan"])
def test_inf_or_nan_global_norm_makes_every_clipped_tensor_all_nan_like_tf(bad, dtype):
    t, u, _ = random_tensors(dtype)
    t = tf.tensor_scatter_nd_update(t, [[0, 0]], tf.constant([bad], dtype))
    ts = [t, None, u, embedding_gradient(dtype)]
    clipped, norm = clipping.clip_by_global_norm(ts, 1.0)
    tf_clipped, tf_norm = tf.clip_by_global_norm(ts, 1.0)
    assert_equal_with_nan(norm, tf_norm, "global norm")
    assert (np.isinf(norm) if bad == np.inf else np.isnan(norm))
    assert clipped[1] is None
    assert isinstance(clipped[3], tf.IndexedSlices)
    for i in (0, 2, 3):
        values = clipped[i].values if i == 3 else clipped[i]
        assert np.all(np.isnan(values)), f"tensor {i} is not all NaN"
        assert_equal_with_nan(clipped[i], tf_clipped[i], f"tensor {i}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_clip_by_norm_and_clip_by_value_treat_inf_and_nan_like_tf(dtype):
    # ||t|| = inf: finite elements -> 0, infinite -> NaN. A NaN: all NaN.
    # clip_by_value: NaN stays NaN, +-inf become the bounds.
    for values in ([np.inf, 1.0, -2.0], [np.nan, 1.0, -2.0], [-np.inf, np.inf, 0.5]):
        t = tf.constant(values, dtype)
        assert_equal_with_nan(clipping.clip_by_norm(t, 1.0), tf.clip_by_norm(t, 1.0), str(values))
        assert_equal_with_nan(clipping.clip_by_value(t, -1.0, 1.0),
                              tf.clip_by_value(t, -1.0, 1.0), str(values))


def test_float32_squares_overflow_to_an_infinite_global_norm_like_tf():
    # Finite gradients near 1e20 square to inf in float32: the clip returns NaN.
    ts = [tf.constant([1e20, 1e20], tf.float32)]
    clipped, norm = clipping.clip_by_global_norm(ts, 1.0)
    tf_clipped, tf_norm = tf.clip_by_global_norm(ts, 1.0)
    assert np.isinf(norm) and np.isinf(tf_norm)
    assert_equal_with_nan(clipped[0], tf_clipped[0])
    assert np.all(np.isnan(clipped[0]))


# ---------------------------------------------------------------------------------
# tf.function and argument checks.
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_clipping_inside_tf_function_matches_eager(dtype):
    ts = [embedding_gradient(dtype), None] + random_tensors(dtype)

    def clip_all(ts, clip_norm):
        clipped, norm = clipping.clip_by_global_norm(ts, clip_norm)
        by_norm = [None if t is None else clipping.clip_by_norm(t, clip_norm) for t in ts]
        by_value = [None if t is None else clipping.clip_by_value(t, -clip_norm, clip_norm)
                    for t in ts]
        return clipped, norm, by_norm, by_value, clipping.global_norm(ts)

    # clip_norm as a run-time tensor: the > 0 check cannot run, the maths must.
    compiled = tf.function(clip_all)(ts, tf.constant(ACTING, dtype))
    eager = clip_all(ts, ACTING)
    for a, e in zip(tf.nest.flatten(compiled, expand_composites=True),
                    tf.nest.flatten(eager, expand_composites=True)):
        if e is None:
            assert a is None
        elif e.dtype.is_floating:
            assert_close(a, e, dtype, "tf.function vs eager")
        else:
            np.testing.assert_array_equal(a, e)
    assert compiled[0][1] is None and isinstance(compiled[0][0], tf.IndexedSlices)


@pytest.mark.parametrize("name", ["clip_by_value", "clip_by_norm", "global_norm",
                                  "clip_by_global_norm"])
def test_the_clipping_functions_are_traced_as_written_not_converted_by_autograph(
        name, kept_out_of_autograph):
    """Their branches are on Python values only; the test above runs them inside a
    converted ``tf.function``."""
    assert kept_out_of_autograph(getattr(clipping, name))


@pytest.mark.parametrize("clip_norm, message", [
    (0.0, "`clip_norm` must be > 0; received 0.0"),
    (-1.0, "`clip_norm` must be > 0; received -1.0"),
    (tf.constant(0.0), "`clip_norm` must be > 0"),
    ([1.0, 2.0], "`clip_norm` must be a scalar; received shape \\[2\\]"),
])
def test_non_positive_or_non_scalar_clip_norm_raises_value_error(clip_norm, message):
    ts = random_tensors(tf.float32)
    with pytest.raises(ValueError, match=message):
        clipping.clip_by_norm(ts[0], clip_norm)
    with pytest.raises(ValueError, match=message):
        clipping.clip_by_global_norm(ts, clip_norm)


def test_clip_value_min_above_clip_value_max_raises_value_error():
    with pytest.raises(ValueError, match="`clip_value_min` must be <= `clip_value_max`"):
        clipping.clip_by_value(tf.ones([2]), 1.0, -1.0)


def test_bounds_that_would_enlarge_t_raise_value_error():
    with pytest.raises(ValueError, match="must broadcast to the shape of `t`"):
        clipping.clip_by_value(tf.ones([3]), tf.zeros([2, 3]), 1.0)


def test_global_norm_rejects_no_tensors_mixed_dtypes_and_non_sequences():
    with pytest.raises(ValueError, match="`t_list` must hold at least one tensor"):
        clipping.global_norm([None, None])
    with pytest.raises(ValueError, match="`t_list` must hold tensors of one dtype"):
        clipping.global_norm([tf.ones([2], tf.float32), tf.ones([2], tf.float64)])
    with pytest.raises(TypeError, match="`t_list` must be a list or tuple"):
        clipping.clip_by_global_norm(tf.ones([2]), 1.0)
