"""The hand-written training step: forward, loss, gradients, clipping, update.

``make_train_step(model, optimizer, clip)`` returns a ``tf.function`` that, for one
batch ``ids [batch, time]``, ``labels [batch]``, runs the tutorial's loop in
commented phases and reports what a gradient study needs: the loss, the accuracy,
the global gradient norm *before* clipping, and whether clipping acted. It is the one
step: the experiment, the distributed step's contract, the gradient lab's regression
(``variables=``, mean squared error) and the speed bench (``diagnostics=False``, any
callable and a Keras or lowlevel optimiser) all train with it.

NaN policy: what is checked is what would be applied. The update runs only when the
clipped gradients are all finite (``applied``); otherwise no variable and no optimiser
slot moves, and the step reports ``applied = False`` with the clipped norm, so a caller
stops before saving anything.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types

import tensorflow as tf

from lowlevel import clipping
from lowlevel.compiled import function as compiled_function

CLIP_MODES = ("none", "value", "norm", "global_norm")

# The step's own parts branch on Python values only (the clip mode, None), so they are
# marked do_not_convert: traced as written, not converted by AutoGraph (docs/speed.md,
# "The default path's first call"). The step itself stays convertible: it calls the
# user's model and loss.


@dataclasses.dataclass(frozen=True)
class Clip:
    """How to clip: ``mode`` in ``none | value | norm | global_norm`` and its threshold.

    ``value``: every element into ``[-threshold, threshold]``; ``norm``: each tensor to
    norm ``<= threshold``; ``global_norm``: all tensors scaled together so the global
    norm is ``<= threshold`` (Pascanu, Mikolov & Bengio 2013).
    """

    mode: str = "none"
    threshold: float | None = None

    def __post_init__(self):
        if self.mode not in CLIP_MODES:
            raise ValueError(f"`clip` mode must be one of {CLIP_MODES}; received {self.mode!r}.")
        finite = (isinstance(self.threshold, numbers.Real)
                  and not isinstance(self.threshold, bool) and math.isfinite(self.threshold))
        if self.mode != "none" and not (finite and self.threshold > 0):
            # inf would make global_norm's scale inf / inf = NaN: a poisoned update.
            raise ValueError(f"`clip` mode {self.mode!r} needs a finite threshold > 0; "
                             f"received {self.threshold!r}.")

    @classmethod
    def parse(cls, text: str) -> "Clip":
        """``'none'`` or ``'MODE:THRESHOLD'`` (e.g. ``'global_norm:5'``), the CLI form."""
        mode, _, threshold = text.partition(":")
        if mode == "none":
            return cls()
        try:
            value = float(threshold)
        except ValueError:
            raise ValueError(f"`--clip` must be 'none' or MODE:THRESHOLD with MODE in "
                             f"{CLIP_MODES[1:]}; received {text!r}.") from None
        return cls(mode, value)


@tf.autograph.experimental.do_not_convert
def clip_gradients(grads, clip: Clip):
    """Clip ``grads`` as ``clip`` says; returns ``(clipped, global_norm, acted)``.

    ``global_norm`` is measured before clipping; ``acted`` is True when clipping
    changed any gradient.
    """
    norm = clipping.global_norm(grads)
    if clip.mode == "none":
        return list(grads), norm, tf.constant(False)
    t = clip.threshold
    present = [g for g in grads if g is not None]
    if clip.mode == "value":
        acted = tf.reduce_any([tf.reduce_any(tf.abs(_values(g)) > t) for g in present])
        return [None if g is None else clipping.clip_by_value(g, -t, t) for g in grads], \
            norm, acted
    if clip.mode == "norm":
        acted = tf.reduce_any([clipping.global_norm([g]) > t for g in present])
        return [None if g is None else clipping.clip_by_norm(g, t) for g in grads], norm, acted
    clipped, _ = clipping.clip_by_global_norm(grads, t, use_norm=norm)
    return clipped, norm, norm > t


@tf.autograph.experimental.do_not_convert
def variable_norms(grads):
    """``[‖g_i‖₂ for each gradient]`` as one tensor ``[len(grads)]`` (0 for ``None``);
    an ``IndexedSlices`` is measured by its slices, as the global norm measures it."""
    return tf.stack([clipping.global_norm([g]) if g is not None else tf.constant(0.0)
                     for g in grads])


def _values(g):
    return g.values if isinstance(g, tf.IndexedSlices) else g


@tf.autograph.experimental.do_not_convert
def binary_cross_entropies(logits, labels):
    """``-y log σ(z) - (1 - y) log(1 - σ(z))`` per example ``[batch]``, computed stably
    from logits ``z [batch, 1]`` and labels ``y [batch]``."""
    logits = tf.reshape(logits, [-1])
    labels = tf.cast(labels, logits.dtype)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


@tf.autograph.experimental.do_not_convert
def binary_cross_entropy(logits, labels):
    """The mean of :func:`binary_cross_entropies`: the training loss."""
    return tf.reduce_mean(binary_cross_entropies(logits, labels))


@tf.autograph.experimental.do_not_convert
def correct(logits, labels):
    """``1.0`` where ``σ(z) > 0.5``, i.e. ``z > 0``, equals the label, else ``0.0``:
    ``[batch]`` float32."""
    predicted = tf.cast(tf.reshape(logits, [-1]) > 0, tf.int64)
    return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int64)), tf.float32)


@tf.autograph.experimental.do_not_convert
def accuracy(logits, labels):
    """The mean of :func:`correct`: the fraction of examples classified right."""
    return tf.reduce_mean(correct(logits, labels))


ACCURACY = types.MappingProxyType({"accuracy": accuracy})  # the default metrics, read-only


@tf.autograph.experimental.do_not_convert
def apply_if_finite(optimizer, grads, variables, loss=None):
    """``optimizer.apply_gradients`` only if every gradient in ``grads`` (and ``loss``,
    when given) is finite.

    Returns ``(applied, applied_norm)``: whether the update ran, and the global norm of
    ``grads`` (inf or NaN when it did not). Called inside a ``tf.function``; the
    optimiser's slots are created beforehand (``build``) so neither branch creates any.
    """
    applied_norm = clipping.global_norm(grads)

    def update():
        optimizer.apply_gradients(zip(grads, variables))
        return tf.constant(True)

    # A norm is finite iff every element is: one reduction checks all of them.
    finite = tf.math.is_finite(applied_norm)
    if loss is not None:
        finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(loss)))
    applied = tf.cond(finite, update, lambda: tf.constant(False))
    return applied, applied_norm


def make_train_step(model, optimizer, clip: Clip = Clip(), loss_fn=binary_cross_entropy, *,
                    variables=None, metrics=ACCURACY, diagnostics=True, compiled=True):
    """The one training step: ``step(x, y) -> {loss, accuracy, global_norm, clipped,
    variable_norms, applied, applied_norm}``, compiled (:mod:`lowlevel.compiled`:
    ``tf.function``, called without Grappler's graph rewrites).

    ``model(x, training=True)`` gives the predictions and ``model.trainable_variables``
    are trained; with ``variables`` given, ``model`` is any callable ``apply(x)``
    (called as is: a Keras model, a stack of layers, a hand loop over cells) and those
    variables are trained. ``loss_fn(predictions, y)`` is the scalar loss;
    ``metrics``: ``{name: fn(predictions, y)}`` reported beside it (default: accuracy).
    ``optimizer``: lowlevel's or Keras's (``build`` and ``apply_gradients``).

    ``diagnostics=True``: the norms (one per variable) are measured before clipping,
    ``applied_norm`` after it; ``applied`` is False (and nothing changed) when the
    clipped gradients or the loss are not all finite. ``diagnostics=False``: the lean
    step a timing wants, ``{loss, *metrics}``: no norms, no finiteness check, the
    update always applied (the same update when it is finite). ``compiled=False``
    returns the plain Python step, for a caller that compiles or runs it eagerly.
    """
    if variables is None:
        apply = functools.partial(model, training=True)
        variables = model.trainable_variables
    else:
        apply = model
    variables = list(variables)
    if hasattr(optimizer, "build"):
        # Slots created now, as model.fit does: neither a tf.function's second trace nor
        # a branch of apply_if_finite's tf.cond may create variables.
        optimizer.build(variables)

    # The three parts are name scopes, so a graph view or a profile of the step
    # (benchmarks/profile_step.py) tells them apart.
    def step(x, y):
        # Forward, with dropout on.
        with tf.name_scope("forward"):
            with tf.GradientTape() as tape:
                predictions = apply(x)
                loss = loss_fn(predictions, y)
            report = {"loss": loss,
                      **{name: fn(predictions, y) for name, fn in metrics.items()}}
        with tf.name_scope("backward"):
            grads = tape.gradient(loss, variables)
        with tf.name_scope("update"):
            if not diagnostics:
                grads = grads if clip.mode == "none" else clip_gradients(grads, clip)[0]
                optimizer.apply_gradients(zip(grads, variables))
                return report
            norms = variable_norms(grads)
            # Clip (the norm is reported before clipping, as the studies need it).
            grads, norm, acted = clip_gradients(grads, clip)
            # Update, only if what would be applied is finite.
            applied, applied_norm = apply_if_finite(optimizer, grads, variables, loss)
        return {**report, "global_norm": norm, "clipped": acted, "variable_norms": norms,
                "applied": applied, "applied_norm": applied_norm}

    return compiled_function(step) if compiled else step


def make_eval_step(model, loss_fn=binary_cross_entropy):
    """A compiled ``step(ids, labels) -> {loss, accuracy}`` with dropout off."""

    @tf.function  # inference keeps Grappler (lowlevel.compiled says why)
    def step(ids, labels):
        logits = model(ids, training=False)
        return {"loss": loss_fn(logits, labels), "accuracy": accuracy(logits, labels)}

    return step
