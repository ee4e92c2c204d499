"""The Keras yardstick in ``reference/``: the tutorial's models, fixed, and their promises.

Small sizes throughout (vocabulary 50, maxlen 12, units 8, embedding 6, batch 5
plus a partial batch of 3) so the whole file runs in well under a minute on CPU.
"""

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel_reference as reference
from lowlevel.tolerances import assert_close
from lowlevel_reference import (
    CELLS,
    STYLES,
    build_model,
    clip_gradients,
    compile_like_tutorial,
    embedding_matrix_from_vectors,
    global_norm,
    make_train_step,
    train,
)

SMALL = dict(num_words=50, maxlen=12, units=8, embedding_dim=6)
BATCH, PARTIAL = 5, 3


def _ids(batch=BATCH, seed=0):
    """``[batch, maxlen]`` int32 word ids."""
    return np.random.default_rng(seed).integers(0, SMALL["num_words"], (batch, SMALL["maxlen"])).astype("int32")


def _labels(batch=BATCH, seed=0):
    """``[batch]`` float32 labels in {0, 1}."""
    return np.random.default_rng(seed + 100).integers(0, 2, (batch,)).astype("float32")


def _model(cell="simple", style="cell", **kwargs):
    return build_model(cell, style, **{**SMALL, **kwargs})


# --- Shapes and probabilities -------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_and_style_returns_probabilities_of_shape_batch_by_1(cell, style):
    model = _model(cell, style)
    x = _ids()
    for training in (False, True):
        prob = model(x, training=training).numpy()
        assert prob.shape == (BATCH, 1)
        assert np.all((prob > 0) & (prob < 1))
    logits = model(x, training=False, return_logits=True)
    assert_close(tf.sigmoid(logits), model(x, training=False), tf.float32, "sigmoid(logits) vs probabilities")


def test_weights_exist_before_the_first_call_with_tutorial_names():
    model = _model("lstm", "cell")
    assert model.built and len(model.weights) == 11  # embedding 1, two cells 3 each, head 4
    assert model.embedding.embeddings.shape == (SMALL["num_words"], SMALL["embedding_dim"])
    assert model.rnn_cell0.kernel.shape == (SMALL["embedding_dim"], 4 * SMALL["units"])
    assert model.rnn_cell1.kernel.shape == (SMALL["units"], 4 * SMALL["units"])
    assert [type(layer).__name__ for layer in model.outlayer.layers] == ["Dense", "Dropout", "ReLU", "Dense"]


@pytest.mark.parametrize("cell, n_state", [("simple", 1), ("lstm", 2), ("gru", 1)])
def test_cell_style_state_is_a_list_per_cell_and_h_c_for_lstm(cell, n_state):
    model = _model(cell, "cell")
    state0, state1 = model.initial_state(PARTIAL)
    for state in (state0, state1):
        assert isinstance(state, list) and len(state) == n_state
        assert all(tuple(s.shape) == (PARTIAL, SMALL["units"]) for s in state)
    word = tf.zeros([PARTIAL, SMALL["embedding_dim"]])
    out, new_state = model.rnn_cell0(word, state0, training=False)
    assert isinstance(new_state, list) and len(new_state) == n_state
    assert_close(new_state[0], out, tf.float32, "h is the output")  # [h] or [h, c]


# --- Fix (2): fresh dropout masks, in every graph -----------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_cell_style_draws_a_fresh_mask_per_training_call_and_is_deterministic_in_eval(cell):
    # head_dropout=0: any difference comes from the cells' masks alone.
    model = _model(cell, "cell", dropout=0.5, head_dropout=0.0)
    x = _ids()
    first, second = model(x, training=True).numpy(), model(x, training=True).numpy()
    assert not np.array_equal(first, second), "a cached mask was reused across calls"
    eval_a, eval_b = model(x, training=False).numpy(), model(x, training=False).numpy()
    np.testing.assert_array_equal(eval_a, eval_b)
    assert model.rnn_cell0._dropout_mask is None  # nothing left behind for the next graph


def test_cell_style_with_dropout_runs_in_two_graphs_and_eagerly_after_tracing():
    model = _model("lstm", "cell", dropout=0.5, head_dropout=0.0)
    x = _ids()
    tf.function(lambda v: model(v, training=True))(x)
    # The unfixed cell keeps the first graph's mask and fails here (InaccessibleTensorError) ...
    tf.function(lambda v: model(v, training=True))(x)
    model(x, training=True)  # ... and here.


def test_a_graph_traced_after_an_eager_call_draws_a_new_mask_per_run():
    model = _model("lstm", "cell", dropout=0.5, head_dropout=0.0)
    x = _ids()
    model(x, training=True)  # the unfixed cell would carry this eager mask into the graph as a constant
    forward = tf.function(lambda v: model(v, training=True))
    assert not np.array_equal(forward(x).numpy(), forward(x).numpy()), "the graph froze one mask"


