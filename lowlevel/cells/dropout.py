"""Dropout for recurrent cells: one mask per sequence, reused at every step."""

from __future__ import annotations

import tensorflow as tf


def dropout_mask(rng: tf.random.Generator, shape: list | tf.Tensor, rate: float,
                 dtype: tf.DType | str) -> tf.Tensor | None:
    """``mask = [u >= rate] / (1 - rate)`` with ``u ~ U[0, 1)``; ``None`` when ``rate == 0``.

    Args:
        rng: the ``tf.random.Generator`` to draw ``u`` from.
        shape: the mask's shape, e.g. ``[batch, features]``.
        rate: float in ``[0, 1)``, the fraction dropped.
        dtype: the mask's float dtype.
    """
    if not rate:
        return None
    keep = rng.uniform(shape, dtype=tf.float32) >= rate
    # 1 / (1 - rate) in Python float64, then the mask's dtype: a float32 detour would
    # put float64 masks 1e-8 off.
    return tf.cast(keep, dtype) * tf.constant(1.0 / (1.0 - rate), dtype)


def dropped(x: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
    """``x ⊙ mask``, or ``x`` when ``mask`` is ``None`` (no dropout)."""
    return x if mask is None else x * mask


def sequence_graph() -> tf.Graph | None:
    """``None`` eagerly; else the outermost function being traced.

    A ``tf.range`` loop's body or a ``tf.cond`` branch is a function graph inside the
    function's: walk out while the enclosing graph builds a function too.
    """
    if tf.executing_eagerly():
        return None
    graph = tf.compat.v1.get_default_graph()
    while getattr(getattr(graph, "outer_graph", None), "building_function", False):
        graph = graph.outer_graph
    return graph


class DropoutCell:
    """Dropout masks of a cell, as Keras's ``DropoutRNNCell``: the cell draws and caches
    them, its caller decides when a new sequence batch starts (:meth:`reset_dropout_mask`).

    Needs ``_rng`` (a ``tf.random.Generator``), ``dropout``, ``recurrent_dropout``,
    ``input_dim``, ``units``, ``dtype`` and ``_cached_masks`` (``None`` at first).
    """

    def draw_dropout_masks(self, batch_size: int | tf.Tensor) -> tuple:
        """One input mask ``[batch, input_dim]`` and one recurrent mask ``[batch, units]``.

        Inverted dropout (Srivastava et al. 2014): kept entries are scaled by
        ``1 / (1 - rate)`` so the expected input is unchanged; a rate of 0 gives ``None``.
        The same masks are used at every time step of a sequence (Gal & Ghahramani 2016).
        """
        return (
            dropout_mask(self._rng, [batch_size, self.input_dim], self.dropout, self.dtype),
            dropout_mask(self._rng, [batch_size, self.units], self.recurrent_dropout, self.dtype),
        )

    def reset_dropout_mask(self) -> None:
        """Forget the cached masks: the next training call draws new ones.

        As Keras's ``DropoutRNNCell``: the cell caches, its caller decides when a new
        sequence batch starts. Only hand-written eager loops need this; the sequence
        layers draw masks once per call, and a compiled function draws its own afresh
        on every run (:meth:`cached_dropout_masks`).
        """
        self._cached_masks = None

    reset_recurrent_dropout_mask = reset_dropout_mask

    def cached_dropout_masks(self, x_t: tf.Tensor) -> tuple:
        """The masks of the sequence batch ``x_t [batch, input_dim]`` belongs to.

        Cached per (function being traced, batch size): eagerly until
        :meth:`reset_dropout_mask`; inside ``tf.function`` the masks are drawn in the
        function's own graph (not in the body of a ``tf.range`` loop or a branch
        within it), so every step of one execution shares them and every execution
        draws new ones. A new batch size can only be a new sequence batch.
        """
        graph = sequence_graph()
        key = (graph, x_t.shape[0])
        if self._cached_masks is None or self._cached_masks[0] != key:
            if graph is None or graph is tf.compat.v1.get_default_graph():
                masks = self.draw_dropout_masks(tf.shape(x_t)[0])
            else:
                if x_t.shape[0] is None:
                    raise ValueError(
                        "`inputs` has an unknown batch size inside a compiled loop, so the "
                        "dropout masks cannot be drawn outside it: call "
                        "`masks = cell.draw_dropout_masks(batch)` before the loop and "
                        "`cell.step(x_t, states, masks)` inside it.")
                with graph.as_default():
                    masks = self.draw_dropout_masks(x_t.shape[0])
            self._cached_masks = (key, masks)
        return self._cached_masks[1]
