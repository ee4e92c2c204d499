"""The tutorial's classifier from scratch equals its Keras twin in ``reference/``.

With dropout off and the same weights and batches: equal logits, equal gradients,
and loss trajectories that agree to 1e-4 relative over 20 RMSprop steps. The Keras
side densifies its embedding gradient before the update: Keras 3's RMSprop
mishandles an ``IndexedSlices`` gradient whose ids repeat (see test_optimizers.py).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lowlevel_reference as reference
from lowlevel import compiled, optimizers
from lowlevel.loops import registry
from lowlevel.models import SentimentClassifier
from lowlevel.tolerances import assert_close
from lowlevel.train import Clip, binary_cross_entropy, make_train_step

SIZES = dict(num_words=40, embedding_dim=6, units=8)
CELLS = ["simple", "lstm", "gru"]
STYLES = ["cell", "layer"]


def _twins(cell, style, seed=0):
    theirs = reference.build_model(cell, style, dropout=0.0, head_dropout=0.0, seed=seed,
                                   **SIZES)
    ours = SentimentClassifier(cell, style, head_units=SIZES["units"], dropout=0.0,
                               head_dropout=0.0, **SIZES)
    # Non-default weights everywhere, non-zero biases included.
    rng = np.random.default_rng(seed)
    theirs.set_weights([rng.normal(0, 0.3, w.shape).astype("float32")
                        for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _batches(n, batch=6, time_steps=10, seed=1):
    rng = np.random.default_rng(seed)
    # Small vocabulary and batch: ids repeat within a batch, as in real text.
    return [(tf.constant(rng.integers(0, SIZES["num_words"], [batch, time_steps])),
             tf.constant(rng.integers(0, 2, [batch]))) for _ in range(n)]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("cell", CELLS)
def test_twin_models_give_equal_logits_and_gradients(cell, style, device):
    ours, theirs = _twins(cell, style)
    ids, labels = _batches(1)[0]
    with tf.GradientTape() as tape:  # a tape per model (see the dropout test below)
        our_logits = ours(ids, training=True)
        our_loss = binary_cross_entropy(our_logits, labels)
    our_grads = tape.gradient(our_loss, ours.trainable_variables)
    with tf.GradientTape() as tape:
        their_logits = theirs(ids, training=True, return_logits=True)
        their_loss = binary_cross_entropy(their_logits, labels)
    their_grads = tape.gradient(their_loss, theirs.trainable_weights)
    assert_close(our_logits, their_logits, tf.float32, "logits")
    assert len(our_grads) == len(their_grads) == len(ours.weights)
    for a, b, w in zip(our_grads, their_grads, ours.weights):
        assert_close(tf.convert_to_tensor(a), tf.convert_to_tensor(b), tf.float32, w.name)


def _keras_rmsprop_step(model, optimizer):
    @tf.function
    def step(ids, labels):
        with tf.GradientTape() as tape:
            loss = binary_cross_entropy(model(ids, training=True, return_logits=True), labels)
        grads = tape.gradient(loss, model.trainable_weights)
        # Densified: the dense gradient is the definition of the update.
        grads = [tf.convert_to_tensor(g) for g in grads]
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss
    return step


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("cell", CELLS)
def test_twin_models_follow_the_same_loss_trajectory_over_20_rmsprop_steps(cell, style):
    ours, theirs = _twins(cell, style)
    our_step = make_train_step(ours, optimizers.RMSprop(1e-3), Clip())
    their_step = _keras_rmsprop_step(theirs, keras.optimizers.RMSprop(1e-3))
    our_losses, their_losses = [], []
    for ids, labels in _batches(20):
        our_losses.append(float(our_step(ids, labels)["loss"]))
        their_losses.append(float(their_step(ids, labels)))
    our_losses, their_losses = np.array(our_losses), np.array(their_losses)
    relative = np.abs(our_losses - their_losses) / np.abs(their_losses)
    assert relative.max() < 1e-4, f"loss trajectories part: {relative.max():.2e}"
    # And training did move the weights (the comparison is not of two frozen models).
    assert abs(their_losses[0] - their_losses[-1]) > 1e-3
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_cell_style_and_layer_style_compute_the_same_function():
    cell_style, _ = _twins("lstm", "cell")
    layer_style = SentimentClassifier("lstm", "layer", head_units=SIZES["units"],
                                      dropout=0.0, head_dropout=0.0, **SIZES)
    layer_style.set_weights(cell_style.get_weights())
    ids, _ = _batches(1)[0]
    assert_close(cell_style(ids), layer_style(ids), tf.float32, "cell vs layer style")


@pytest.fixture
def served(monkeypatch):
    """The names of the loops the registry serves from now on, in call order."""
    names = []
    serving = registry.serving
    monkeypatch.setattr(registry, "serving",
                        lambda *args: names.append(serving(*args)) or names[-1])
    return names


@pytest.mark.parametrize("called, loop", [("eagerly", "fast"),
                                          ("in a compiled step", "unrolled")])
@pytest.mark.parametrize("cell", CELLS)
def test_cell_style_is_its_stack_stepped_at_every_word_by_a_python_loop(cell, called, loop,
                                                                         served):
    """The cell style's loop (the one ``'auto'`` chooses) against the tutorial's ``MyRNN``
    loop over the words: float64, dropout on (the same masks: each model's cells draw
    from generators seeded alike), outputs and every recurrent weight's gradient."""
    def model():
        return SentimentClassifier(cell, "cell", dropout=0.4, seed=7, dtype=tf.float64,
                                   **SIZES)
    ours, by_hand = model(), model()
    by_hand.set_weights(ours.get_weights())
    ids, _ = _batches(1)[0]

    def our_forward_and_gradients(ids):
        with tf.GradientTape() as tape:
            h = ours.encode(ids, training=True)
        return h, tape.gradient(h, ours.rnn.trainable_variables)

    if called == "in a compiled step":
        our_forward_and_gradients = compiled.function(our_forward_and_gradients)
    h, our_gradients = our_forward_and_gradients(ids)
    assert served == [loop]
    with tf.GradientTape() as tape:
        x = by_hand.embedding(ids)  # [batch, time, embedding_dim]
        states = by_hand.rnn.get_initial_state(tf.shape(x)[0])
        masks = by_hand.rnn.draw_dropout_masks(tf.shape(x)[0])
        for word in tf.unstack(x, axis=1):
            h_by_hand, states = by_hand.rnn.step(word, states, masks)
    by_hand_gradients = tape.gradient(h_by_hand, by_hand.rnn.trainable_variables)
    assert_close(h, h_by_hand, tf.float64, "cell style vs the loop over the words")
    assert not np.allclose(h, ours.encode(ids, training=False))  # dropout acted
    assert len(our_gradients) == len(ours.rnn.trainable_variables) > 0
    for a, b in zip(our_gradients, by_hand_gradients):
        assert_close(a, b, tf.float64, "recurrent weight gradient")


