"""The two sides of a parity case: a lowlevel component and its Keras twin, built with
the same random (non-default) weights and non-zero biases, and the seeded inputs,
initial states and masks they run on. :mod:`lowlevel.parity` compares them.

A case (``lowlevel.parity.Case``) names the component by its class name
(``'LSTMCell'``, ``'GRU'``, ``'StackedCells'``, ``'Bidirectional'``, ``'Embedding'``)
and carries its options; the cell kinds come from :mod:`lowlevel.kinds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

import lowlevel
from lowlevel import kinds

if TYPE_CHECKING:
    from lowlevel.parity import Case

CELLS = tuple(k.cell for k in kinds.KINDS.values())
LAYERS = tuple(k.layer for k in kinds.KINDS.values())

_CELL_OPTIONS = {"activation", "recurrent_activation", "use_bias", "unit_forget_bias",
                 "reset_after"}
_LAYER_OPTIONS = {"return_sequences", "return_state", "go_backwards"}
_OUR_OPTIONS = {"implementation"}  # ours only: the time loop (lowlevel.loops.registry)


def _split_options(component, opts):
    cell_kw = {k: v for k, v in opts.items() if k in _CELL_OPTIONS}
    layer_kw = {k: v for k, v in opts.items() if k in _LAYER_OPTIONS}
    kind = kinds.of_class_name(component).name if component else None
    if kind != "lstm":
        cell_kw.pop("unit_forget_bias", None)
    if kind != "gru":
        cell_kw.pop("reset_after", None)
    if kind == "simple":
        cell_kw.pop("recurrent_activation", None)
    return cell_kw, layer_kw


def build_pair(c: Case, units=5, input_dim=4, vocabulary=11):
    """``(ours, theirs)`` for ``c``, theirs built, ours with the same weights."""
    opts, dtype = c.opts, c.dtype
    if c.component == "Embedding":
        ours = lowlevel.Embedding(vocabulary, units, dtype=dtype)
        theirs = keras.layers.Embedding(vocabulary, units, dtype=dtype)
        theirs.build((None, None))
    elif c.component in CELLS:
        cell_kw, _ = _split_options(c.component, opts)
        kind = kinds.of_class_name(c.component)
        ours = kind.cell_class()(units, input_dim=input_dim, dtype=dtype, **cell_kw)
        theirs = kind.keras_cell_class()(units, dtype=dtype, **cell_kw)
        theirs.build((None, input_dim))
    elif c.component == "StackedCells":
        stack = [kinds.of_class_name(k) for k in opts.get("stack", ("LSTM", "GRU"))]
        _, layer_kw = _split_options("", opts)
        ours = lowlevel.RNN(lowlevel.StackedCells(
            [k.cell_class()(units, dtype=dtype) for k in stack]), **layer_kw,
            **_ours_only(opts))
        ours.build(input_dim)
        theirs = keras.layers.RNN(keras.layers.StackedRNNCells(
            [k.keras_cell_class()(units, dtype=dtype) for k in stack], dtype=dtype),
            dtype=dtype, **layer_kw)
        theirs.build((None, None, input_dim))
    else:
        layer = opts.get("layer", "LSTM") if c.component == "Bidirectional" else c.component
        cell_kw, layer_kw = _split_options(layer, opts)
        kind = kinds.of_class_name(layer)
        ours = kind.layer_class()(units, input_dim=input_dim, dtype=dtype, **cell_kw,
                                  **layer_kw, **_ours_only(opts))
        theirs = kind.keras_layer_class()(units, dtype=dtype, **cell_kw, **layer_kw)
        if c.component == "Bidirectional":
            merge_mode = opts.get("merge_mode", "concat")
            ours = lowlevel.Bidirectional(ours, merge_mode=merge_mode)
            # Keras's wrapper casts to its own dtype (float32 unless told).
            theirs = keras.layers.Bidirectional(theirs, merge_mode=merge_mode, dtype=dtype)
        theirs.build((None, None, input_dim))
    rng = np.random.default_rng(7)
    weights = [rng.normal(0.0, 0.5, w.shape) for w in theirs.get_weights()]
    theirs.set_weights([w.astype(dtype) for w in weights])
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _ours_only(opts):
    return {k: v for k, v in opts.items() if k in _OUR_OPTIONS}


def _state_count(c: Case) -> int:
    opts = c.opts
    if c.component == "StackedCells":
        return sum(kinds.of_class_name(k).states for k in opts.get("stack", ("LSTM", "GRU")))
    layer = opts.get("layer", "LSTM") if c.component == "Bidirectional" else c.component
    per_layer = kinds.of_class_name(layer).states
    return per_layer * (2 if c.component == "Bidirectional" else 1)


def make_inputs(c: Case, batch=3, time_steps=6, units=5, input_dim=4, vocabulary=11):
    """Inputs, initial states and mask for ``c`` (seeded)."""
    rng = np.random.default_rng(11)
    opts, dtype = c.opts, c.dtype
    if c.component == "Embedding":
        return {"ids": tf.constant(rng.integers(0, vocabulary, [batch, time_steps]))}
    if c.component in CELLS:
        x = rng.normal(0, 1, [batch, input_dim])
    else:
        x = rng.normal(0, 1, [batch, time_steps, input_dim])
    out = {"x": tf.constant(x, dtype)}
    if c.component in CELLS or opts.get("initial_state"):
        out["states"] = [tf.constant(rng.normal(0, 1, [batch, units]), dtype)
                         for _ in range(_state_count(c))]
    if c.component not in CELLS and opts.get("mask"):
        out["mask"] = tf.constant(_mask(opts["mask"], batch, time_steps, rng))
    return out


def _mask(kind, batch, time_steps, rng):
    lengths = np.array([time_steps, time_steps // 2, 1][:batch])
    steps = np.arange(time_steps)[None, :]
    if kind == "right":
        return steps < lengths[:, None]
    if kind == "left":
        return steps >= (time_steps - lengths)[:, None]
    if kind == "random":
        m = rng.random([batch, time_steps]) < 0.6
        m[-1] = False  # an all-masked example: states stay initial, output stays 0
        return m
    raise ValueError(f"`mask` must be 'right', 'left' or 'random'; received {kind!r}.")
