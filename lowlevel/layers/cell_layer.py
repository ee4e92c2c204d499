"""The base of ``SimpleRNN``, ``LSTM`` and ``GRU``: an :class:`~lowlevel.layers.rnn.RNN`
that builds its own cell from the cell's arguments, and gives its configuration flat, as
Keras's layers do (the cell's arguments beside the layer's).
"""

from __future__ import annotations

from lowlevel import keras_config
from lowlevel.layers.rnn import RNN


class CellLayer(RNN):
    """A sequence layer that builds its own cell from the cell's arguments."""

    @property
    def units(self) -> int:
        """The cell's ``units``: the width of the output and of every state."""
        return self.cell.units

    def get_config(self) -> dict:
        """The cell's arguments and the layer's, flat, as Keras's layers give them."""
        return {**self.cell.get_config(), **self._loop_config()}

    @classmethod
    def from_config(cls, config: dict) -> CellLayer:
        """A layer from :meth:`get_config`'s dict or from a Keras layer's
        ``get_config()`` (what has no lowlevel equivalent is refused by name).

        Args:
            config: dict. The configuration.
        """
        config = keras_config.translate(cls, config)  # also a Keras layer's get_config()
        return cls(**config)
