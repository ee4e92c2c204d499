"""Promises of :class:`lowlevel.Embedding`: a lookup table, its sparse gradient, its mask."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

VOCAB, DIM = 7, 3
IDS = np.array([[1, 4, 4, 0],
                [6, 1, 2, 4]])  # [batch, time]; id 4 three times, id 1 twice, 3 and 5 never


def table(seed=0):
    return np.random.default_rng(seed).normal(size=(VOCAB, DIM)).astype(np.float32)


def embedding_with(matrix, **kwargs):
    embedding = lowlevel.Embedding(VOCAB, DIM, **kwargs)
    embedding.set_weights([matrix])
    return embedding


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("ids_dtype", [np.int32, np.int64, np.uint8])
def test_lookup_equals_numpy_indexing_matrix_of_ids(ids_dtype, mode):
    matrix = table()
    embedding = embedding_with(matrix)
    lookup = embedding.__call__ if mode == "eager" else tf.function(embedding.__call__)
    out = lookup(tf.constant(IDS.astype(ids_dtype)))
    assert out.shape == (2, 4, DIM) and out.dtype == tf.float32
    np.testing.assert_array_equal(out.numpy(), matrix[IDS])


def test_set_weights_replaces_the_table_and_get_weights_returns_it():
    matrix = table(1)
    embedding = embedding_with(matrix)
    np.testing.assert_array_equal(embedding.get_weights()[0], matrix)
    np.testing.assert_array_equal(embedding.embeddings.numpy(), matrix)
    assert tuple(embedding.embeddings.shape) == (VOCAB, DIM)


def test_trainable_false_keeps_the_table_out_of_trainable_variables():
    frozen = lowlevel.Embedding(VOCAB, DIM, trainable=False)
    assert frozen.trainable_variables == ()
    assert frozen.variables == (frozen.embeddings,)
    assert not frozen.embeddings.trainable
    trainable = lowlevel.Embedding(VOCAB, DIM)
    assert trainable.trainable_variables == (trainable.embeddings,)
    assert trainable.embeddings.trainable


def test_frozen_table_receives_no_gradient_through_trainable_variables():
    frozen = embedding_with(table(), trainable=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(frozen(IDS))
    assert tape.gradient(loss, frozen.trainable_variables) == ()


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_gradient_is_indexed_slices_that_densify_to_the_scatter_add_over_ids(mode):
    matrix = table(2)
    embedding = embedding_with(matrix)
    upstream = np.random.default_rng(3).normal(size=IDS.shape + (DIM,)).astype(np.float32)

    def gradient(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(embedding(ids) * upstream)
        return tape.gradient(loss, embedding.embeddings)

    grad = (gradient if mode == "eager" else tf.function(gradient))(tf.constant(IDS))

    assert isinstance(grad, tf.IndexedSlices)
    # d loss / d table[v] = sum of upstream[b, t] over every (b, t) with ids[b, t] == v.
    expected = np.zeros((VOCAB, DIM), np.float32)
    np.add.at(expected, IDS, upstream)
    dense = tf.convert_to_tensor(grad).numpy()
    assert_close(dense, expected, tf.float32, "densified embedding gradient")
    np.testing.assert_array_equal(dense[[3, 5]], 0.0)  # rows never looked up
    np.testing.assert_allclose(dense[4], upstream[0, 1] + upstream[0, 2] + upstream[1, 3],
                               rtol=1e-6)


def test_compute_mask_with_mask_zero_is_ids_not_equal_zero():
    embedding = lowlevel.Embedding(VOCAB, DIM, mask_zero=True)
    mask = embedding.compute_mask(IDS)
    assert mask.dtype == tf.bool
    np.testing.assert_array_equal(mask.numpy(), IDS != 0)


def test_compute_mask_without_mask_zero_is_none():
    assert lowlevel.Embedding(VOCAB, DIM).compute_mask(IDS) is None


def test_compute_mask_feeds_a_layer_that_then_skips_the_padding():
    embedding = lowlevel.Embedding(VOCAB, DIM, mask_zero=True)
    layer = lowlevel.GRU(4, input_dim=DIM)
    padded = np.array([[3, 5, 0, 0]])
    masked = layer(embedding(padded), mask=embedding.compute_mask(padded))
    unpadded = layer(embedding(padded[:, :2]))
    assert_close(masked, unpadded, tf.float32, "masked padded vs unpadded")


def test_default_initializer_is_uniform_in_minus_0_05_to_0_05():
    values = lowlevel.Embedding(1000, 20).embeddings.numpy()  # 20,000 draws
    assert values.min() >= -0.05 and values.max() <= 0.05
    # Uniform, not constant or normal: the spread fills the interval.
    assert values.min() < -0.049 and values.max() > 0.049
    assert np.std(values) == pytest.approx(0.1 / np.sqrt(12), rel=0.03)
    assert len(np.unique(values)) > 19_000


def test_float64_embedding_looks_up_float64_rows():
    matrix = table().astype(np.float64)
    embedding = lowlevel.Embedding(VOCAB, DIM, dtype=tf.float64)
    embedding.set_weights([matrix])
    out = embedding(IDS)
    assert out.dtype == tf.float64
    np.testing.assert_array_equal(out.numpy(), matrix[IDS])
