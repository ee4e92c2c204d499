"""The cell kinds by short name: the one registry that the models, the gradient lab,
the bench, the instruments and the command line share.

It holds names only and resolves classes on use, so that a command line can offer
``--cell simple|lstm|gru`` without importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class CellKind:
    """One kind of recurrent cell.

    ``cell`` and ``layer`` are the class names, the same in lowlevel and in Keras;
    ``gate_names`` name the ``[units]`` column blocks of its fused kernels, in Keras's
    order (SimpleRNN ``h``; LSTM ``i, f, c, o``; GRU ``z, r, h``), and ``gates`` counts
    them; ``states`` is the number of state tensors (``h``; LSTM ``h, c``).
    """

    name: str
    cell: str
    layer: str
    gate_names: tuple
    states: int

    @property
    def gates(self) -> int:
        """The number of ``[units]`` blocks: a kernel is ``[in, gates * units]``."""
        return len(self.gate_names)

    def cell_class(self):
        """``lowlevel.SimpleRNNCell`` / ``LSTMCell`` / ``GRUCell``."""
        return getattr(importlib.import_module("lowlevel"), self.cell)

    def layer_class(self):
        """``lowlevel.SimpleRNN`` / ``LSTM`` / ``GRU``."""
        return getattr(importlib.import_module("lowlevel"), self.layer)

    def keras_cell_class(self):
        """Keras's cell of the same name (``keras.layers.LSTMCell``, ...)."""
        return getattr(importlib.import_module("keras").layers, self.cell)

    def keras_layer_class(self):
        """Keras's layer of the same name (``keras.layers.LSTM``, ...)."""
        return getattr(importlib.import_module("keras").layers, self.layer)


KINDS = {kind.name: kind for kind in (
    CellKind("simple", "SimpleRNNCell", "SimpleRNN", gate_names=("h",), states=1),
    CellKind("lstm", "LSTMCell", "LSTM", gate_names=("i", "f", "c", "o"), states=2),
    CellKind("gru", "GRUCell", "GRU", gate_names=("z", "r", "h"), states=1),
)}
NAMES = tuple(KINDS)


def kind(name: str, argument: str = "cell") -> CellKind:
    """The kind called ``name``; a ``ValueError`` naming ``argument`` otherwise."""
    if not isinstance(name, str) or name not in KINDS:
        raise ValueError(f"`{argument}` must be one of {list(NAMES)}; received {name!r}.")
    return KINDS[name]


def of_class_name(class_name: str) -> CellKind:
    """The kind whose cell or layer class is called ``class_name`` (``'LSTMCell'``,
    ``'LSTM'``: the same names in lowlevel and Keras); a ``ValueError`` otherwise."""
    for k in KINDS.values():
        if class_name in (k.cell, k.layer):
            return k
    raise ValueError(f"a cell or layer of one of the kinds {list(NAMES)} was expected; "
                     f"received {class_name}.")


def of_cell(cell) -> CellKind:
    """The kind of a cell or layer object (lowlevel's or Keras's), by its class name."""
    return of_class_name(type(cell).__name__)
