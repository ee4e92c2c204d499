"""The integer arguments of the data modules, checked: one clear line naming the
argument, the expected range and the value received."""

from __future__ import annotations

import numbers


def int_at_least(value, argument: str, minimum: int) -> int:
    """``int(value)`` if it is an integer ``>= minimum``, else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"`{argument}` must be an integer >= {minimum}; received {value!r}.")
    return int(value)