def test_cell_style_with_dropout_fits_one_epoch_with_a_partial_last_batch():
    model = compile_like_tutorial(_model("simple", "cell", dropout=0.5))
    x = np.concatenate([_ids(BATCH), _ids(PARTIAL, seed=1)])  # batches of 5 then 3
    y = np.concatenate([_labels(BATCH), _labels(PARTIAL, seed=1)])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)  # no drop_remainder
    history = train(model, dataset, val_ds=dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])


# --- Fix (4): zero states sized from the batch at hand -----------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_cell_style_accepts_a_partial_batch_after_a_full_one(cell):
    model = _model(cell, "cell")
    forward = tf.function(lambda v: model(v, training=False), reduce_retracing=True)
    assert forward(_ids(BATCH)).shape == (BATCH, 1)
    assert forward(_ids(PARTIAL)).shape == (PARTIAL, 1)
    assert model(_ids(PARTIAL), training=True).shape == (PARTIAL, 1)


# --- The tutorial's claim: both styles compute the same function ---------------------------


def _twins(cell, **kwargs):
    """A cell-style and a layer-style model, the second holding the first's weights."""
    cell_model, layer_model = _model(cell, "cell", **kwargs), _model(cell, "layer", **kwargs)
    cell_weights, layer_weights = cell_model.get_weights(), layer_model.get_weights()
    assert [w.shape for w in cell_weights] == [w.shape for w in layer_weights]
    layer_model.set_weights(cell_weights)
    return cell_model, layer_model


@pytest.mark.parametrize("cell", list(CELLS))
def test_stepping_cells_by_hand_equals_the_rnn_layers_with_the_same_weights(cell, device):
    cell_model, layer_model = _twins(cell, dropout=0.0)
    # The per-component weights line up too: cell k <-> layer k's cell.
    for k, rnn_cell in enumerate((cell_model.rnn_cell0, cell_model.rnn_cell1)):
        for w_cell, w_layer in zip(rnn_cell.weights, layer_model.rnn.layers[k].cell.weights):
            np.testing.assert_array_equal(w_cell.numpy(), w_layer.numpy())
    for batch in (BATCH, PARTIAL):
        x = _ids(batch)
        for training in (False, True):
            assert_close(
                cell_model(x, training=training, return_logits=True),
                layer_model(x, training=training, return_logits=True),
                tf.float32,
                f"{cell} logits, batch {batch}, training={training}",
            )


@pytest.mark.parametrize("cell", list(CELLS))
def test_with_shared_seeds_both_styles_drop_the_same_units_once_per_sequence(cell):
    # Fresh models only: an eval call moves the styles' seed streams apart (see build_model).
    cell_model, layer_model = _twins(cell, dropout=0.5, seed=7)
    x = _ids()
    assert_close(
        cell_model(x, training=True, return_logits=True),
        layer_model(x, training=True, return_logits=True),
        tf.float32,
        f"{cell} training-mode logits with seed 7",
    )


# --- Fix (5): the GloVe variant -----------------------------------------------------------


def _glove(num_words=SMALL["num_words"], dim=7):
    return np.random.default_rng(3).normal(size=(num_words, dim)).astype("float32")


@pytest.mark.parametrize("style", STYLES)
def test_frozen_glove_embedding_is_not_trainable_and_survives_a_training_step(style):
    matrix = _glove()
    model = _model("lstm", style, embedding_matrix=matrix, trainable_embedding=False)
    assert model.embedding_dim == matrix.shape[1]  # the matrix's width wins over embedding_dim=6
    np.testing.assert_array_equal(model.embedding.embeddings.numpy(), matrix)
    assert all(w is not model.embedding.embeddings for w in model.trainable_weights)
    before = [w.numpy() for w in model.trainable_weights]
    make_train_step(model, keras.optimizers.RMSprop(1e-3), use_tf_function=False)(_ids(), _labels())
    np.testing.assert_array_equal(model.embedding.embeddings.numpy(), matrix)
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


def test_fine_tuned_glove_embedding_is_trainable_and_changes():
    matrix = _glove()
    model = _model("gru", "cell", embedding_matrix=matrix, trainable_embedding=True)
    assert any(w is model.embedding.embeddings for w in model.trainable_weights)
    make_train_step(model, keras.optimizers.RMSprop(1e-3))(_ids(), _labels())
    assert not np.array_equal(model.embedding.embeddings.numpy(), matrix)


