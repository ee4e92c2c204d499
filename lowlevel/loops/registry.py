"""The time loops by name, and the one place that chooses among them.

Each loop module offers ``cannot_run(cell) -> None or why`` (what it needs of a cell),
``cannot_serve(request) -> None or why`` (of one call, e.g. a known length) and
``run(request) -> (last [batch, units], sequence [batch, time, units] or None,
final_states)`` for a :class:`~lowlevel.loops.request.Request`. A named loop that
cannot serve a request is an error naming the loop and the reason, never a silent
fallback; ``'auto'`` picks one that can (:func:`choose`).
"""

from __future__ import annotations

from lowlevel.loops import bptt, fast, reference, unrolled

LOOPS = {"reference": reference, "fast": fast, "bptt": bptt, "unrolled": unrolled}
IMPLEMENTATIONS = (*LOOPS, "auto")  # the loops, then the one that chooses
DEFAULT_IMPLEMENTATION = "auto"


def check(implementation) -> str:
    """``implementation`` if it names a loop (or ``'auto'``); else a ``ValueError``."""
    if not isinstance(implementation, str) or implementation not in IMPLEMENTATIONS:
        raise ValueError(f"`implementation` must be one of {IMPLEMENTATIONS}; "
                         f"received {implementation!r}. (Keras's integer modes 1 and "
                         "2 select its kernel fusion and have no equivalent here.)")
    return implementation


def choose(request) -> str:
    """What ``'auto'`` runs: ``'fast'``, which serves every request.

    Measured fastest of the loops that serve everything, with a first call of about a
    second at any length (``docs/speed.md``); ``'unrolled'`` steps faster but its
    first call takes seconds.
    """
    return "fast"


def cannot_run(implementation, cell):
    """``None`` if ``implementation`` can run ``cell`` (``'auto'`` always can), else why not."""
    if check(implementation) == "auto":
        return None
    return LOOPS[implementation].cannot_run(cell)


def serving(implementation, request) -> str:
    """The name of the loop that runs ``request``; a ``ValueError`` naming the loop and
    the reason if the one asked for cannot (``'auto'``: :func:`choose`)."""
    name = choose(request) if check(implementation) == "auto" else implementation
    reason = LOOPS[name].cannot_run(request.cell) or LOOPS[name].cannot_serve(request)
    if reason is not None:
        raise ValueError(f"implementation={name!r} cannot run this layer: {reason}. "
                         "Use implementation='auto' to run a loop that can.")
    return name


def run(implementation, request):
    """``(last, sequence, final_states)`` of ``request`` on the loop :func:`serving` names."""
    return LOOPS[serving(implementation, request)].run(request)