@pytest.mark.parametrize("implementation", ["reference", "bptt", "unrolled"])
def test_layer_style_on_every_implementation_trains_as_the_default_one(implementation):
    """The time loop changes no number: 5 RMSprop steps with dropout on (same seeds)."""
    def model(implementation):
        return SentimentClassifier("gru", "layer", head_units=SIZES["units"], dropout=0.3,
                                   head_dropout=0.3, seed=4, implementation=implementation,
                                   **SIZES)
    default, other = model(None), model(implementation)
    other.set_weights(default.get_weights())
    assert all(layer.implementation == implementation for layer in other.rnn)
    steps = [make_train_step(m, optimizers.RMSprop(1e-2), Clip()) for m in (default, other)]
    for ids, labels in _batches(5):
        losses = [float(step(ids, labels)["loss"]) for step in steps]
        assert_close(losses[1], losses[0], tf.float32, f"{implementation} loss")
    for a, b in zip(other.get_weights(), default.get_weights()):
        assert_close(a, b, tf.float32, f"{implementation} weights after 5 steps")


@pytest.mark.parametrize("implementation", [None, "reference", "unrolled"])
def test_layer_style_runs_its_layers_as_one_stacked_time_loop(implementation):
    model = SentimentClassifier("lstm", "layer", implementation=implementation, **SIZES)
    assert model.stacked is not None
    assert model.stacked.cell.cells == [layer.cell for layer in model.rnn]
    assert model.stacked.implementation == model.rnn[0].implementation
    # Seen once by trainable_variables and checkpoints: through `rnn`, not the stack.
    assert len(model.trainable_variables) == len(model.weights)


def test_layers_run_in_turn_for_bptt_and_the_cell_style():
    assert SentimentClassifier("lstm", "layer", implementation="bptt", **SIZES).stacked is None
    assert SentimentClassifier("lstm", "cell", **SIZES).stacked is None


@pytest.mark.parametrize("cell", CELLS)
def test_stacked_layer_style_equals_its_layers_called_in_turn_with_dropout(cell):
    """Same function and same dropout masks: each cell draws from its own generator."""
    def model():
        return SentimentClassifier(cell, "layer", dropout=0.4, seed=7, **SIZES)
    stacked, in_turn = model(), model()
    in_turn.set_weights(stacked.get_weights())
    ids, _ = _batches(1)[0]
    # A tape per model: one persistent tape over eager layer calls has TensorFlow build
    # each call's higher-order gradient functions too (seconds per call).
    with tf.GradientTape() as tape:
        ours = stacked.encode(ids, training=True)
    stacked_gradients = tape.gradient(ours, stacked.trainable_variables[1:7])
    with tf.GradientTape() as tape:
        x = in_turn.embedding(ids)
        for layer in in_turn.rnn:
            x = layer(x, training=True)
    in_turn_gradients = tape.gradient(x, in_turn.trainable_variables[1:7])
    assert_close(ours, x, tf.float32, "stacked vs in turn, dropout on")
    assert not np.allclose(ours, stacked.encode(ids, training=False))  # dropout acted
    for a, b in zip(stacked_gradients, in_turn_gradients):
        assert_close(a, b, tf.float32, "recurrent weight gradient")


