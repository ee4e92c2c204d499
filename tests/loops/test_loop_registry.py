"""The loops by name: one registry, an error naming the loop when it cannot serve, and
``'auto'`` choosing one that can."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.loops import registry
from lowlevel.loops.request import Request
from lowlevel.tolerances import assert_close


def test_the_registry_names_every_loop_and_auto_which_is_the_default():
    assert registry.IMPLEMENTATIONS == ("reference", "fast", "bptt", "unrolled", "auto")
    assert lowlevel.loops.IMPLEMENTATIONS is registry.IMPLEMENTATIONS
    assert lowlevel.layers.rnn.IMPLEMENTATIONS is registry.IMPLEMENTATIONS
    assert lowlevel.GRU(2).implementation == registry.DEFAULT_IMPLEMENTATION == "auto"


def test_auto_runs_the_loop_choose_names_and_its_numbers():
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 5, 3)), tf.float32)
    auto = lowlevel.LSTM(4, input_dim=3, return_sequences=True)
    eager_call = Request(auto.cell, x, None, called_eagerly=True)  # as auto(x) below
    chosen = lowlevel.LSTM(4, input_dim=3, return_sequences=True,
                           implementation=registry.choose(eager_call))
    chosen.set_weights(auto.get_weights())
    assert registry.serving("auto", eager_call) == registry.choose(eager_call)
    np.testing.assert_array_equal(auto(x).numpy(), chosen(x).numpy())


def test_a_loop_that_cannot_run_a_cell_says_which_and_why():
    stack = lowlevel.StackedCells([lowlevel.LSTMCell(2, input_dim=3)])
    assert registry.cannot_run("bptt", stack) == (
        "StackedCells has no `backward` step (the contract of "
        "lowlevel.cells.base.RecurrentCell)")
    assert registry.cannot_run("auto", stack) is None
    assert registry.cannot_run("fast", stack) is None
    layer = lowlevel.RNN(stack, implementation="bptt")
    with pytest.raises(ValueError, match=r"implementation='bptt' cannot run this layer: "
                                         r"StackedCells has no `backward` step.*'auto'"):
        layer(tf.zeros([1, 2, 3]))


def test_unknown_names_are_an_error_listing_the_registry():
    with pytest.raises(ValueError, match=r"`implementation` must be one of \('reference', "):
        registry.check("cudnn")


def test_auto_serves_a_stack_that_bptt_cannot():
    stack = lowlevel.StackedCells([lowlevel.GRUCell(2, input_dim=3, dtype="float64")])
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 4, 3)))
    auto = lowlevel.RNN(stack)
    reference = lowlevel.RNN(stack, implementation="reference")
    assert_close(auto(x), reference(x), tf.float64, "auto on a stack")
