"""What a sequence layer asks of a time loop: one :class:`Request`."""

from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Request:
    """One call of a sequence layer, as every loop receives it.

    ``inputs [batch, time, features]``, ``initial_states`` and ``dropout_masks`` (the
    cell's ``draw_dropout_masks``, or ``None``) are already in the compute dtype;
    ``compute_dtype`` is set only when it differs from the variables' dtype (mixed
    precision: the weights are cast, see :meth:`step`). ``called_eagerly``: the layer
    was called outside any ``tf.function`` (it then compiles its own forward, and a
    gradient tape around the call builds the backward; ``'auto'`` weighs that);
    ``training``: the call's ``training`` argument (Keras's contract: ``True`` in a
    training step). Its methods are not converted by
    AutoGraph (Python control flow only; :mod:`lowlevel.loops.registry` says why).
    """

    cell: object
    inputs: tf.Tensor
    initial_states: object
    mask: object = None            # [batch, time] bool, or None
    go_backwards: bool = False
    return_sequences: bool = False
    zero_output_for_mask: bool = False
    dropout_masks: object = None
    compute_dtype: object = None   # tf.DType or None
    called_eagerly: bool = False   # the layer was called outside any tf.function
    training: bool = False         # the layer's call was told training=True

    @tf.autograph.experimental.do_not_convert
    def loop_options(self) -> dict:
        """The options every loop function takes by name."""
        return dict(mask=self.mask, go_backwards=self.go_backwards,
                    return_sequences=self.return_sequences,
                    zero_output_for_mask=self.zero_output_for_mask)

    @tf.autograph.experimental.do_not_convert
    def variables(self):
        """The cell's ``step_weights()`` (its variables, unread), or ``None`` for a cell
        that reads its own."""
        step_weights = getattr(self.cell, "step_weights", None)
        return None if step_weights is None else step_weights()

    @tf.autograph.experimental.do_not_convert
    def read_variables(self):
        """:meth:`variables` read into tensors once (``None`` entries stay)."""
        return tf.nest.map_structure(lambda w: None if w is None else tf.convert_to_tensor(w),
                                     self.variables())

    @tf.autograph.experimental.do_not_convert
    def step(self, x_t, states, weights=None, matmul=tf.matmul):
        """``(output, new_states)``: the cell's step with this call's dropout masks.

        ``weights``: :meth:`variables` or their reads. With a ``compute_dtype`` they are
        cast here, at every step, as Keras casts at every read: each step's weight
        gradient then returns to the variables' dtype before the sum over time (cast
        once before the loop, the sum ran in bfloat16: 2e-2 off float64 at 80 steps
        against Keras's 3e-3).
        """
        kwargs = {} if self.dropout_masks is None else {"masks": self.dropout_masks}
        if weights is not None:
            kwargs["weights"] = cast(weights, self.compute_dtype)
            kwargs["matmul"] = matmul
        return self.cell.step(x_t, states, **kwargs)


def cast(nest, dtype):
    """Every tensor of a nest cast to ``dtype`` (``None`` entries stay; ``dtype`` ``None``:
    the nest itself)."""
    if dtype is None:
        return nest
    return tf.nest.map_structure(lambda t: None if t is None else tf.cast(t, dtype), nest)
