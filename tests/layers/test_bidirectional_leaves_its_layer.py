"""``Bidirectional`` leaves the layer it is given as it was, and computes with its cell."""

import numpy as np
import tensorflow as tf

import lowlevel


def test_bidirectional_does_not_change_the_layer_it_is_given_and_shares_its_variables():
    layer = lowlevel.LSTM(3, input_dim=2, return_sequences=True)
    both = lowlevel.Bidirectional(layer)
    assert layer.zero_output_for_mask is False
    assert both.forward_layer.zero_output_for_mask is True  # as Keras, for the merge
    assert both.forward_layer.cell is layer.cell
    assert [v.ref() for v in both.weights[:3]] == [v.ref() for v in layer.weights]
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 2)), tf.float32)
    mask = tf.constant([[True, True, False, False], [True, True, True, True]])
    expected = layer(x)  # without a mask the option changes nothing
    np.testing.assert_array_equal(both(x)[..., :3].numpy(), expected.numpy())
    masked = both(x, mask=mask)[..., :3].numpy()
    assert np.all(masked[0, 2:] == 0.0)  # zero outputs at masked steps, in the view only
    assert np.all(layer(x, mask=mask).numpy()[0, 2:] != 0.0)  # the layer repeats its last