@pytest.mark.parametrize("implementation", ["fast", "unrolled", "reference"])
def test_cell_style_runs_its_stack_on_the_implementation_asked_for(implementation, served):
    default, asked = _twins("gru", "cell")[0], SentimentClassifier(
        "gru", "cell", implementation=implementation, dropout=0.0, head_dropout=0.0,
        head_units=SIZES["units"], **SIZES)
    asked.set_weights(default.get_weights())
    ids, _ = _batches(1)[0]
    assert_close(asked(ids), default(ids), tf.float32, f"cell style on {implementation}")
    assert served == [implementation, "fast"]  # the default, called eagerly: rule 1


def test_bptt_is_refused_for_the_cell_style_naming_why():
    with pytest.raises(ValueError, match=r"implementation='bptt' cannot run style='cell' "
                                         r"\(a stack of cells stepped together\): "
                                         r"StackedCells has no `backward` step.*"
                                         r"Use style='layer'"):
        SentimentClassifier("lstm", "cell", implementation="bptt", **SIZES)


def test_frozen_embedding_is_not_trained_and_fine_tuned_one_is():
    matrix = np.random.default_rng(2).normal(size=[SIZES["num_words"], 5]).astype("float32")
    for trainable in (False, True):
        model = SentimentClassifier("gru", "layer", units=8, head_units=8,
                                    embedding_matrix=matrix, trainable_embedding=trainable)
        assert any(v is model.embedding.embeddings for v in model.trainable_variables) == trainable
        step = make_train_step(model, optimizers.RMSprop(1e-2), Clip("global_norm", 1.0))
        for ids, labels in _batches(2):
            step(ids, labels)
        changed = not np.array_equal(model.embedding.embeddings.numpy(), matrix)
        assert changed == trainable


@pytest.mark.parametrize("mode,threshold", [("value", 1e-3), ("norm", 1e-2),
                                            ("global_norm", 1e-2)])
def test_train_step_reports_pre_clip_norm_and_whether_clipping_acted(mode, threshold):
    model = SentimentClassifier("simple", "cell", head_units=8, seed=0, **SIZES)
    # Unique ids: the embedding gradient's slices are then its dense rows, so the
    # applied update can be checked against the threshold row by row.
    ids = tf.constant(np.random.default_rng(3).permutation(SIZES["num_words"])[:20]
                      .reshape(2, 10))
    labels = tf.constant([0, 1])
    with tf.GradientTape() as tape:
        loss = binary_cross_entropy(model(ids, training=False), labels)
    norm = float(tf.linalg.global_norm(
        [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
         for g in tape.gradient(loss, model.trainable_variables)]))
    model = SentimentClassifier("simple", "cell", head_units=8, seed=0, dropout=0.0,
                                head_dropout=0.0, **SIZES)
    before = model.get_weights()
    model.set_weights(before)
    report = make_train_step(model, optimizers.SGD(1.0), Clip(mode, threshold))(ids, labels)
    assert bool(report["clipped"])
    assert float(report["global_norm"]) > threshold
    # SGD with lr 1 makes the applied update equal the clipped gradient.
    update = [b - a for a, b in zip(model.get_weights(), before)]
    # w - g is rounded to float32 at the scale of w, not of g: allow that rounding.
    rounding = 2 * np.finfo(np.float32).eps * max(np.abs(w).max() for w in before)
    if mode == "value":
        assert max(np.abs(u).max() for u in update) <= threshold + rounding
    elif mode == "norm":
        assert max(np.linalg.norm(u) for u in update) <= threshold * (1 + 1e-4) + \
            rounding * np.sqrt(max(u.size for u in update))
    else:
        total = np.sqrt(sum(np.sum(u.astype(np.float64) ** 2) for u in update))
        elements = sum(u.size for u in update)
        assert total == pytest.approx(threshold, rel=1e-4, abs=rounding * np.sqrt(elements))
    assert norm > 0


def test_clip_parse_reads_mode_and_threshold_and_rejects_nonsense():
    assert Clip.parse("global_norm:5") == Clip("global_norm", 5.0)
    assert Clip.parse("none") == Clip()
    with pytest.raises(ValueError, match="clip"):
        Clip.parse("global_norm:")
    with pytest.raises(ValueError, match="clip"):
        Clip.parse("sideways:1")
    with pytest.raises(ValueError, match="threshold"):
        Clip("norm", -1.0)


@pytest.mark.parametrize("method", ["__call__", "encode"])
def test_the_classifiers_calls_are_marked_not_to_be_converted_by_autograph(
        method, kept_out_of_autograph):
    """As the layers' calls (tests/layers/test_autograph_is_kept_out.py): their control
    flow is on Python values only."""
    assert kept_out_of_autograph(getattr(SentimentClassifier, method))
