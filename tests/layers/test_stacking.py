"""The tutorial's two stacking styles compute the same function.

Per time step (``StackedCells``: every layer stepped at each t, like ``MyRNN``) and
per layer (a stack of sequence layers, each non-last with ``return_sequences=True``)
must give the same outputs and the same gradients for the same weights.
"""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

KINDS = ["SimpleRNN", "LSTM", "GRU"]


def _two_styles(kind, dtype, units=4, input_dim=3):
    cells = [getattr(lowlevel, kind + "Cell")(units, input_dim=input_dim, dtype=dtype),
             getattr(lowlevel, kind + "Cell")(units, input_dim=units, dtype=dtype)]
    per_step = lowlevel.StackedCells(cells)
    per_layer = [getattr(lowlevel, kind)(units, input_dim=input_dim, dtype=dtype,
                                         return_sequences=True),
                 getattr(lowlevel, kind)(units, input_dim=units, dtype=dtype)]
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape) for w in per_step.get_weights()]
    per_step.set_weights(weights)
    n = len(weights) // 2
    per_layer[0].set_weights(weights[:n])
    per_layer[1].set_weights(weights[n:])
    return per_step, per_layer


def _hand_loop(stack, x, training=False):
    """The tutorial's ``MyRNN`` loop: ``for word in unstack(x, axis=1)``."""
    states = stack.get_initial_state(x.shape[0])
    for x_t in tf.unstack(x, axis=1):
        out, states = stack(x_t, states, training=training)
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_stacked_cells_per_step_equal_stacked_layers_outputs_and_gradients(kind, dtype, device):
    per_step, per_layer = _two_styles(kind, dtype)
    x = tf.constant(np.random.default_rng(1).normal(size=[3, 6, 3]), dtype)
    step_vars = list(per_step.trainable_variables)
    layer_vars = [v for layer in per_layer for v in layer.trainable_variables]

    by_layer, g_layer = _output_and_gradients(lambda: per_layer[1](per_layer[0](x)),
                                              [x] + layer_vars)
    for call, name in ((lambda: _hand_loop(per_step, x), "hand-stepped"),
                       (lambda: lowlevel.RNN(per_step)(x), "RNN(StackedCells)")):
        by_step, g_step = _output_and_gradients(call, [x] + step_vars)
        assert_close(by_step, by_layer, dtype, f"{name} stack vs layer stack")
        for a, b in zip(g_step, g_layer):
            assert_close(a, b, dtype, f"{name} gradient")


def test_stacked_cells_weights_are_listed_cell_by_cell():
    per_step, per_layer = _two_styles("LSTM", "float32")
    names = [v.name for v in per_step.trainable_variables]
    assert [n.split("/")[-1].split(":")[0] for n in names] == \
        ["kernel", "recurrent_kernel", "bias"] * 2
    assert per_step.state_size == [[4, 4], [4, 4]]
    assert per_step.output_size == 4


def test_stacked_cells_build_gives_upper_cells_the_lower_output_size():
    stack = lowlevel.StackedCells([lowlevel.GRUCell(5), lowlevel.LSTMCell(2)])
    stack.build(input_shape=(None, 7))
    assert [tuple(w.shape) for w in stack.weights] == [
        (7, 15), (5, 15), (2, 15), (5, 8), (2, 8), (8,)]


# 'fast' only: every implementation is tied to the reference path in test_implementations.
@pytest.mark.parametrize("kind", KINDS)
def test_stack_layers_equals_calling_the_layers_in_turn_outputs_masks_and_gradients(
        kind, implementation="fast"):
    layers = [getattr(lowlevel, kind)(4, input_dim=features, dtype=tf.float64,
                                      return_sequences=True, implementation=implementation)
              for features in (3, 4)]
    rng = np.random.default_rng(1)
    for layer in layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    stacked = lowlevel.stack_layers(layers)
    x = tf.constant(rng.normal(size=[2, 6, 3]))
    mask = tf.constant([[True, True, False, True, True, False], [False] + [True] * 5])
    variables = [v for layer in layers for v in layer.trainable_variables]
    # The stack shares the layers' variables: nothing to copy.
    assert [v.ref() for v in stacked.trainable_variables] == [v.ref() for v in variables]
    in_turn, g_in_turn = _output_and_gradients(
        lambda: layers[1](layers[0](x, mask=mask), mask=mask), variables)
    at_once, g_at_once = _output_and_gradients(lambda: stacked(x, mask=mask), variables)
    assert_close(at_once, in_turn, tf.float64, "stack_layers output")
    for a, e in zip(g_at_once, g_in_turn):
        assert_close(a, e, tf.float64, "stack_layers gradient")


def _output_and_gradients(call, sources):
    """``call()`` and the gradients of ``sum(sin(call()))`` with respect to ``sources``
    (variables or tensors), under a tape of their own: one persistent tape over several
    compiled calls has TensorFlow build each one's higher-order gradient functions too
    (seconds per call)."""
    with tf.GradientTape() as tape:
        tape.watch(sources)
        y = call()
        loss = tf.reduce_sum(tf.sin(y))
    return y, tape.gradient(loss, sources)


@pytest.mark.parametrize("second, message", [
    (dict(return_sequences=False), r"layers\[0\]` must return sequences"),
    (dict(go_backwards=True), r"layers\[1\]` must have go_backwards"),
    (dict(implementation="reference"), r"layers\[1\]\.implementation"),
    (dict(compute_dtype="bfloat16"), r"layers\[1\]\.compute_dtype"),
])
def test_stack_layers_rejects_stacks_that_differ_from_per_step_stepping(second, message):
    first = dict(return_sequences=True)
    if second.get("return_sequences") is False:
        first = dict(return_sequences=False)
        second = {}
    layers = [lowlevel.GRU(3, input_dim=2, **first), lowlevel.GRU(3, input_dim=3, **second)]
    with pytest.raises(ValueError, match=message):
        lowlevel.stack_layers(layers)
    with pytest.raises(TypeError, match="`layers` must be a non-empty list"):
        lowlevel.stack_layers([lowlevel.GRUCell(3)])


def test_stack_layers_keeps_the_layers_compute_dtype():
    layers = [lowlevel.GRU(4, input_dim=3, return_sequences=True, compute_dtype="bfloat16"),
              lowlevel.GRU(4, input_dim=4, compute_dtype="bfloat16")]
    stacked = lowlevel.stack_layers(layers)
    x = tf.constant(np.random.default_rng(2).normal(size=[2, 5, 3]), tf.float32)
    out = stacked(x)
    assert stacked.compute_dtype == out.dtype == tf.bfloat16
    assert_close(tf.cast(out, tf.float64), tf.cast(layers[1](layers[0](x)), tf.float64),
                 tf.bfloat16, "bfloat16 stack_layers output")
