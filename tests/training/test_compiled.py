"""``lowlevel.compiled.function``: ``tf.function`` whose calls run without Grappler's
passes, scoped to them, computing what ``tf.function`` computes."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel import compiled
from lowlevel.tolerances import assert_close


def _grappler_off_in_calls_traced(outer):
    """Whether the function calls ``outer`` traced carry Grappler switched off.

    TensorFlow attaches the optimizer options to every call it traces (the
    ``config_proto`` of a ``PartitionedCall``), from the options in force when tracing.
    """
    inner = tf.function(lambda x: x * 2.0)
    traced = outer(lambda x: inner(x) + 1.0)
    graph = traced.get_concrete_function(tf.TensorSpec([2], tf.float32)).graph
    calls = [op for op in graph.get_operations() if "PartitionedCall" in op.type]
    assert calls, "the outer function should call the inner one"
    config = tf.compat.v1.ConfigProto.FromString(calls[0].get_attr("config_proto"))
    return config.graph_options.rewrite_options.disable_meta_optimizer


def test_calls_run_with_grappler_off_and_other_functions_keep_the_settings():
    before = tf.config.optimizer.get_experimental_options()
    assert _grappler_off_in_calls_traced(compiled.function)
    assert tf.config.optimizer.get_experimental_options() == before
    assert not _grappler_off_in_calls_traced(tf.function)


def test_the_options_are_put_back_when_the_call_raises():
    before = tf.config.optimizer.get_experimental_options()

    @compiled.function
    def fails(x):
        raise ValueError("from the traced function")

    with pytest.raises(ValueError, match="from the traced function"):
        fails(tf.constant(1.0))
    assert tf.config.optimizer.get_experimental_options() == before


def test_a_user_who_turned_grappler_off_keeps_it_off():
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        assert compiled.function(lambda x: x + 1.0)(tf.constant(1.0)).numpy() == 2.0
        assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})


def test_decorator_forms_and_tf_function_options():
    @compiled.function
    def plain(x):
        return x + 1.0

    @compiled.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def signed(x):
        return x * 3.0

    assert plain(tf.constant(1.0)).numpy() == 2.0
    assert plain.__name__ == "plain"
    np.testing.assert_array_equal(signed(tf.constant([1.0, 2.0])), [3.0, 6.0])
    assert signed.get_concrete_function().structured_input_signature[0][0].shape.as_list() == [None]


def test_a_training_step_computes_what_tf_function_computes():
    """The gradients of two stacked LSTMs (the unrolled loop at this length), float64."""
    rng = np.random.default_rng(0)
    layers = [lowlevel.LSTM(4, input_dim=3, return_sequences=True, dtype=tf.float64),
              lowlevel.LSTM(4, input_dim=4, dtype=tf.float64)]
    for layer in layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    model = lowlevel.Sequential(layers)
    variables = [v for layer in layers for v in layer.trainable_variables]
    x = tf.constant(rng.normal(size=[2, 12, 3]), tf.float64)

    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(model(x)))
        return tape.gradient(loss, variables)

    ours, theirs = compiled.function(gradients)(x), tf.function(gradients)(x)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a, b, tf.float64, f"gradient {i}")
