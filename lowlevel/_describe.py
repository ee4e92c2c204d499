"""``count_params()`` and ``summary()`` for every lowlevel module that owns weights.

Counted as Keras counts them: the scalars of the object's ``weights``, trainable and
not (a frozen embedding counts), each variable once; a stateful layer's state
variables are not weights, in Keras as here, so they do not count::

    count_params() = Σ_{w in weights} Π shape(w)

``summary()`` prints one row per sub-layer (the attributes that are modules with
weights, or lists of them, in the order they were set), or the object itself if it
has none, then the totals, as Keras's ``model.summary()`` does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

_COLUMNS = (("Layer (type)", 34), ("Output Shape", 22), ("Param #", 12))


class Describable:
    """Mixin for a ``tf.Module`` with a ``weights`` property: :meth:`count_params` and
    :meth:`summary`, as Keras's layers and models have them."""

    def count_params(self) -> int:
        """The number of scalars in :attr:`weights`, trainable and non-trainable, as
        Keras's ``count_params()`` (a stateful layer's states are not counted).

        An unbuilt object (no weights yet) raises a ``ValueError``, as in Keras.
        """
        if not getattr(self, "built", True):
            raise ValueError(f"count_params() of {self.name!r} needs its weights: call it "
                             "once, build(input_dim), or give input_dim= first.")
        return count_params(self)

    def summary(self, print_fn: Callable[[str], object] = print) -> None:
        """Print a table of the sub-layers, their output shapes and parameter counts,
        and the totals (``Total params`` equals :meth:`count_params`).

        Args:
            print_fn: callable. Receives each line. Default ``print``.
        """
        summary(self, print_fn)


def count_params(obj: Describable) -> int:
    """Σ over ``obj.weights`` (each variable once) of the number of its scalars."""
    return sum(int(np.prod(w.shape)) for w in _unique(obj.weights))


def sublayers(obj: Describable) -> list[tuple[str, object]]:
    """``(attribute, module)`` for each public attribute of ``obj`` that owns weights
    (lists of them entry by entry), in the order they were set."""
    found = []
    for attribute, value in vars(obj).items():
        if attribute.startswith("_"):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for i, v in enumerate(values):
            if _owns_weights(v):
                found.append((attribute if v is value else f"{attribute}[{i}]", v))
    return found


def output_shape(obj: Describable) -> str:
    """The object's ``output_shape`` (``None`` for any size), from ``output_size``
    for a cell-like object, else ``'?'``."""
    shape = getattr(obj, "output_shape", None)
    if shape is None and isinstance(getattr(obj, "output_size", None), int):
        shape = (None, obj.output_size)
    return "?" if shape is None else str(tuple(shape))


def summary(obj: Describable, print_fn: Callable[[str], object] = print) -> None:
    """Print ``obj``'s table (:meth:`Describable.summary`)."""
    rows = [v for _, v in sublayers(obj)] or [obj]
    width = sum(w for _, w in _COLUMNS)
    print_fn(f'Module: "{obj.name}" ({type(obj).__name__})')
    print_fn(_line([title for title, _ in _COLUMNS]))
    print_fn("=" * width)
    for row in rows:
        built = getattr(row, "built", True)
        params = f"{count_params(row):,}" if built else "0 (unbuilt)"
        print_fn(_line([f"{row.name} ({type(row).__name__})", output_shape(row), params]))
    print_fn("=" * width)
    weights = _unique(obj.weights)
    trainable = sum(int(np.prod(w.shape)) for w in weights if w.trainable)
    total = count_params(obj)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")


def _line(cells) -> str:
    (name, w0), (shape, w1), (params, w2) = zip(cells, (w for _, w in _COLUMNS))
    return f"{name:<{w0}}{shape:<{w1}}{params:>{w2}}"


def _owns_weights(value) -> bool:
    return hasattr(value, "name") and isinstance(getattr(type(value), "weights", None),
                                                 property)


def _unique(weights) -> list:
    seen, unique = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            unique.append(w)
    return unique
