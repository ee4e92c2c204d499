"""The time loops by name, and the one place that chooses among them.

Each loop module offers ``run(request) -> (last [batch, units], sequence [batch, time,
units] or None, final_states)`` for a :class:`~lowlevel.loops.request.Request`, and
where it has needs, ``cannot_run(cell) -> None or why`` (of a cell) and
``cannot_serve(request) -> None or why`` (of one call, e.g. a known length); a loop
without one runs every cell, or serves every call (:func:`cannot`). A named loop that
cannot serve a request is an error naming the loop and the reason, never a silent
fallback; ``'auto'`` picks one that can, by measured rules (:func:`choose`).

Functions whose control flow is on Python values only are marked not to be converted
by AutoGraph: inside a user's ``tf.function`` it would convert them, and everything they
call, at the first call (seconds; docs/speed.md, "The default path's first call").
"""

from __future__ import annotations

import tensorflow as tf

from lowlevel import compiled
from lowlevel.loops import bptt, fast, reference, unrolled

LOOPS = {"reference": reference, "fast": fast, "bptt": bptt, "unrolled": unrolled}
IMPLEMENTATIONS = (*LOOPS, "auto")  # the loops, then the one that chooses
DEFAULT_IMPLEMENTATION = "auto"


@tf.autograph.experimental.do_not_convert
def check(implementation) -> str:
    """``implementation`` if it names a loop (or ``'auto'``); else a ``ValueError``."""
    if not isinstance(implementation, str) or implementation not in IMPLEMENTATIONS:
        raise ValueError(f"`implementation` must be one of {IMPLEMENTATIONS}; "
                         f"received {implementation!r}. (Keras's integer modes 1 and "
                         "2 select its kernel fusion and have no equivalent here.)")
    return implementation


# What 'auto' chooses among: the loops that serve every request a layer makes, and the
# unrolled one where it can ('bptt' is for study: not faster, docs/speed.md).
CANDIDATES = ("fast", "unrolled", "reference")

# 'auto' unrolls a request of at most this many cell steps (time steps x stacked
# cells): up to the large bench size (200 steps x 2 layers), where the written-out
# loop's first training step still fits the default path's budget and its step is
# faster than the compiled loop's for every cell kind; beyond, the first call grows
# with every step (docs/speed.md, "'auto': the rules", has the numbers).
UNROLLED_MAX_CELL_STEPS = 400


@tf.autograph.experimental.do_not_convert
def choose(request) -> str:
    """What ``'auto'`` runs for ``request``, from what is known when tracing.

    Rules, each with its numbers in ``docs/speed.md`` ("'auto': the rules"):

    1. the layer called eagerly (outside any ``tf.function``): ``'fast'``. A gradient
       tape around an eager call builds the backward of the layer's own compiled
       forward with Grappler's passes, out of lowlevel's reach: written out, the LSTM's
       and the GRU's first eager training step took several times the loop's, past
       the budget (table H); a compiled step gets the unrolled loop (rule 4);
    2. the number of time steps unknown (``inputs.shape[1] is None``): ``'fast'``
       (``'unrolled'`` cannot serve it; ``'reference'`` is slower to trace and to step);
    3. ``training=True`` in a function Grappler will rewrite (a plain ``tf.function``,
       not :func:`lowlevel.compiled.function`): ``'fast'``. Grappler's passes over the
       written-out training step made its first call several times the loop's, past
       the budget (table I); a forward pass alone stays within it, and runs faster
       under Grappler (table G);
    4. at most :data:`UNROLLED_MAX_CELL_STEPS` cell steps (time steps times the cells
       of a stack): ``'unrolled'``, whose training step is faster there and whose
       first call, compiled as lowlevel compiles (:mod:`lowlevel.compiled`), stays
       within the default path's budget;
    5. otherwise ``'fast'``: ``'unrolled'`` may step faster, but its first call grows
       with every step.

    Cell kind, batch and dtype move no choice. Compiled as lowlevel compiles, no
    measured margin on them exceeded the spread; eager or training under a plain
    ``tf.function``, the SimpleRNN alone kept the written-out first call within
    budget, and one rule for every kind was kept (tables H and I).
    """
    time_steps = request.inputs.shape[1]
    # Rules 1 and 3: the backward built, or the training step rewritten, by TensorFlow's
    # default graph optimisation, out of lowlevel's reach.
    optimised_elsewhere = request.called_eagerly or (request.training
                                                     and not compiled.grappler_is_off())
    short = (time_steps is not None
             and time_steps * len(_cells(request.cell)) <= UNROLLED_MAX_CELL_STEPS)
    preferred = "unrolled" if short and not optimised_elsewhere else "fast"
    return preferred if cannot(preferred, request) is None else "fast"


def _cells(cell) -> list:
    """The cells stepped at each time step: a stack's, else ``[cell]``."""
    return list(getattr(cell, "cells", [cell]))


@tf.autograph.experimental.do_not_convert
def cannot(name, request):
    """``None`` if the loop ``name`` can serve ``request``, else why not."""
    loop = LOOPS[name]
    for check, subject in ((getattr(loop, "cannot_run", None), request.cell),
                           (getattr(loop, "cannot_serve", None), request)):
        reason = None if check is None else check(subject)
        if reason is not None:
            return reason
    return None


@tf.autograph.experimental.do_not_convert
def cannot_run(implementation, cell):
    """``None`` if ``implementation`` can run ``cell`` (``'auto'`` always can), else why not."""
    if check(implementation) == "auto":
        return None
    check_cell = getattr(LOOPS[implementation], "cannot_run", None)
    return None if check_cell is None else check_cell(cell)


@tf.autograph.experimental.do_not_convert
def serving(implementation, request) -> str:
    """The name of the loop that runs ``request``; a ``ValueError`` naming the loop and
    the reason if the one asked for cannot (``'auto'``: :func:`choose`)."""
    name = choose(request) if check(implementation) == "auto" else implementation
    reason = cannot(name, request)
    if reason is not None:
        raise ValueError(f"implementation={name!r} cannot run this layer: {reason}. "
                         "Use implementation='auto' to run a loop that can.")
    return name


def run(implementation, request):
    """``(last, sequence, final_states)`` of ``request`` on the loop :func:`serving` names."""
    return LOOPS[serving(implementation, request)].run(request)
