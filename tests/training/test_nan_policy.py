"""The NaN policy of the training step: what is checked is what would be applied.

A step whose clipped gradients are not all finite changes no weight and no optimiser
slot and says so (``applied = False``); thresholds that would poison the update (inf,
NaN, <= 0) are refused, and a negative one inside ``tf.function`` is an error rather
than a silent sign flip.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from lowlevel import clipping, optimizers
from lowlevel.models import SentimentClassifier
from lowlevel.train import Clip, make_train_step


def small_model():
    return SentimentClassifier(cell="simple", style="cell", num_words=20, embedding_dim=3,
                               units=2, num_layers=1, dropout=0.0, head_units=2,
                               head_dropout=0.0, seed=0)


def batch():
    ids = tf.constant(np.random.default_rng(0).integers(1, 20, size=(4, 5)), tf.int32)
    return ids, tf.constant([0, 1, 0, 1], tf.int32)


def snapshot(model, optimizer):
    return [v.numpy().copy() for v in model.trainable_variables] + [
        v.numpy().copy() for slot in optimizer._slots for v in slot.values()]


def test_a_finite_step_applies_the_update_and_reports_its_norm():
    model, optimizer = small_model(), optimizers.Adam(0.01)
    step = make_train_step(model, optimizer, Clip("global_norm", 1.0))
    before = snapshot(model, optimizer)
    report = step(*batch())
    after = snapshot(model, optimizer)
    assert bool(report["applied"])
    assert float(report["applied_norm"]) == pytest.approx(min(float(report["global_norm"]), 1))
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert int(optimizer.iterations) == 1


def test_a_non_finite_clipped_update_changes_no_weight_and_no_slot():
    model, optimizer = small_model(), optimizers.Adam(0.01)
    loss_is_nan = lambda logits, labels: tf.reduce_mean(logits) * np.float32("nan")
    step = make_train_step(model, optimizer, Clip("norm", 1.0), loss_fn=loss_is_nan)
    before = snapshot(model, optimizer)
    report = step(*batch())
    after = snapshot(model, optimizer)
    assert not bool(report["applied"]) and not math.isfinite(float(report["applied_norm"]))
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert int(optimizer.iterations) == 0


@pytest.mark.parametrize("threshold", [math.inf, -math.inf, math.nan, 0.0, -1.0])
@pytest.mark.parametrize("mode", ["value", "norm", "global_norm"])
def test_clip_refuses_thresholds_that_are_not_finite_and_positive(mode, threshold):
    with pytest.raises(ValueError, match="finite threshold > 0"):
        Clip(mode, threshold)


@pytest.mark.parametrize("text", ["global_norm:inf", "norm:nan", "value:-2", "norm:0"])
def test_clip_parse_refuses_the_command_line_forms_of_those_thresholds(text):
    with pytest.raises(ValueError, match="finite threshold > 0"):
        Clip.parse(text)


@pytest.mark.parametrize("clip", [
    lambda g, t: clipping.clip_by_norm(g, t),
    lambda g, t: clipping.clip_by_global_norm([g], t)[0][0],
], ids=["clip_by_norm", "clip_by_global_norm"])
def test_a_negative_threshold_inside_tf_function_is_an_error_not_a_sign_flip(clip):
    g = tf.constant([3.0, 4.0])
    compiled = tf.function(clip)
    assert np.allclose(compiled(g, tf.constant(1.0)).numpy(), [0.6, 0.8])
    with pytest.raises(tf.errors.InvalidArgumentError, match="`clip_norm` must be > 0"):
        compiled(g, tf.constant(-1.0))


def test_clip_by_value_bounds_in_the_wrong_order_inside_tf_function_are_an_error():
    compiled = tf.function(lambda g, low, high: clipping.clip_by_value(g, low, high))
    assert np.array_equal(compiled(tf.constant([-3.0, 3.0]), tf.constant(-1.0),
                                   tf.constant(1.0)).numpy(), [-1.0, 1.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="clip_value_min"):
        compiled(tf.constant([-3.0, 3.0]), tf.constant(1.0), tf.constant(-1.0))
