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
    ``gates`` is the number of ``[units]`` blocks in its fused kernels (SimpleRNN 1;
    LSTM 4: i, f, c, o; GRU 3: z, r, h); ``states`` the number of state tensors
    (``h``; LSTM ``h, c``).
    """

    name: str
    cell: str
    layer: str
    gates: int
    states: int

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
    CellKind("simple", "SimpleRNNCell", "SimpleRNN", gates=1, states=1),
    CellKind("lstm", "LSTMCell", "LSTM", gates=4, states=2),
    CellKind("gru", "GRUCell", "GRU", gates=3, states=1),
)}
NAMES = tuple(KINDS)


def kind(name: str, argument: str = "cell") -> CellKind:
    """The kind called ``name``; a ``ValueError`` naming ``argument`` otherwise."""
    if not isinstance(name, str) or name not in KINDS:
        raise ValueError(f"`{argument}` must be one of {list(NAMES)}; received {name!r}.")
    return KINDS[name]


def of_cell(cell) -> CellKind:
    """The kind of a cell object (lowlevel's or Keras's), by its class name."""
    for k in KINDS.values():
        if type(cell).__name__ == k.cell:
            return k
    raise ValueError(f"a cell of one of the kinds {list(NAMES)} was expected; received "
                     f"{type(cell).__name__}.")
