"""The one registry of cell kinds names real classes, lowlevel's and Keras's, and their
kernel layout; and it loads without TensorFlow."""

import subprocess
import sys

import pytest

import lowlevel
from lowlevel import kinds


@pytest.mark.parametrize("name", kinds.NAMES)
def test_kind_names_the_same_classes_in_lowlevel_and_keras(name):
    k = kinds.kind(name)
    assert k.cell_class() is getattr(lowlevel, k.cell)
    assert k.layer_class() is getattr(lowlevel, k.layer)
    assert k.keras_cell_class().__name__ == k.cell
    assert k.keras_layer_class().__name__ == k.layer


@pytest.mark.parametrize("name", kinds.NAMES)
def test_gates_and_states_are_the_keras_cells_layout(name):
    k = kinds.kind(name)
    keras_cell = k.keras_cell_class()(3)
    keras_cell.build((2, 5))
    assert keras_cell.kernel.shape == (5, 3 * k.gates)
    cell = k.cell_class()(3, input_dim=5)
    assert kinds.of_cell(cell) is k and kinds.of_cell(keras_cell) is k
    assert len(cell.get_initial_state(2)) == k.states


def test_unknown_kind_names_the_argument():
    with pytest.raises(ValueError, match="`--cell` must be one of"):
        kinds.kind("rnn", "--cell")
    with pytest.raises(ValueError, match="received Dense"):
        import keras
        kinds.of_cell(keras.layers.Dense(1))


def test_the_registry_loads_without_tensorflow():
    code = "import sys, lowlevel.kinds; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
