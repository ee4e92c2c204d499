"""One-step Jacobians ``J_t = ∂s_t/∂s_{t-1}`` of a recurrent cell and the norms of their
products (Pascanu, Mikolov & Bengio 2013)::

    ∂s_T/∂s_{T-k} = J_T J_{T-1} ... J_{T-k+1}

so a perturbation ``k`` steps before the end moves the final state by at most the
product's largest singular value. Measured exactly from the tape with ``cell.step``
(inference path, no dropout); part of the instruments of :mod:`lowlevel.gradients`.
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf


def step_jacobians(cell, x_t, states) -> tf.Tensor:
    """``J = ∂s_t/∂s_{t-1}`` per example: ``[batch, S, S]``, layout ``[out, in]``.

    ``s = h`` (``S = units``) for SimpleRNN and GRU, ``s = concat(h, c)`` (``S = 2 *
    units``) for LSTM. ``x_t [batch, input_dim]``; ``states`` as ``cell.step`` takes them.
    For a tanh SimpleRNN, ``h_t = tanh(x_t W + h_{t-1} U + b)`` gives
    ``J = diag(1 - h_t²) Uᵀ``.
    """
    x_t = tf.convert_to_tensor(x_t, cell.dtype)
    s = tf.concat([tf.convert_to_tensor(v, cell.dtype) for v in tf.nest.flatten(states)],
                  axis=-1)  # [batch, S]
    with tf.GradientTape() as tape:
        tape.watch(s)
        _, new_states = cell.step(x_t, tf.split(s, cell.state_count, axis=-1))
        s_new = tf.concat(new_states, axis=-1)  # [batch, S]
    return tape.batch_jacobian(s_new, s)  # [batch, S, S]


def spectral_norms(jacobians) -> np.ndarray:
    """Largest singular value ``‖J_b‖_2`` of each ``J_b`` in ``[batch, S, S]``: ``[batch]``."""
    j = np.asarray(jacobians.numpy() if hasattr(jacobians, "numpy") else jacobians)
    return np.linalg.svd(j, compute_uv=False)[..., 0]


def jacobian_product_norms(cell, inputs, initial_state=None, k=None) -> np.ndarray:
    """``‖∂s_T/∂s_{T-k}‖_2 = ‖J_T J_{T-1} ... J_{T-k+1}‖_2`` per example.

    ``inputs [batch, time, features]`` (``T = time``; ``s_0`` is the initial state).
    Returns ``[time, batch]``: row ``k - 1`` is the norm for a product of ``k``
    Jacobians ending at the last step — how much a perturbation ``k`` steps before the
    end can move the final state. With an integer ``k``, only that row (``[batch]``).
    """
    inputs = tf.convert_to_tensor(inputs, cell.dtype)  # [batch, time, features]
    time = inputs.shape[1]
    if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral)
                          or not 1 <= k <= time):
        raise ValueError(f"`k` must be an integer in [1, {time}] (time); received {k!r}.")
    if not cell.built:
        cell.build(inputs.shape[-1])
    states = (cell.get_initial_state(inputs.shape[0]) if initial_state is None
              else [tf.convert_to_tensor(s, cell.dtype) for s in tf.nest.flatten(initial_state)])
    jacobians = []
    for t in range(time):
        jacobians.append(step_jacobians(cell, inputs[:, t], states))
        _, states = cell.step(inputs[:, t], states)
    product = None
    norms = []
    for j in reversed(jacobians):  # product = J_T ... J_{T-k+1}, [batch, S, S]
        product = j if product is None else product @ j
        norms.append(spectral_norms(product))
    norms = np.stack(norms)  # [time, batch]
    return norms if k is None else norms[k - 1]
