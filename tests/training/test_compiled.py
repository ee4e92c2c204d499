"""``lowlevel.compiled.function``: ``tf.function`` whose calls run without Grappler's
passes, scoped to them, computing what ``tf.function`` computes."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import context  # the runtime's record of a call (test only)

import lowlevel
from lowlevel import compiled
from lowlevel.tolerances import assert_close


def _scaled_by_a_constant_product(x):
    return x * (tf.constant(2.0) * tf.constant(3.0))  # Grappler folds the product


def _multiplications_run(fn):
    """How many ``Mul`` ops ran in the graphs TensorFlow executed for ``fn``'s call
    (the graphs after optimisation, from the runtime's own record of the call)."""
    ctx = context.context()
    ctx.enable_run_metadata()
    try:
        assert fn(tf.constant([1.0, 2.0])).numpy().tolist() == [6.0, 12.0]
        metadata = ctx.export_run_metadata()
    finally:
        ctx.disable_run_metadata()
    return [node.op for graph in metadata.function_graphs
            for partition in graph.partition_graphs for node in partition.node].count("Mul")


def test_calls_run_without_grappler_and_other_functions_keep_it():
    before = tf.config.optimizer.get_experimental_options()
    assert _multiplications_run(compiled.function(_scaled_by_a_constant_product)) == 2
    assert tf.config.optimizer.get_experimental_options() == before
    assert _multiplications_run(tf.function(_scaled_by_a_constant_product)) == 1  # folded


def test_grappler_is_off_while_a_call_traces_and_runs_and_on_elsewhere():
    """What ``implementation='auto'`` reads when it traces a training call."""
    seen = []

    def records(x):
        seen.append(compiled.grappler_is_off())  # at trace time
        return x + 1.0

    compiled.function(records)(tf.constant(1.0))
    tf.function(records)(tf.constant(1.0))
    assert seen == [True, False]
    assert not compiled.grappler_is_off()


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


def test_a_method_binds_to_its_instance():
    class Scaled:
        def __init__(self, factor):
            self.factor = factor

        @compiled.function
        def __call__(self, x):
            return x * self.factor

    assert Scaled(2.0)(tf.constant(3.0)).numpy() == 6.0
    assert Scaled(5.0)(tf.constant(3.0)).numpy() == 15.0


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
