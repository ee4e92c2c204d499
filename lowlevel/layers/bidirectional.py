"""``Bidirectional``: a forward and a backward copy of a sequence layer, merged."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowlevel import keras_config
from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights, assign_weights
from lowlevel.layers.rnn import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(KerasOrderedWeights, Describable, tf.Module):
    """A forward and a backward copy of a sequence layer over ``[batch, time, features]``,
    merged.

    Keras's ``keras.layers.Bidirectional``: the same positional arguments and
    defaults, weights (the forward layer's, then the backward layer's), call contract
    and return structures. A ``tf.Module``, not a Keras layer: it does not go into
    ``keras.Sequential``; ``lowlevel.to_keras(layer)`` / ``lowlevel.from_keras(keras_layer)``
    convert, and ``layer.set_weights(keras_layer.get_weights())`` copies the weights
    (:mod:`lowlevel.layers`, "What these objects are").

    With ``return_sequences`` the backward outputs are reversed back before merging,
    so that position ``t`` of both halves refers to input step ``t``::

        y_f = forward(x)                  y_b = reverse_time(backward(x))
        concat: [y_f, y_b]   sum: y_f + y_b   mul: y_f * y_b   ave: (y_f + y_b) / 2
        None: (y_f, y_b)

    Args:
        layer: a lowlevel sequence layer (:class:`~lowlevel.layers.RNN`,
            ``SimpleRNN``, ``LSTM``, ``GRU``), the forward half; it is left as given
            (the halves run with ``zero_output_for_mask`` equal to
            ``return_sequences``, as Keras's, over the same variables).
        merge_mode: str or None. ``'concat'``, ``'sum'``, ``'mul'``, ``'ave'`` or
            ``None`` (the two outputs, unmerged). Default ``'concat'``.
        weights: list of arrays or None. Initial weights, the forward layer's then the
            backward layer's (e.g. a Keras twin's ``get_weights()``). Default ``None``.
        backward_layer: a lowlevel sequence layer or None. The backward half, with
            ``go_backwards`` opposite to ``layer``'s and the same ``stateful``,
            ``return_sequences`` and ``return_state``; ``None``: a fresh copy of
            ``layer``'s configuration with ``go_backwards`` flipped.
        name: str or None. Keyword-only. The module's name.

    Call arguments:
        inputs: ``[batch, time, features]``.
        initial_state: the forward states followed by the backward states (flat), or
            ``None``: zeros (a stateful layer: the carried states).
        mask: ``[batch, time]`` booleans or ``None``.
        training: bool. Applies dropout when ``True``. Default ``False``.

    Returns:
        The merged output, ``[batch, 2 * units]`` (``'concat'``) or ``[batch, units]``,
        with a time axis ``[batch, time, ...]`` under ``return_sequences``;
        ``(y_f, y_b)`` with ``merge_mode=None``; with ``return_state`` the tuple
        ``(output, *forward_states, *backward_states)`` (``(y_f, y_b, *forward_states,
        *backward_states)`` with ``merge_mode=None``), as Keras 3.

    Attributes:
        forward_layer: the forward half.
        backward_layer: the backward half.
        states: a stateful layer's state variables, forward then backward, else
            ``None``; :meth:`reset_state` zeroes both halves'.

    Example::

        import numpy as np
        import lowlevel

        layer = lowlevel.Bidirectional(lowlevel.GRU(4), "concat")
        assert layer(np.ones([2, 5, 3], "float32")).shape == (2, 8)
        assert layer.count_params() == 2 * 3 * (3 * 4 + 4 * 4 + 2 * 4)
    """

    def __init__(
        self,
        layer: RNN,
        merge_mode: str | None = "concat",
        weights: list | None = None,
        backward_layer: RNN | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not isinstance(layer, RNN):
            raise TypeError(f"`layer` must be a lowlevel sequence layer; received {type(layer).__name__}.")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"`merge_mode` must be one of {MERGE_MODES}; received {merge_mode!r}.")
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = not layer.go_backwards
            backward_layer = type(layer).from_config(config)
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError("`backward_layer` must have `go_backwards` opposite to `layer`'s.")
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(backward_layer, attribute) != getattr(layer, attribute):
                raise ValueError(f"`backward_layer.{attribute}` must equal `layer`'s "
                                 f"({getattr(layer, attribute)}); received "
                                 f"{getattr(backward_layer, attribute)}.")
        # As Keras: masked steps output zeros when sequences are returned, so the two
        # directions' padding lines up after the backward half is reversed. The halves
        # are views of the given layers with that option (same cells, same variables);
        # the layers themselves are left as they were given.
        self.forward_layer = _with_zero_output_for_mask(layer)
        self.backward_layer = _with_zero_output_for_mask(backward_layer)
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        if weights is not None:
            self.set_weights(weights)

    @property
    def states(self) -> tuple | None:
        """The forward then the backward state variables (a stateful layer, once built),
        as a tuple; else ``None``."""
        forward, backward = self.forward_layer.states, self.backward_layer.states
        return None if forward is None or backward is None else (*forward, *backward)

    def reset_state(self) -> None:
        """Zero both halves' state variables (as Keras's ``reset_state``)."""
        if not self.stateful:
            raise AttributeError("reset_state() needs a stateful layer: wrap a layer built "
                                 "with stateful=True.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        """Keras's compatibility alias of :meth:`reset_state`."""
        self.reset_state()

    @property
    def weights(self) -> list[tf.Variable]:
        """The forward layer's weights, then the backward layer's (Keras's order)."""
        return self.forward_layer.weights + self.backward_layer.weights

    @property
    def built(self) -> bool:
        """True once both halves' weights exist."""
        return self.forward_layer.built and self.backward_layer.built

    @property
    def output_shape(self) -> tuple:
        """The merged output's shape, ``None`` for the batch and time (the output of
        ``merge_mode=None`` is two tensors of the forward layer's shape)."""
        *lead, units = self.forward_layer.output_shape
        return (*lead, 2 * units if self.merge_mode == "concat" else units)

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Assign the forward then the backward layer's weights (unbuilt halves are
        built from their first kernel's shape).

        Args:
            weights: list of arrays in the order of :attr:`weights`.
        """
        weights = list(weights)
        half = len(weights) // 2
        for layer, part in ((self.forward_layer, weights[:half]),
                            (self.backward_layer, weights[half:])):
            if not layer.cell.built and part:
                layer.build(part[0].shape[0])
        assign_weights(self.weights, weights, owner=self.name)

    @tf.autograph.experimental.do_not_convert  # Python control flow only, as RNN.__call__
    def __call__(self, inputs: tf.Tensor, initial_state: list | None = None,
                 mask: tf.Tensor | None = None,
                 training: bool = False) -> tf.Tensor | tuple:
        """``x [batch, time, features]`` -> merged outputs (and states), as Keras (the
        class's docstring: "Call arguments", "Returns")."""
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer(inputs, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(inputs, initial_state=backward_state, mask=mask,
                                    training=training)
        states = ()
        if self.return_state:
            states = (*y[1:], *y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = tf.reverse(y_rev, axis=[1])  # back to input order
        if self.merge_mode == "concat":
            output = (tf.concat([y, y_rev], axis=-1),)
        elif self.merge_mode == "sum":
            output = (y + y_rev,)
        elif self.merge_mode == "ave":
            output = ((y + y_rev) / 2,)
        elif self.merge_mode == "mul":
            output = (y * y_rev,)
        else:
            output = (y, y_rev)
        if self.return_state:
            return output + states  # Keras 3: one tuple, outputs then states
        return output[0] if len(output) == 1 else output

    def get_config(self) -> dict:
        """The constructor's arguments, each half as ``{'class', 'config'}``."""
        return {"layer": {"class": type(self.forward_layer),
                          "config": self.forward_layer.get_config()},
                "merge_mode": self.merge_mode,
                "backward_layer": {"class": type(self.backward_layer),
                                   "config": self.backward_layer.get_config()}}

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        """From :meth:`get_config`, or from a ``keras.layers.Bidirectional``'s.

        Args:
            config: dict. The configuration.
        """
        config = dict(keras_config.translate(cls, config))
        layer, backward = config.pop("layer"), config.pop("backward_layer", None)
        return cls(layer["class"].from_config(layer["config"]),
                   backward_layer=None if backward is None
                   else backward["class"].from_config(backward["config"]), **config)

def _with_zero_output_for_mask(layer):
    """``layer`` itself if its ``zero_output_for_mask`` equals its ``return_sequences``;
    else an ``RNN`` over the same cell (the same variables) with that option."""
    if layer.zero_output_for_mask == layer.return_sequences:
        return layer
    return RNN(layer.cell, return_sequences=layer.return_sequences,
               return_state=layer.return_state, go_backwards=layer.go_backwards,
               zero_output_for_mask=layer.return_sequences, stateful=layer.stateful,
               implementation=layer.implementation, compute_dtype=layer._compute_dtype,
               name=layer.name)
