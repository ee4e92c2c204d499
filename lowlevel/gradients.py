"""Instruments for vanishing and exploding gradients (Pascanu, Mikolov & Bengio 2013).

Backpropagation through time multiplies one-step Jacobians::

    ∂L/∂h_t = ∂L/∂y_t + ∂L/∂h_{t+1} · ∂h_{t+1}/∂h_t      (y_t = h_t, the output)
    ∂s_T/∂s_{T-k} = J_T J_{T-1} ... J_{T-k+1},   J_t = ∂s_t/∂s_{t-1}

so ``‖∂L/∂h_t‖`` shrinks or grows roughly geometrically with the distance ``T-1-t``
from the loss. These instruments measure both sides exactly, from the tape; all are
importable from here:

- :func:`state_gradient_norms` / :func:`stack_state_gradient_norms`: ``‖∂L/∂h_t‖`` per
  time step of real layers (:func:`all_state_gradients`: also the LSTM's ``∂L/∂c_t``),
  by re-running their cells under one tape with zero probes (masked or
  ``go_backwards`` layers: by the hand-written backward of ``lowlevel.loops.bptt``).
- :func:`step_jacobians`, :func:`spectral_norms`, :func:`jacobian_product_norms`
  (:mod:`lowlevel.jacobians`): the one-step Jacobians and the norms of their products.
- :func:`recurrent_spectrum`, :func:`rescale_recurrent_kernel`
  (:mod:`lowlevel.recurrent_spectrum`): singular values and spectral radius of
  ``recurrent_kernel``, whole and per gate block, and a knob for them.

Nothing here changes library code: the instruments call ``cell.step`` (inference
path, no dropout) with the cell's own variables.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lowlevel.jacobians import jacobian_product_norms, spectral_norms, step_jacobians  # noqa: F401
from lowlevel.loops import bptt
from lowlevel.recurrent_spectrum import (gate_names, recurrent_spectrum,  # noqa: F401
                                         rescale_recurrent_kernel)


# --------------------------------------------------------------- ∂L/∂h_t per step
def _check_layer(layer, mask, what="this instrument"):
    cell = getattr(layer, "cell", None)
    if cell is None or not hasattr(cell, "state_count"):
        raise TypeError("`layer` must be a lowlevel SimpleRNN, LSTM or GRU (one cell, not "
                        f"StackedCells); received {type(layer).__name__} with cell "
                        f"{type(cell).__name__}.")
    if mask is not None:
        raise NotImplementedError(f"{what} does not support `mask`; received a mask. Pass "
                                  "unmasked, equal-length sequences.")
    if getattr(layer, "go_backwards", False):
        raise NotImplementedError(f"{what} does not support go_backwards=True; received "
                                  f"layer {layer.name!r} with go_backwards=True.")


def _probed_forward(layer, inputs, initial_state, tape, probes):
    """Re-run ``layer`` step by step; append one watched zero probe per state per step.

    ``probes`` receives, per step, a list with one ``[batch, units]`` probe per state
    (``[p_h]``, LSTM ``[p_h, p_c]``). Returns the layer's return value (``[batch, time,
    units]`` or ``[batch, units]``), rebuilt from the loop. ``s_t + p_t`` (with ``p_t =
    0``) is what the next step and the output see, so ``∂L/∂p_t`` is the derivative of
    ``L`` with respect to that state through every later step, the other states of the
    same step held fixed (for the LSTM, ``∂L/∂h_t`` with ``c_t`` fixed and ``∂L/∂c_t``
    with ``h_t`` fixed).
    """
    cell = layer.cell
    inputs = tf.convert_to_tensor(inputs, cell.dtype)  # [batch, time, features]
    if not cell.built:
        cell.build(inputs.shape[-1])
    if initial_state is None:
        states = cell.get_initial_state(inputs.shape[0])
    else:
        states = [tf.convert_to_tensor(s, cell.dtype) for s in tf.nest.flatten(initial_state)]
    outputs = []
    for t in range(inputs.shape[1]):
        _, states = cell.step(inputs[:, t], states)
        step_probes = [tf.zeros_like(s) for s in states]  # each [batch, units]
        for probe in step_probes:
            tape.watch(probe)
        probes.append(step_probes)
        states = [s + p for s, p in zip(states, step_probes)]
        outputs.append(states[0])  # every lowlevel cell outputs its h
    if layer.return_sequences:
        return tf.stack(outputs, axis=1)  # [batch, time, units]
    return outputs[-1]


def state_gradients(layer, inputs, loss_fn, initial_state=None, mask=None):
    """``(output, grads)``: the layer's rebuilt return value and ``∂L/∂h_t``.

    Args:
      layer: a lowlevel ``SimpleRNN``, ``LSTM`` or ``GRU`` (``go_backwards=False``).
      inputs: ``[batch, time, features]``.
      loss_fn: ``L = loss_fn(output)`` -> scalar, with ``output`` what ``layer(inputs)``
        returns (``[batch, time, units]`` with ``return_sequences``, else ``[batch, units]``).
      initial_state: optional ``[h]`` or ``[h, c]``, each ``[batch, units]``.
      mask: optional ``[batch, time]`` bool; masked steps keep the previous state and
        get ``grads = 0``.

    Returns:
      ``output`` (equal to ``layer(inputs)``) and ``grads [batch, time, units]`` with
      ``grads[:, t] = ∂L/∂h_t`` — for LSTM the hidden state ``h``, with ``c_t`` held fixed;
      with ``go_backwards`` ``grads[:, k]`` belongs to the k-th step taken.

    A layer with a ``mask`` or ``go_backwards=True`` is measured by the hand-written
    backward pass (:func:`lowlevel.loops.bptt.state_gradients`, whose δh̃_t is this ∂L/∂h_t:
    ``tests/loops/test_bptt.py``); the probes below follow the plain forward loop only.
    """
    if mask is not None or getattr(layer, "go_backwards", False):
        cell = getattr(layer, "cell", None)
        if cell is not None and bptt.supports(cell):
            return bptt.state_gradients(layer, inputs, loss_fn, initial_state, mask)
        _check_layer(layer, mask, f"state_gradients of a {type(cell).__name__} that "
                                  "lowlevel.loops.bptt cannot run")
    _check_layer(layer, mask)
    output, grads = all_state_gradients(layer, inputs, loss_fn, initial_state)
    return output, grads[0]  # [batch, time, units]


def all_state_gradients(layer, inputs, loss_fn, initial_state=None):
    """``(output, [∂L/∂h_t, ...])``: the gradient with respect to every state, per step.

    Arguments as :func:`state_gradients` (no mask, ``go_backwards=False``). Returns one
    ``[batch, time, units]`` tensor per state: ``[∂L/∂h]`` (SimpleRNN, GRU) or
    ``[∂L/∂h, ∂L/∂c]`` (LSTM, each with the other state of the same step held fixed).
    The LSTM's ``c`` path is the one its forget gate keeps open::

        ∂L/∂c_{t-1} = ∂L/∂c_t ⊙ f_t + (terms through h_{t-1} and the gates)
    """
    _check_layer(layer, None, "all_state_gradients")
    with tf.GradientTape() as tape:
        probes = []
        output = _probed_forward(layer, inputs, initial_state, tape, probes)
        loss = loss_fn(output)
    grads = tape.gradient(loss, probes, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    per_state = list(zip(*grads))  # state -> time -> [batch, units]
    return output, [tf.stack(g, axis=1) for g in per_state]  # each [batch, time, units]


def state_gradient_norms(layer, inputs, loss_fn, initial_state=None, mask=None) -> np.ndarray:
    """``‖∂L/∂h_t‖_F`` over batch and units, for each ``t``: an array ``[time]``.

    Arguments as :func:`state_gradients`. Exact (from the tape), not estimated.
    Vanishing gradients show as ``norms[0] << norms[-1]`` when only the last output
    enters the loss; exploding ones as ``norms[0] >> norms[-1]``.
    """
    _, grads = state_gradients(layer, inputs, loss_fn, initial_state, mask)
    return np.sqrt(np.sum(np.square(grads.numpy()), axis=(0, 2)))


def stack_state_gradient_norms(layers, inputs, loss_fn) -> list:
    """``‖∂L/∂h_t‖_F`` for every layer of a stack: a list of ``[time]`` arrays.

    ``layers`` is a list of sequence layers applied in turn (each non-last one with
    ``return_sequences=True``); ``L = loss_fn(layers[-1](...layers[0](inputs)))``,
    ``inputs [batch, time, features]``. All layers are run under one tape.
    """
    layers = list(layers)
    if not layers:
        raise ValueError("`layers` must be a non-empty list of sequence layers; received [].")
    for i, layer in enumerate(layers):
        _check_layer(layer, None, "stack_state_gradient_norms")
        if i < len(layers) - 1 and not layer.return_sequences:
            raise ValueError(f"`layers[{i}]` feeds another layer, so it must have "
                             "return_sequences=True; received return_sequences=False.")
    with tf.GradientTape() as tape:
        per_layer = []
        x = inputs
        for layer in layers:
            probes = []
            x = _probed_forward(layer, x, None, tape, probes)
            per_layer.append(probes)
        loss = loss_fn(x)
    h_probes = [[step[0] for step in probes] for probes in per_layer]
    grads = tape.gradient(loss, h_probes, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [np.sqrt(np.sum(np.square(tf.stack(g, axis=1).numpy()), axis=(0, 2)))
            for g in grads]
