"""The contract of a cell's step: what the time loops call, and nothing else.

A cell is one time step and nothing else: ``output, new_states = cell(x_t, states)``.
The time loops live in :mod:`lowlevel.loops`; they know no cell class, only this
contract, :class:`StepContract`:

- ``forward(x_t, states, weights, masks, matmul) -> (output, new_states, saved)``: the
  step's equations. ``weights`` is the nest :meth:`~StepContract.step_weights` returns
  (a loop may hand it reads or casts of the variables); ``matmul(a, w)`` forms every
  product with a weight (``tf.matmul`` unless the loop records them);
- ``backward(saved, d_output, d_states, operands, masks) -> (d_pre, d_prev_states)``:
  the same step differentiated by hand, beside ``forward`` in the cell's module, for the
  hand-written backpropagation through time (:mod:`lowlevel.loops.bptt`); ``operands``
  is ``backward_operands(weights)``, formed once per sequence (by default the weights
  themselves);
- ``weight_gradients(xs, saved, d_pre, weights, masks) -> (d_xs, d_weights)``: every
  weight's gradient as one matmul over all steps, from the steps' ``d_pre``;
- ``gate_values(saved) -> {name: [batch, units]}``: the gates of a step, for
  instruments;
- ``step_weights()``, ``get_initial_state(batch)``, ``draw_dropout_masks(batch)``,
  ``output_size``, ``dtype``.

A cell without ``backward`` runs in every loop but ``'bptt'``.

:class:`~lowlevel.cells.base.RecurrentCell` gives the arguments, variables and checked
call on top of it.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from lowlevel import activations


class StepContract:
    """One time step, as the loops of :mod:`lowlevel.loops` call it (they know no cell
    class): :meth:`step_weights`, :meth:`forward`, and for ``'bptt'`` :meth:`backward`
    and :meth:`weight_gradients`; :meth:`step` and :meth:`cast_weights` follow from them.

    The loops and a cell's call are traced as written, not converted by AutoGraph: a
    step's Python control flow is on Python values (a condition on a tensor is a
    ``tf.where`` or ``tf.cond``).
    """

    def step_weights(self) -> tuple:
        """The weights :meth:`forward` computes with, a nest (:class:`RecurrentCell`'s:
        ``(kernel, recurrent_kernel, bias)``).

        A loop may hand :meth:`forward` these, their reads, or their casts (a nest of
        the same structure).
        """
        raise NotImplementedError

    def cast_weights(self, dtype: DTypeLike) -> tuple:
        """:meth:`step_weights` cast to ``dtype`` (the mixed-precision path's weights).

        The variables stay in :attr:`dtype` (float32, for the optimizer's small
        updates) while the steps' matmuls run in ``dtype`` (bfloat16 or float16), as
        Keras's ``mixed_bfloat16`` policy; the gradient flows back through the cast.
        """
        return tf.nest.map_structure(lambda w: None if w is None else tf.cast(w, dtype),
                                     self.step_weights())

    def forward(self, x_t: tf.Tensor, states: list[tf.Tensor], weights: tuple,
                masks: tuple = (None, None), matmul: Callable = tf.matmul) -> tuple:
        """One step: ``(output [batch, units], new_states, saved)``.

        ``weights``: the nest of :meth:`step_weights` (variables, reads or casts).
        ``masks``: ``(m_x, m_h)`` of :meth:`draw_dropout_masks`, entries ``None``
        without dropout. ``matmul(a, w)``: how to form every ``a @ w`` with a weight
        ``w`` (a loop may pass one that records them, see
        :mod:`lowlevel.loops.weight_gradients`). ``saved``: a tuple of ``[batch, k]``
        tensors, what :meth:`backward` needs of this step.
        """
        raise NotImplementedError

    def backward_operands(self, weights: tuple) -> tuple:
        """What :meth:`backward` multiplies by, from :meth:`step_weights`' nest (or its
        reads): formed once per sequence, before the reverse loop. By default ``weights``
        itself; the built-in cells hand their recurrent kernel transposed, ``(W, Uᵀ,
        b)``, because a product against a weight transposed beforehand ran faster than
        ``tf.matmul(..., transpose_b=True)`` (docs/speed.md, "The backward chain against
        a transposed weight").
        """
        return weights

    def backward(self, saved: tuple, d_output: tf.Tensor, d_states: list[tf.Tensor],
                 operands: tuple, masks: tuple = (None, None)) -> tuple:
        """One step back: ``(d_pre [batch, P], d_prev_states)``.

        ``d_output``, ``d_states``: ``∂L/∂`` the step's output and new states (all of
        the loss that reaches them); ``d_prev_states``: ``∂L/∂states_{t-1}`` through
        this step; ``d_pre``: ``∂L/∂`` the step's pre-activations, all that
        :meth:`weight_gradients` needs besides the saved values. ``operands``:
        :meth:`backward_operands` of the step's weights.
        """
        raise NotImplementedError(f"{type(self).__name__} has no backward step.")

    def weight_gradients(self, xs: tf.Tensor, saved: tuple, d_pre: tf.Tensor,
                         weights: tuple, masks: tuple = (None, None)) -> tuple:
        """``(∂L/∂xs, ∂L/∂weights)`` over all steps at once, from every step's ``d_pre``.

        ``xs [time, batch, input_dim]``; ``saved`` and ``d_pre`` as :meth:`forward` and
        :meth:`backward` give them, stacked over time (``[time, batch, k]``).
        ``∂L/∂weights`` has the structure of ``weights`` (``None`` where a weight is).
        Each weight's gradient is one matmul over all steps (:func:`sum_over_steps`).
        """
        raise NotImplementedError(f"{type(self).__name__} has no weight gradients.")

    def gate_values(self, saved: tuple) -> dict[str, tf.Tensor]:
        """The step's gate activations, by name, read from :meth:`forward`'s ``saved``.

        Each ``[batch, units]``. The names are the equations': ``'candidate'`` (the
        tanh-like activation whose saturation stops the gradient), ``'forget'``,
        ``'update'``, ``'input'``, ``'output'``, ``'reset'`` as the cell has them. The
        gradient lab's recorder (:mod:`lowlevel.gradient_record`) reads them; a cell
        that names none returns ``{}`` (its gate statistics are then ``nan``).
        """
        return {}

    def cannot_backward(self) -> str | None:
        """``None`` if :meth:`backward` can run this cell, else why not (one line)."""
        if type(self).backward is StepContract.backward:
            return f"{type(self).__name__} has no backward step"
        for argument in ("activation", "recurrent_activation"):
            fn = getattr(self, argument, None)
            if fn is not None and activations.derivative(fn) is None:
                return (f"its `{argument}` {activations.name_of(fn)!r} has no known derivative "
                        f"(known: {list(activations.DERIVATIVE_NAMES)})")
        return None

    def step(self, x_t: tf.Tensor, states: list[tf.Tensor], masks: tuple | None = (None, None),
             weights: tuple | None = None, matmul: Callable = tf.matmul) -> tuple:
        """``(output, new_states)`` of :meth:`forward`, unchecked (what the loops call).

        Args:
            x_t: ``[batch, input_dim]``.
            states: the list of states, each ``[batch, units]``.
            masks: ``(m_x, m_h)`` of :meth:`draw_dropout_masks`, or ``None``: no dropout.
            weights: the nest of :meth:`step_weights`; ``None``: the variables.
            matmul: how to form each product with a weight (``tf.matmul``).
        """
        if weights is None:
            weights = self.step_weights()
        output, new_states, _ = self.forward(x_t, states, weights,
                                             (None, None) if masks is None else masks, matmul)
        return output, new_states
