"""Time loops: every way of running a cell over ``[batch, time, features]``.

One mechanism: a :class:`Request` from the layer, the shared preparation and masked-step
rule of :mod:`lowlevel.loops.time_major`, and the loops by name in
:mod:`lowlevel.loops.registry` (``'reference'``, ``'fast'``, ``'bptt'``, ``'unrolled'``,
and ``'auto'``, which chooses).
"""

from lowlevel.loops.registry import DEFAULT_IMPLEMENTATION, IMPLEMENTATIONS
from lowlevel.loops.request import Request

__all__ = ["DEFAULT_IMPLEMENTATION", "IMPLEMENTATIONS", "Request"]
