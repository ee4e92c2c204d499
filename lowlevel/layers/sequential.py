"""``Sequential``: layers called in turn, consecutive recurrent layers stepped together.

``lowlevel.Sequential([Embedding(...), LSTM(64, return_sequences=True), LSTM(64),
Dense(...)])(x)`` computes what calling the layers one after the other computes
(``tests/layers/test_sequential.py``: outputs and gradients, and against
``keras.Sequential`` of the same layers). Where a run of consecutive sequence layers
can be stepped as one time loop without changing the function
(:func:`lowlevel.layers.stacking.cannot_stack`, and a loop that runs stacked cells),
it runs them through :func:`lowlevel.stack_layers`: layer ``l`` at step ``t`` beside
layer ``l - 1`` at step ``t + 1`` (``docs/speed.md``). Nothing to ask for.
"""

from __future__ import annotations

import inspect

import tensorflow as tf

from lowlevel._describe import Describable
from lowlevel._weights import KerasOrderedWeights
from lowlevel.layers.stacking import runs_as_one_loop, stack_layers


class Sequential(KerasOrderedWeights, Describable, tf.Module):
    """Layers called in turn: ``y = layers[-1](... layers[1](layers[0](x)))``; consecutive
    sequence layers are stepped together, as one time loop, where that computes the same.

    A ``tf.Module``, not ``keras.Sequential``: it holds lowlevel's layers (or any
    callables) and is what a user writes to get the stacked loop without asking for it
    (``docs/speed.md``). As in Keras, an ``Embedding(mask_zero=True)`` masks the layers
    after it, up to the first that returns no sequence. The layers are called as they
    are, not converted by AutoGraph (a callable with a Python ``if`` on a tensor: give it
    a ``tf.function`` of its own).

    Args:
        layers: a non-empty list of callables taking ``(x, training=...)`` or ``(x)``:
            ``Embedding``, the sequence layers, ``Bidirectional``, a ``Dense``,
            ``tf.nn.relu``.
        name: the module's name.

    Call arguments:
        x: the first layer's input, e.g. ids ``[batch, time]`` or ``[batch, time,
            features]``.
        training: passed to every layer that takes it (dropout).
        mask: optional ``[batch, time]`` for the sequence layers, replaced by an
            ``Embedding``'s own when it has one.

    Returns:
        The last layer's output.

    Attributes:
        weights: every layer's weights, layer by layer, as Keras's ``Sequential.weights``;
            the variables are tracked once, through ``layers``, so a checkpoint has the
            same layout whether or not some layers run as one loop.
        runs: which layers run as one loop.

    Example::

        import tensorflow as tf
        import lowlevel

        model = lowlevel.Sequential([lowlevel.LSTM(8, return_sequences=True),
                                     lowlevel.LSTM(8)])
        y = model(tf.zeros([2, 5, 3]))      # [2, 8]; model.runs == [[0, 1]]
    """

    def __init__(self, layers: list, name: str | None = None):
        super().__init__(name=name)
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
            raise TypeError("`layers` must be a list of callables (layers); "
                            f"received {type(layers).__name__}.")
        layers = list(layers)
        bad = [i for i, layer in enumerate(layers) if not callable(layer)]
        if not layers or bad:
            raise TypeError("`layers` must be a non-empty list of callables (layers); "
                            f"received {[type(layer).__name__ for layer in layers]}.")
        self.layers = layers
        self._plan = _Plan(layers)

    @property
    def weights(self):
        return [w for layer in self.layers for w in getattr(layer, "weights", [])]

    @property
    def runs(self) -> list[list[int]]:
        """The positions of the layers, grouped as they run: ``[[0], [1, 2], [3]]`` when
        layers 1 and 2 are stepped as one loop."""
        return [list(run) for run, _ in self._plan.steps]

    # Python control flow only: AutoGraph, inside a user's tf.function, would convert this
    # and every layer's call at the first call (seconds: docs/speed.md).
    @tf.autograph.experimental.do_not_convert
    def __call__(self, x, training=False, mask=None):
        """``x`` through every layer in turn; ``mask [batch, time]`` (optional) for the
        sequence layers, replaced by an ``Embedding``'s own when it has one."""
        for run, callee in self._plan.steps:
            next_mask = _mask_after(self.layers[run[-1]], x, mask)
            x = _call(callee, x, training, mask)
            mask = next_mask
        return x


class _Plan:
    """Which layers run as one loop: ``steps``, a list of ``(positions, callable)``.

    A plain object, not a ``tf.Module``: variable tracking and checkpoints do not look
    inside it (the stacked loops hold the layers' own cells), as
    ``lowlevel.models._StackedLoop``.
    """

    def __init__(self, layers):
        self.steps = []
        i = 0
        while i < len(layers):
            end = i + 1
            while end < len(layers) and runs_as_one_loop(layers[i:end + 1]):
                end += 1
            run = list(range(i, end))
            callee = layers[i] if len(run) == 1 else stack_layers(layers[i:end])
            self.steps.append((run, callee))
            i = end



def _accepts(callee, argument) -> bool:
    try:
        parameters = inspect.signature(callee).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return argument in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                         for p in parameters.values())


def _call(callee, x, training, mask):
    kwargs = {}
    if _accepts(callee, "training"):
        kwargs["training"] = training
    if mask is not None and _accepts(callee, "mask"):
        kwargs["mask"] = mask
    return callee(x, **kwargs)


def _mask_after(layer, inputs, mask):
    """The mask the next layer receives, as Keras propagates it: an ``Embedding``'s own
    (``compute_mask``), none after a layer that returns no sequence, else unchanged."""
    if hasattr(layer, "compute_mask"):
        return layer.compute_mask(inputs)
    if getattr(layer, "return_sequences", True) is False:
        return None
    return mask
