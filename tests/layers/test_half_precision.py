"""float16 and bfloat16 are accepted: weights, states and outputs in that dtype, and
the result close to the same layer in float64 (tolerances of the one table)."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_half_precision_layer_tracks_its_float64_twin(kind, dtype):
    ours = getattr(lowlevel, kind)(5, input_dim=4, dtype=dtype, return_sequences=True)
    # Seeded weights, so that the half-precision margin does not ride on an unseeded draw.
    rng = np.random.default_rng(1)
    ours.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype) for w in ours.get_weights()])
    exact = getattr(lowlevel, kind)(5, input_dim=4, dtype="float64", return_sequences=True)
    exact.set_weights([w.astype("float64") for w in ours.get_weights()])
    x = np.random.default_rng(0).normal(size=[3, 6, 4])
    with tf.GradientTape() as tape:
        y = ours(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
    assert y.dtype == tf.as_dtype(dtype)
    assert all(w.dtype == tf.as_dtype(dtype) for w in ours.trainable_variables)
    assert all(g is not None and g.dtype == tf.as_dtype(dtype)
               for g in tape.gradient(loss, ours.trainable_variables))
    assert_close(tf.cast(y, tf.float64), exact(x), dtype, f"{kind} {dtype} vs float64")
