"""The one training step (``lowlevel.train.make_train_step``) trains the gradient lab's
regressor and the bench's callables too: its update is the tape's gradient put through
the optimiser, by hand; and its lean form (no norms, no finiteness check) makes the same
update as the full one."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowlevel import optimizers
from lowlevel.apps.data.tasks import adding_problem
from lowlevel.apps.lab.regression import SequenceRegressor, mean_squared_error
from lowlevel.apps.lab.training import make_regression_step
from lowlevel.tolerances import assert_close
from lowlevel import train
from lowlevel.train import Clip, make_train_step

LEARNING_RATE = 0.125  # exact in binary: the optimiser keeps it as a float32


def regressor(dtype=tf.float64):
    return SequenceRegressor("lstm", units=3, input_dim=2, seed=4, dtype=dtype)


def batch(dtype=tf.float64):
    x, y = adding_problem(5, 7, seed=2)
    return tf.constant(x, dtype), tf.constant(y, dtype)


def hand_sgd_update(model, x, y):
    """``w - lr * ∂L/∂w`` with ``L = mean((y_hat - y)^2)``, from one tape, in NumPy."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.variables_in_order)
    return [w.numpy() - LEARNING_RATE * g.numpy()
            for w, g in zip(model.variables_in_order, grads)]


@pytest.mark.parametrize("via", ["make_train_step", "make_regression_step"])
def test_the_steps_update_is_the_tapes_gradient_through_sgd(via):
    model, (x, y) = regressor(), batch()
    expected = hand_sgd_update(model, x, y)
    optimizer = optimizers.SGD(LEARNING_RATE)
    if via == "make_train_step":
        step = make_train_step(model, optimizer, loss_fn=mean_squared_error,
                               variables=model.variables_in_order, metrics={})
    else:
        step = make_regression_step(model, optimizer)
    report = step(x, y)
    assert bool(report["applied"])
    for w, e in zip(model.variables_in_order, expected):
        assert_close(w, e, tf.float64, w.name)


def _train(lean, optimizer_class, clip, steps=3):
    model, (x, y) = regressor(tf.float32), batch(tf.float32)
    step = make_train_step(model, optimizer_class(0.01), clip, mean_squared_error,
                           variables=model.variables_in_order, metrics={},
                           diagnostics=not lean)
    losses = [float(step(x, y)["loss"]) for _ in range(steps)]
    return losses, [w.numpy() for w in model.variables_in_order]


@pytest.mark.parametrize("optimizer_class", [optimizers.RMSprop, keras.optimizers.RMSprop],
                         ids=["lowlevel", "keras"])
@pytest.mark.parametrize("clip", [Clip(), Clip("global_norm", 0.05)], ids=["none", "clipped"])
def test_the_lean_step_makes_the_full_steps_update(optimizer_class, clip):
    full_losses, full = _train(False, optimizer_class, clip)
    lean_losses, lean = _train(True, optimizer_class, clip)
    assert_close(lean_losses, full_losses, tf.float32, "losses")
    for a, b in zip(lean, full):
        assert_close(a, b, tf.float32, "weights")


def test_the_lean_step_reports_the_loss_only():
    model, (x, y) = regressor(tf.float32), batch(tf.float32)
    step = make_train_step(lambda inputs: model(inputs), optimizers.SGD(0.01),
                           loss_fn=mean_squared_error, variables=model.variables_in_order,
                           metrics={}, diagnostics=False, compiled=False)
    expected = mean_squared_error(model(x), y)  # the loss before the update
    report = step(x, y)
    assert set(report) == {"loss"}
    assert_close(report["loss"], expected, tf.float32, "loss")


@pytest.mark.parametrize("name", ["clip_gradients", "variable_norms", "apply_if_finite",
                                  "binary_cross_entropy", "accuracy"])
def test_the_steps_own_parts_are_traced_as_written_not_converted_by_autograph(
        name, kept_out_of_autograph):
    """They branch on Python values only (the clip mode, ``None``); the step itself stays
    convertible, for a model or loss of the user's that needs AutoGraph."""
    assert kept_out_of_autograph(getattr(train, name))


def test_a_model_that_needs_autograph_still_trains_in_the_step():
    """A model looping with ``for t in tf.range(...)`` (AutoGraph's loop) inside the step."""
    w = tf.Variable([[0.5]])

    def model(x, training=False):
        h = tf.zeros([2, 1])
        for t in tf.range(tf.shape(x)[1]):
            h = tf.tanh(x[:, t] @ w + h)
        return h

    step = make_train_step(model, optimizers.SGD(LEARNING_RATE), variables=[w],
                           loss_fn=lambda p, y: tf.reduce_mean((p - y) ** 2), metrics={})
    x, y = tf.ones([2, 3, 1]), tf.zeros([2, 1])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    expected = w.numpy() - LEARNING_RATE * tape.gradient(loss, w).numpy()
    step(x, y)
    assert_close(w, expected, tf.float32, "w after one SGD step")


@pytest.mark.parametrize("diagnostics", [True, False], ids=["full", "lean"])
def test_the_steps_forward_backward_and_update_are_named_scopes_of_its_graph(diagnostics):
    """A graph view or a profile (``benchmarks/profile_step.py``) tells the parts apart by
    name: the gradient is asked for outside the update's scope."""
    model, (x, y) = regressor(tf.float32), batch(tf.float32)
    step = make_train_step(model, optimizers.SGD(0.01), loss_fn=mean_squared_error,
                           variables=model.variables_in_order, metrics={},
                           diagnostics=diagnostics)
    graph = step.get_concrete_function(x, y).graph
    scopes = {op.name.split("/", 1)[0] for op in graph.get_operations()}
    assert {"forward", "backward", "update"} <= scopes
    for op in graph.get_operations():
        if op.type == "AssignSubVariableOp" or op.type == "AssignVariableOp":
            assert op.name.startswith("update/"), op.name
        if "gradients" in op.name.split("/"):
            assert op.name.startswith("backward/"), op.name
