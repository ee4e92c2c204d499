"""``Bidirectional``: a forward and a backward copy of a sequence layer, merged."""

from __future__ import annotations

import tensorflow as tf

from lowlevel import keras_config
from lowlevel._weights import KerasOrderedWeights, assign_weights
from lowlevel.layers.rnn import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(KerasOrderedWeights, tf.Module):
    """``Bidirectional(layer, merge_mode='concat', backward_layer=None)``, as Keras.

    The backward layer is a fresh copy of ``layer`` with ``go_backwards`` flipped.
    With ``return_sequences`` its outputs are reversed back before merging, so that
    position ``t`` of both halves refers to input step ``t``::

        y_f = forward(x)                  y_b = reverse_time(backward(x))
        concat: [y_f, y_b]   sum: y_f + y_b   mul: y_f * y_b   ave: (y_f + y_b) / 2
        None: (y_f, y_b)

    Returns as Keras 3: the merged output; ``(y_f, y_b)`` with ``merge_mode=None``;
    with ``return_state`` the tuple ``(output, *forward_states, *backward_states)``
    (``(y_f, y_b, *forward_states, *backward_states)`` with ``merge_mode=None``).

    Weights: the forward layer's, then the backward layer's (Keras's order).
    ``initial_state`` is the forward states followed by the backward states.
    ``stateful`` is the layer's: both halves then carry their states across calls,
    :meth:`reset_state` zeroes both.
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
    def states(self):
        """The forward then the backward state variables (a stateful layer, once built),
        as a tuple; else ``None``."""
        forward, backward = self.forward_layer.states, self.backward_layer.states
        return None if forward is None or backward is None else (*forward, *backward)

    def reset_state(self):
        """Zero both halves' state variables (as Keras's ``reset_state``)."""
        if not self.stateful:
            raise AttributeError("reset_state() needs a stateful layer: wrap a layer built "
                                 "with stateful=True.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        """Keras's compatibility alias of :meth:`reset_state`."""
        self.reset_state()

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    def set_weights(self, weights):
        weights = list(weights)
        half = len(weights) // 2
        for layer, part in ((self.forward_layer, weights[:half]),
                            (self.backward_layer, weights[half:])):
            if not layer.cell.built and part:
                layer.build(part[0].shape[0])
        assign_weights(self.weights, weights, owner=self.name)

    def __call__(self, inputs, initial_state=None, mask=None, training=False):
        """``x [batch, time, features]`` -> merged outputs (and states), as Keras."""
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

    def get_config(self):
        return {"layer": {"class": type(self.forward_layer),
                          "config": self.forward_layer.get_config()},
                "merge_mode": self.merge_mode,
                "backward_layer": {"class": type(self.backward_layer),
                                   "config": self.backward_layer.get_config()}}

    @classmethod
    def from_config(cls, config):
        """From :meth:`get_config`, or from a ``keras.layers.Bidirectional``'s."""
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
