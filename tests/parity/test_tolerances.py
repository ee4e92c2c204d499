"""``scaled_error``: the difference over the largest expected magnitude, or over a given
floor when the values were summed from larger terms."""

import numpy as np
import pytest
import tensorflow as tf

from lowlevel.tolerances import assert_close, scaled_error


def test_the_error_is_relative_to_the_largest_expected_element():
    assert scaled_error([1.0, 2.0], [1.0, 4.0]) == pytest.approx(0.5)
    assert scaled_error(np.zeros(0), np.zeros(0)) == 0.0


def test_a_scale_floor_measures_a_near_zero_value_against_its_terms():
    expected, actual = np.array([3e-5]), np.array([3e-5 + 2e-9])
    assert scaled_error(actual, expected) == pytest.approx(2e-9 / 3e-5)
    assert scaled_error(actual, expected, scale_floor=0.01) == pytest.approx(2e-7)
    assert scaled_error([4.0], [2.0], scale_floor=0.01) == pytest.approx(1.0)  # floor below
    assert_close(actual, expected, tf.float32, "near zero", scale_floor=0.01)
    with pytest.raises(AssertionError, match="near zero: scaled error"):
        assert_close(actual, expected, tf.float32, "near zero")
