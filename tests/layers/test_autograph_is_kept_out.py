"""A layer called inside a user's ``tf.function`` is traced as written, not converted by
AutoGraph: its control flow is on Python values only, and converting it (and all it
calls) lengthened the first training step (docs/speed.md, "The default path's first
call"). The loops' own entry points are marked the same way (``lowlevel.loops``)."""

import numpy as np
import pytest
import tensorflow as tf

import lowlevel
from lowlevel.tolerances import assert_close

@pytest.mark.parametrize("call", [lowlevel.RNN.__call__,
                                  lowlevel.Bidirectional.__call__,
                                  lowlevel.Embedding.__call__],
                         ids=["RNN", "Bidirectional", "Embedding"])
def test_layer_calls_are_marked_not_to_be_converted(call, kept_out_of_autograph):
    assert kept_out_of_autograph(call)


def test_an_unconverted_layer_call_traces_to_its_eager_result():
    """The same layer, eager and inside a tf.function that AutoGraph converts (float64)."""
    layer = lowlevel.Bidirectional(lowlevel.GRU(3, return_sequences=True, dtype=tf.float64))
    x = tf.constant(np.random.default_rng(5).normal(size=(2, 4, 3)))
    assert_close(tf.function(lambda v: layer(v, training=True))(x), layer(x, training=True),
                 tf.float64, "Bidirectional(GRU) in a converted tf.function")
