"""The spectrum of ``recurrent_kernel``, whole and per gate block, and a knob for it.

:func:`recurrent_spectrum` gives singular values and spectral radius;
:func:`rescale_recurrent_kernel` scales a block to a chosen radius or largest singular
value, the quantities that bound how gradients vanish or explode through time
(Pascanu, Mikolov & Bengio 2013). The gate blocks are named by :mod:`lowlevel.kinds`.
Part of the instruments of :mod:`lowlevel.gradients`.
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from lowlevel import kinds


def gate_names(cell) -> tuple:
    """The fused column blocks of ``recurrent_kernel``, in Keras's order
    (:mod:`lowlevel.kinds`): ``('i', 'f', 'c', 'o')`` (LSTM), ``('z', 'r', 'h')`` (GRU),
    ``('h',)`` (SimpleRNN, and a cell of another kind, taken as one block)."""
    try:
        return kinds.of_cell(cell).gate_names
    except ValueError:
        return ("h",)



def _spectral_radius(matrix):
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def _block(cell, gate):
    """``(column slice, block)`` of ``recurrent_kernel`` for ``gate`` (``None``: whole)."""
    u = cell.recurrent_kernel.numpy().astype(np.float64)  # [units, G * units]
    if gate is None:
        return slice(None), u
    names = gate_names(cell)
    if gate not in names:
        raise ValueError(f"`gate` must be one of {names} or None for {type(cell).__name__}; "
                         f"received {gate!r}.")
    n = cell.units
    cols = slice(names.index(gate) * n, (names.index(gate) + 1) * n)
    return cols, u[:, cols]


def recurrent_spectrum(cell) -> dict:
    """Singular values and spectral radius of ``U = recurrent_kernel [units, G*units]``.

    Returns ``{'singular_values': [min(units, G*units)], 'spectral_radius': float or
    None, 'gates': {name: {'singular_values': [units], 'spectral_radius': float}}}``.
    Gate blocks are the column blocks of width ``units`` (LSTM i, f, c, o; GRU z, r, h;
    SimpleRNN one block 'h'); the radius ``max|eig|`` needs a square matrix, so it is
    ``None`` for the whole fused kernel of a gated cell.
    """
    _, u = _block(cell, None)
    spectrum = {"singular_values": np.linalg.svd(u, compute_uv=False),
                "spectral_radius": _spectral_radius(u) if u.shape[0] == u.shape[1] else None,
                "gates": {}}
    for name in gate_names(cell):
        _, block = _block(cell, name)
        spectrum["gates"][name] = {"singular_values": np.linalg.svd(block, compute_uv=False),
                                   "spectral_radius": _spectral_radius(block)}
    return spectrum


def rescale_recurrent_kernel(cell, target, by="spectral_radius", gate=None) -> float:
    """Scale ``recurrent_kernel`` (or one gate block) in place; return the factor.

    After the call the block's spectral radius ``max|eig(U)|`` (``by='spectral_radius'``)
    or largest singular value ``σ_max(U)`` (``by='singular_value'``) equals ``target``.

    Pascanu, Mikolov & Bengio (2013): with ``h_t = φ(x_t W + h_{t-1} U + b)`` and
    ``|φ'| <= γ`` (``γ = 1`` for tanh, ``1/4`` for the sigmoid),
    ``‖∂h_t/∂h_{t-1}‖ <= σ_max(U) γ``. So ``σ_max(U) < 1/γ`` is *sufficient* for the
    gradients to vanish (geometrically in the distance), and ``σ_max(U) > 1/γ`` is
    *necessary* for them to explode (not sufficient: a saturated φ can still damp them).
    The conditions are on the largest singular value, not the spectral radius
    ``ρ(U) <= σ_max(U)``: ``U = 1.5 [[1, 1], [-1, -1]]`` has ``ρ = 0`` and ``σ_max = 3``,
    and forty Jacobians ``diag(1, 0) Uᵀ`` multiply to a norm above 1e7
    (``tests/gradients/test_gradients.py``). The two agree for the studies' orthogonal ``U``.
    """
    if by not in ("spectral_radius", "singular_value"):
        raise ValueError("`by` must be 'spectral_radius' or 'singular_value'; "
                         f"received {by!r}.")
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not target > 0:
        raise ValueError(f"`target` must be a positive number; received {target!r}.")
    cols, block = _block(cell, gate)
    if by == "spectral_radius":
        if block.shape[0] != block.shape[1]:
            raise ValueError(f"by='spectral_radius' needs a square block; the whole kernel "
                             f"of {type(cell).__name__} is {block.shape}: pass `gate`.")
        current = _spectral_radius(block)
    else:
        current = float(np.linalg.svd(block, compute_uv=False)[0])
    if current == 0.0:
        raise ValueError("cannot rescale a recurrent_kernel block that is all zeros.")
    factor = float(target) / current
    u = cell.recurrent_kernel.numpy().astype(np.float64)
    u[:, cols] *= factor
    cell.recurrent_kernel.assign(tf.cast(u, cell.recurrent_kernel.dtype))
    return factor
