"""Every cell, layer and option against Keras 3, after copying weights.

Outputs, returned states and gradients with respect to inputs, initial states and
every weight must agree to the tolerance of the dtype (``lowlevel.tolerances``),
eagerly and under ``tf.function``, on every device TensorFlow lists.
"""

import pytest
import tensorflow as tf

from lowlevel import parity

DTYPES = ["float32", "float64"]
MODES = ["eager", "function"]

CELL_CASES = [
    ("SimpleRNNCell", {}),
    ("SimpleRNNCell", {"activation": "relu", "use_bias": False}),
    ("LSTMCell", {}),
    ("LSTMCell", {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
    ("LSTMCell", {"use_bias": False}),
    ("GRUCell", {"reset_after": True}),
    ("GRUCell", {"reset_after": False}),
    ("GRUCell", {"reset_after": True, "use_bias": False}),
    ("GRUCell", {"reset_after": False, "activation": "relu"}),
]

LAYER_CASES = [
    (kind, dict(options, **extra))
    for kind, extra in [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}),
                        ("GRU", {"reset_after": False})]
    for options in [
        {},
        {"return_sequences": True},
        {"return_state": True, "initial_state": True},
        {"return_sequences": True, "return_state": True, "go_backwards": True},
        {"mask": "right", "return_sequences": True},
        {"mask": "left", "return_state": True},
        {"mask": "random", "return_sequences": True, "return_state": True,
         "initial_state": True},
        {"mask": "random", "go_backwards": True, "return_sequences": True},
    ]
]

COMPOSITE_CASES = [
    ("StackedCells", {"stack": ("SimpleRNN", "SimpleRNN")}),
    ("StackedCells", {"stack": ("LSTM", "GRU"), "return_sequences": True}),
    ("StackedCells", {"stack": ("GRU", "LSTM"), "return_state": True, "initial_state": True,
                      "mask": "random"}),
    *[("Bidirectional", {"layer": kind, "merge_mode": mode, "return_sequences": seq})
      for kind in ("SimpleRNN", "LSTM", "GRU")
      for mode, seq in [("concat", True), ("sum", False), ("mul", True), ("ave", False),
                        (None, True)]],
    ("Bidirectional", {"layer": "LSTM", "return_state": True, "initial_state": True,
                       "return_sequences": True}),
    ("Bidirectional", {"layer": "GRU", "mask": "right", "return_sequences": True}),
    ("Embedding", {}),
]


def _ids(cases):
    return [f"{c}[{parity.case(c, **o).label()}]" for c, o in cases]


def _check(result):
    assert result.output_error <= result.tolerance, (
        f"outputs differ from Keras: {result.output_error:.3g} > {result.tolerance:.0e}")
    assert result.gradient_error <= result.tolerance, (
        f"gradients differ from Keras: {result.gradient_error:.3g} > {result.tolerance:.0e}")
    known = parity.known_structure_difference(result.case)
    if known is not None:  # an expected failure, strict: once fixed, delist it in parity.py
        assert not result.structure_ok, f"structure now equals Keras's; delist: {known}"
        pytest.xfail(f"{result.structure_message()}; {known}")
    assert result.structure_ok, result.structure_message()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("component,options", CELL_CASES, ids=_ids(CELL_CASES))
def test_cell_step_and_its_gradients_equal_keras(component, options, dtype, mode, device):
    _check(parity.run_case(parity.case(component, dtype, device, mode, **options)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("component,options", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_outputs_states_and_gradients_equal_keras(component, options, dtype, mode,
                                                        device):
    _check(parity.run_case(parity.case(component, dtype, device, mode, **options)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("component,options", COMPOSITE_CASES, ids=_ids(COMPOSITE_CASES))
def test_stacked_bidirectional_and_embedding_equal_keras(component, options, dtype, mode,
                                                         device):
    _check(parity.run_case(parity.case(component, dtype, device, mode, **options)))


def test_weight_transfer_is_a_plain_copy_both_ways():
    """``ours.set_weights(keras.get_weights())`` and back, for every kind."""
    import keras
    import numpy as np
    import lowlevel

    for kind in ("SimpleRNN", "LSTM", "GRU"):
        theirs = getattr(keras.layers, kind)(3)
        theirs.build((None, None, 2))
        ours = getattr(lowlevel, kind)(3, input_dim=2)
        assert [tuple(w.shape) for w in ours.get_weights()] == \
            [tuple(w.shape) for w in theirs.get_weights()]
        ours.set_weights(theirs.get_weights())
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
        fresh = [np.full(w.shape, 0.25, w.dtype) for w in ours.get_weights()]
        ours.set_weights(fresh)
        theirs.set_weights(ours.get_weights())
        for a, b in zip(fresh, theirs.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_parity_harness_detects_a_changed_weight(monkeypatch):
    """The harness can fail: a perturbed weight on our side must exceed the tolerance."""
    original = parity.build_pair

    def perturbed(c, **kwargs):
        ours, theirs = original(c, **kwargs)
        ours.weights[1].assign_add(1e-3 * tf.ones_like(ours.weights[1]))
        return ours, theirs

    monkeypatch.setattr(parity, "build_pair", perturbed)
    result = parity.run_case(parity.case("LSTM", "float64", return_sequences=True))
    assert result.output_error > result.tolerance
    assert result.gradient_error > result.tolerance
    assert not result.ok


def test_parity_harness_detects_a_changed_structure(monkeypatch):
    """The harness compares structures, not only flattened values: a list where Keras
    returns a tuple fails it."""
    original = parity._forward

    def as_list(component, model, inputs, keras_side):
        returned = original(component, model, inputs, keras_side)
        return returned if keras_side else list(returned)

    monkeypatch.setattr(parity, "_forward", as_list)
    result = parity.run_case(parity.case("LSTMCell", "float64"))
    assert result.values_ok and not result.structure_ok and not result.ok
    assert result.structure_message() == (
        "lowlevel returned list[T, list[T, T]], Keras tuple[T, list[T, T]]")