def test_embedding_matrix_rows_follow_word_index_and_missing_words_stay_zero():
    vectors = {"good": np.full(4, 1.0), "bad": np.full(4, -1.0), "rare": np.full(4, 9.0)}
    word_index = {"good": 4, "bad": 7, "movie": 5, "rare": 10}  # "rare" is beyond num_words
    matrix = embedding_matrix_from_vectors(word_index, vectors, num_words=8)
    expected = np.zeros((8, 4), np.float32)
    expected[4], expected[7] = 1.0, -1.0
    np.testing.assert_array_equal(matrix, expected)


# --- Training: compile, and the GradientTape step with clipping ------------------------------


def test_compile_like_tutorial_uses_rmsprop_1e_3_and_binary_cross_entropy():
    model = compile_like_tutorial(_model())
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)


@pytest.mark.parametrize("clip", [None, ("value", 1e-3), ("norm", 1e-3), ("global_norm", 1e-3)])
def test_gradient_tape_step_runs_with_each_clip_mode(clip):
    model = _model("simple", "cell", dropout=0.5)
    step = make_train_step(model, keras.optimizers.RMSprop(1e-3), clip=clip)
    logs = step(_ids(), _labels())
    assert np.isfinite(logs["loss"].numpy())
    if clip is None:
        assert logs["clipped_grad_norm"].numpy() == logs["grad_norm"].numpy()
    if clip == ("global_norm", 1e-3):
        assert logs["grad_norm"].numpy() > 1e-3  # the clip was active
        assert logs["clipped_grad_norm"].numpy() <= 1e-3 * (1 + 1e-5)


def _embedding_like_grads():
    """A dense gradient and an ``IndexedSlices`` whose index 2 occurs twice (a word seen twice)."""
    dense = tf.constant([[3.0, -4.0], [0.5, 0.5]])
    sparse = tf.IndexedSlices(
        values=tf.constant([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0]]),
        indices=tf.constant([2, 2, 0]),
        dense_shape=tf.constant([4, 2]),
    )
    return [dense, sparse, None]


def _dense(grad):
    return tf.convert_to_tensor(grad).numpy()


def test_value_clip_bounds_every_dense_element_even_with_repeated_rows():
    clipped = clip_gradients(_embedding_like_grads(), ("value", 1.5))
    assert clipped[2] is None
    for g in clipped[:2]:
        assert np.max(np.abs(_dense(g))) <= 1.5  # without merging, row 2 would sum to 2.0


def test_norm_clip_bounds_each_dense_gradient_norm():
    clipped = clip_gradients(_embedding_like_grads(), ("norm", 1.0))
    for g in clipped[:2]:
        assert np.linalg.norm(_dense(g)) <= 1.0 + 1e-6


def test_global_norm_clip_scales_by_clip_norm_over_global_norm():
    grads = _embedding_like_grads()
    dense_norm = np.sqrt(sum(np.sum(_dense(g) ** 2) for g in grads[:2]))
    assert_close(global_norm(grads), dense_norm, tf.float32, "global norm of the dense gradients")
    clipped = clip_gradients(grads, ("global_norm", 1.0))
    for g, c in zip(grads[:2], clipped[:2]):
        assert_close(_dense(c), _dense(g) / dense_norm, tf.float32, "g * clip_norm / global_norm")
    assert float(global_norm(clipped)) <= 1.0 + 1e-6


@pytest.mark.parametrize(
    "clip, tf_clip",
    [
        (("value", 1.5), lambda g: tf.clip_by_value(g, -1.5, 1.5)),
        (("norm", 1.0), lambda g: tf.clip_by_norm(g, 1.0)),
    ],
)
def test_without_merging_duplicates_clipping_is_tensorflows_own(clip, tf_clip):
    grads = _embedding_like_grads()
    for ours, g in zip(clip_gradients(grads, clip, merge_duplicates=False)[:2], grads[:2]):
        np.testing.assert_array_equal(_dense(ours), _dense(tf_clip(g)))


# --- Arguments that teach --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cell="rnn"), "cell must be one of"),
        (dict(style="graph"), "style must be one of"),
        (dict(units=0), "units must be a positive int"),
        (dict(dropout=1.0), "dropout must be in"),
        (dict(embedding_matrix=np.zeros(3)), "embedding_matrix must be"),
    ],
)
def test_bad_model_arguments_name_the_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(**{**SMALL, **kwargs})


@pytest.mark.parametrize("clip", [("max", 1.0), ("norm", -1.0), ("norm",), 5.0])
def test_bad_clip_names_the_modes(clip):
    with pytest.raises(ValueError, match="clip must be None or"):
        clip_gradients([tf.ones(2)], clip)


def test_config_round_trips_and_the_package_never_imports_lowlevel():
    model = _model("gru", "layer", dropout=0.25, seed=3)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    package_dir = pathlib.Path(reference.__file__).parent
    for path in package_dir.glob("*.py"):
        source = path.read_text()
        assert not re.search(r"\b(import|from) lowlevel\b(?!_reference)", source), path.name
