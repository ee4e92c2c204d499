"""The optimisers' update rules: pure functions of tensors, in Keras 3's exact
arithmetic (``keras/src/optimizers/{sgd,rmsprop,adam}.py``: same operations, same order,
same constants), so that eager results equal Keras's bit for bit; under ``tf.function``
graph rewrites may move the last bits. :mod:`lowlevel.optimizers` owns the variables
and assigns what these return.

Hyperparameters stay Python floats, converted straight to the variable's dtype, except
where Keras rounds them to float32 in a float64 step because its
``ops.cast(python_float, "float64")`` is ``tf.cast``, which first makes a float32
tensor: SGD's ``momentum`` and Adam's ``beta_1``/``beta_2`` inside ``beta**t``
(:func:`float32_constant`). Adam's ``(1 - beta)`` factors and all of RMSprop's
constants stay exact, so a float64 Adam step from Keras carries a factor
``(1 - 0.9) / (1 - float32(0.9)) = 1 - 2.4e-7``. We reproduce these roundings rather
than "fix" them: parity with Keras is the promise.

Sparse gradients (``tf.IndexedSlices``) update as the dense gradient
``tf.convert_to_tensor(slices)``, whose row ``r`` is the *sum* of the slices with id
``r`` (:func:`sum_repeated_rows`, :func:`densify`).
"""

from __future__ import annotations

import tensorflow as tf


def float32_constant(value: float, dtype) -> tf.Tensor:
    """``float32(value)`` as a ``dtype`` scalar: what Keras's ``ops.cast(value, dtype)``
    gives for a Python float (``0.9`` becomes ``0.8999999761581421`` in float64)."""
    return tf.cast(tf.constant(value, tf.float32), dtype)


# ---------------------------------------------------------------------------------
# Sparse gradients.
# ---------------------------------------------------------------------------------


def sum_repeated_rows(g: tf.IndexedSlices) -> tf.IndexedSlices:
    """The same gradient with each id once, its slices summed::

        unique_ids = unique(ids)                       # [n_unique], first-seen order
        values[j]  = sum_{k : ids[k] == unique_ids[j]} g.values[k]

    Row ``j`` is summed in order of occurrence, like ``tf.convert_to_tensor(g)``, so
    the summed rows equal the dense gradient's rows bit for bit.
    """
    unique_ids, position = tf.unique(g.indices)  # position: [n_slices] -> [0, n_unique)
    values = tf.math.unsorted_segment_sum(g.values, position, tf.shape(unique_ids)[0])
    return tf.IndexedSlices(values, unique_ids, g.dense_shape)


def densify(g: tf.IndexedSlices, rows) -> tf.Tensor:
    """The dense gradient ``[rows, ...]``: ``dense[r] = sum_{k : ids[k] == r} g.values[k]``.

    The same operation ``tf.convert_to_tensor(g)`` performs, with ``rows`` taken from
    the variable so that ``g.dense_shape`` may be missing.
    """
    return tf.math.unsorted_segment_sum(g.values, g.indices, rows)


# ---------------------------------------------------------------------------------
# Update equations: pure functions of tensors, in Keras's exact arithmetic.
# w: variable value, g: gradient, lr: learning rate, all of w's dtype and shape
# (lr a scalar). They return new values; the optimiser assigns them.
# ---------------------------------------------------------------------------------


def sgd_step(w, g, lr):
    """Plain gradient descent::

        w <- w - g * lr
    """
    return w - g * lr


def sgd_momentum_step(w, v, g, lr, momentum, nesterov: bool):
    """Gradient descent with (Nesterov) momentum; returns ``(w, v)`` (``momentum`` a
    tensor of w's dtype: Keras passes float32(momentum))::

        v <- v * momentum - g * lr
        w <- w + v                                     (nesterov=False)
        w <- w + (v * momentum - g * lr)               (nesterov=True, the new v)
    """
    v = v * momentum - g * lr
    if nesterov:
        return w + (v * momentum - g * lr), v
    return w + v, v


def rmsprop_step(w, g, lr, *, rho, epsilon, v, a=None, m=None, momentum=0.0):
    """RMSprop (Hinton 2012); returns ``(w, v, a, m)`` (``a``/``m`` None when unused)::

        v <- rho * v + (1 - rho) * g**2                mean square of g
        a <- rho * a + (1 - rho) * g                   mean of g      (centered only)
        d  = (v - a**2) + epsilon                      (centered)
        d  = v + epsilon                               (not centered)
        increment = (lr * g) / sqrt(d)                 epsilon *inside* the sqrt
        m <- momentum * m + increment;  w <- w - m     (momentum > 0)
        w <- w - increment                             (momentum = 0)
    """
    v = rho * v + (1 - rho) * tf.square(g)
    if a is not None:
        a = rho * a + (1 - rho) * g
        d = v - tf.square(a) + epsilon
    else:
        d = v + epsilon
    increment = (lr * g) / tf.sqrt(d)
    if m is not None:
        m = momentum * m + increment
        return w - m, v, a, m
    return w - increment, v, a, m


def adam_step(w, g, lr, t, *, beta_1, beta_2, epsilon, m, v, v_hat=None):
    """Adam (Kingma & Ba 2015) in Keras's form; returns ``(w, m, v, v_hat)``::

        t                                              step number, 1 on the first step
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)   both bias corrections
                                                       (beta**t with float32(beta))
        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g**2 - v) * (1 - beta_2)
        v_hat <- max(v_hat, v)                         (amsgrad, Reddi et al. 2018)
        w <- w - (m * alpha) / (sqrt(v) + epsilon)     (sqrt(v_hat) if amsgrad)

    Folding the corrections into ``alpha`` puts epsilon outside the sqrt and
    uncorrected ("epsilon hat" in the paper's section 2): the paper's update with
    its epsilon replaced by ``epsilon * sqrt(1 - beta_2**t)``.
    """
    beta_1_power = tf.pow(float32_constant(beta_1, w.dtype), t)  # as Keras: see module doc
    beta_2_power = tf.pow(float32_constant(beta_2, w.dtype), t)
    alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
    m = m + (g - m) * (1 - beta_1)
    v = v + (tf.square(g) - v) * (1 - beta_2)
    if v_hat is not None:
        v_hat = tf.maximum(v_hat, v)
    v_used = v if v_hat is None else v_hat  # the slot v keeps the plain average
    return w - (m * alpha) / (tf.sqrt(v_used) + epsilon), m, v, v_hat
