"""SGD, RMSprop and Adam written from their update equations, step for step equal to
Keras 3 (``keras/src/optimizers/{sgd,rmsprop,adam}.py``).

Each update is a small pure function of tensors (``sgd_step``, ``rmsprop_step``,
``adam_step`` in :mod:`lowlevel.update_rules`, also importable from here) written in
Keras's exact arithmetic. The ``tf.Module`` optimisers here own the variables:

* ``learning_rate``: a **float32** variable even when the model is float64, because
  Keras keeps it in a ``floatx()`` variable and casts it to each variable's dtype;
  a float64 step therefore uses ``float64(float32(lr))`` (``0.01`` becomes
  ``0.009999999776482582``), a 2e-9 relative change that the float64 bar of 1e-10
  would notice. Other hyperparameters stay Python floats, with Keras's float32
  roundings where it makes them (:mod:`lowlevel.update_rules`).
* ``iterations``: an int64 step counter, incremented once per ``apply_gradients``.
* slots (momentum, velocity, ...): created lazily, zero-initialised, the first time a
  variable receives a gradient, under ``tf.init_scope`` so that the first call may
  happen inside a ``tf.function``. All of them are tracked by ``tf.Module``, so
  ``tf.train.Checkpoint(optimizer=opt)`` saves and restores them. Slots are
  checkpointed in the order variables were first updated (as Keras orders its
  optimizer variables): restore into an optimizer that updates the same variables in
  the same order.

``apply_gradients(zip(grads, variables))`` skips ``None`` gradients (their variables
and slots are untouched) and casts each gradient to its variable's dtype.

Sparse gradients (``tf.IndexedSlices``, e.g. from an embedding lookup) give exactly
the update of the dense gradient ``tf.convert_to_tensor(slices)``, whose row ``r`` is
the *sum* of the slices with id ``r``. Keras 3.15's RMSprop and Adam do not: they
square each repeated slice separately (``g1**2 + g2**2`` instead of ``(g1 + g2)**2``)
and centered RMSprop can crash on repeated ids. See ``tests/training/test_optimizers.py``.
"""

from __future__ import annotations

import math
import numbers

import tensorflow as tf

from lowlevel.update_rules import (adam_step, densify, float32_constant,  # noqa: F401
                                   rmsprop_step, sgd_momentum_step, sgd_step,
                                   sum_repeated_rows)

# Keras keeps the learning rate in a variable of backend.floatx(), float32 by default.
LEARNING_RATE_DTYPE = tf.float32


# ---------------------------------------------------------------------------------
# Argument checks: name the argument, the expected range and the value received.
# ---------------------------------------------------------------------------------


def _number(value, argument: str, low: float, high: float | None = None,
            high_inclusive: bool = False) -> float:
    """``value`` as a float in ``[low, high)`` (``[low, high]`` if inclusive)."""
    expected = f"[{low}, {'inf' if high is None else high}{']' if high_inclusive else ')'}"
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < low
            or (high is not None and (value > high if high_inclusive else value >= high))):
        raise ValueError(
            f"`{argument}` must be a finite number in {expected}; received {value!r}."
        )
    return float(value)


def _boolean(value, argument: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"`{argument}` must be True or False; received {value!r}.")
    return value


def _as_variable(variable) -> tf.Variable:
    """A ``tf.Variable``; a ``keras.Variable`` is unwrapped to the one it holds."""
    if isinstance(variable, tf.Variable):
        return variable
    inner = getattr(variable, "value", None)
    if isinstance(inner, tf.Variable):
        return inner
    raise TypeError(
        "`grads_and_vars` must pair each gradient with a tf.Variable or "
        f"keras.Variable; received {type(variable).__name__}."
    )


class _SlotIndex:
    """Maps a variable to its position in ``Optimizer._slots``.

    A plain object, not a dict attribute, so ``tf.Module`` does not try to track
    (and fail to checkpoint) a dictionary keyed by variable references.
    """

    def __init__(self):
        self.position = {}  # tf.Variable.ref() -> int


# ---------------------------------------------------------------------------------
# Optimisers.
# ---------------------------------------------------------------------------------


class Optimizer(tf.Module):
    """Owns ``learning_rate``, ``iterations`` and the per-variable slots.

    Subclasses name their slots (``slot_names``) and update one variable in
    ``_update`` from a dense gradient of its dtype.
    """

    slot_names: tuple[str, ...] = ()
    # True when rows whose gradient is zero do not change: an IndexedSlices gradient
    # may then update its own rows only (plain SGD). Momentum and moving averages
    # decay every row, so the others update densely.
    _rows_without_gradient_are_unchanged = False

    def __init__(self, learning_rate, name=None):
        super().__init__(name=name)
        learning_rate = _number(learning_rate, "learning_rate", 0.0)
        with self.name_scope:
            self.learning_rate = tf.Variable(
                learning_rate, dtype=LEARNING_RATE_DTYPE, trainable=False,
                name="learning_rate")
            self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False,
                                          name="iterations")
        self._slots = []  # one {slot_name: tf.Variable} per variable, first-update order
        self._slot_index = _SlotIndex()

    def slots(self, variable) -> dict:
        """``{slot_name: tf.Variable}`` for ``variable`` (empty before its first update)."""
        position = self._slot_index.position.get(_as_variable(variable).ref())
        return {} if position is None else dict(self._slots[position])

    def _slots_for(self, variable: tf.Variable) -> dict:
        position = self._slot_index.position.get(variable.ref())
        if position is None:
            base_name = variable.name.split(":")[0]
            # init_scope lifts creation out of any tf.function being traced: the slots
            # are created once, eagerly, and later traces reuse them.
            with tf.init_scope(), self.name_scope:
                slots = {
                    slot: tf.Variable(tf.zeros(variable.shape, variable.dtype),
                                      trainable=False, name=f"{base_name}/{slot}")
                    for slot in self.slot_names
                }
            position = len(self._slots)
            self._slots.append(slots)
            self._slot_index.position[variable.ref()] = position
        return self._slots[position]

    def build(self, variables):
        """Create the slots of ``variables`` now, in this order; returns ``self``.

        Idempotent, and equal to the lazy creation of the first update when given the
        variables in update order. Needed under ``tf.distribute``: slots created inside
        ``strategy.scope()`` are mirrored like the variables they track.
        """
        for variable in variables:
            self._slots_for(_as_variable(variable))
        return self

    # Python control flow only (None, IndexedSlices, slot creation): nothing for
    # AutoGraph to convert, and converting it cost seconds of a first training step.
    @tf.autograph.experimental.do_not_convert
    def apply_gradients(self, grads_and_vars):
        """Update each variable from its gradient; return ``iterations`` (incremented).

        ``grads_and_vars`` is an iterable of ``(gradient, variable)``, e.g.
        ``zip(grads, variables)``; a gradient is a tensor of the variable's shape, an
        ``IndexedSlices`` or ``None`` (skipped).
        """
        pairs = [(g, _as_variable(v)) for g, v in grads_and_vars]
        updates = [(g, v) for g, v in pairs if g is not None]
        if not updates:
            raise ValueError(
                "`grads_and_vars` must hold at least one gradient that is not None; "
                f"received {len(pairs)} pairs, all None."
            )
        for g, variable in updates:
            self._apply(g, variable)
        # Counted after the updates: Adam's step t reads iterations + 1, as in Keras.
        self.iterations.assign_add(1)
        return self.iterations

    def _apply(self, g, variable: tf.Variable) -> None:
        slots = self._slots_for(variable)
        lr = tf.cast(self.learning_rate, variable.dtype)
        if isinstance(g, tf.IndexedSlices):
            g = tf.IndexedSlices(tf.cast(g.values, variable.dtype), g.indices, g.dense_shape)
            if self._rows_without_gradient_are_unchanged:
                # Summing repeated ids first is what makes this exact: scatter_sub of
                # the raw slices would subtract them one at a time, (w - a) - b,
                # instead of w - (a + b) as the dense update does.
                g = sum_repeated_rows(g)
                variable.scatter_sub(
                    tf.IndexedSlices(g.values * lr, g.indices, g.dense_shape))
                return
            # Every row of every slot moves (decay), so the dense update is the
            # definition; densifying costs one [rows, ...] tensor and is exactly it.
            g = densify(g, tf.shape(variable)[0])
        else:
            g = tf.cast(g, variable.dtype)
        self._update(variable, g, lr, slots)

    def _update(self, variable, g, lr, slots) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)``, as ``keras.optimizers.SGD``::

        w <- w - g * lr                                (momentum = 0)
        v <- v * momentum - g * lr;  w <- w + v        (momentum > 0)
        w <- w + (v * momentum - g * lr)               (nesterov, with the new v)

    ``momentum`` in ``[0, 1]``; the slot ``momentum`` (``v``) exists only when
    ``momentum > 0``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        super().__init__(learning_rate, name=name)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0, high_inclusive=True)
        self.nesterov = _boolean(nesterov, "nesterov")
        self.slot_names = ("momentum",) if self.momentum != 0 else ()
        self._rows_without_gradient_are_unchanged = self.momentum == 0

    def _update(self, variable, g, lr, slots) -> None:
        if not slots:
            variable.assign(sgd_step(variable, g, lr))
            return
        momentum = float32_constant(self.momentum, variable.dtype)  # float32, as Keras
        w, v = sgd_momentum_step(variable, slots["momentum"], g, lr, momentum, self.nesterov)
        slots["momentum"].assign(v)
        variable.assign(w)


class RMSprop(Optimizer):
    """``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False)``,
    as ``keras.optimizers.RMSprop`` (equations in ``rmsprop_step``)::

        v <- rho * v + (1 - rho) * g**2
        a <- rho * a + (1 - rho) * g                   (centered)
        increment = lr * g / sqrt(v - a**2 + epsilon)  (a = 0 when not centered)
        m <- momentum * m + increment;  w <- w - m     (w <- w - increment if momentum = 0)

    ``rho`` in ``[0, 1)``, ``momentum`` in ``[0, 1]``, ``epsilon >= 0``. Slots:
    ``velocity`` (v), ``momentum`` (m, if momentum > 0), ``average_gradient``
    (a, if centered).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07,
                 centered=False, name=None):
        super().__init__(learning_rate, name=name)
        self.rho = _number(rho, "rho", 0.0, 1.0)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0, high_inclusive=True)
        self.epsilon = _number(epsilon, "epsilon", 0.0)
        self.centered = _boolean(centered, "centered")
        self.slot_names = (("velocity",)
                           + (("momentum",) if self.momentum > 0 else ())
                           + (("average_gradient",) if self.centered else ()))

    def _update(self, variable, g, lr, slots) -> None:
        w, v, a, m = rmsprop_step(
            variable, g, lr, rho=self.rho, epsilon=self.epsilon,
            v=slots["velocity"], a=slots.get("average_gradient"),
            m=slots.get("momentum"), momentum=self.momentum)
        slots["velocity"].assign(v)
        if a is not None:
            slots["average_gradient"].assign(a)
        if m is not None:
            slots["momentum"].assign(m)
        variable.assign(w)


class Adam(Optimizer):
    """``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False)``,
    as ``keras.optimizers.Adam`` (equations in ``adam_step``)::

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t),  t = iterations + 1
        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g**2 - v) * (1 - beta_2)
        w <- w - (m * alpha) / (sqrt(v) + epsilon)     (v -> max(v_hat, v) if amsgrad)

    ``beta_1``, ``beta_2`` in ``[0, 1)``, ``epsilon >= 0``. Slots: ``momentum`` (m),
    ``velocity`` (v), ``velocity_hat`` (if amsgrad).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07,
                 amsgrad=False, name=None):
        super().__init__(learning_rate, name=name)
        self.beta_1 = _number(beta_1, "beta_1", 0.0, 1.0)
        self.beta_2 = _number(beta_2, "beta_2", 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", 0.0)
        self.amsgrad = _boolean(amsgrad, "amsgrad")
        self.slot_names = ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def _update(self, variable, g, lr, slots) -> None:
        t = tf.cast(self.iterations + 1, variable.dtype)
        w, m, v, v_hat = adam_step(
            variable, g, lr, t, beta_1=self.beta_1, beta_2=self.beta_2,
            epsilon=self.epsilon, m=slots["momentum"], v=slots["velocity"],
            v_hat=slots.get("velocity_hat"))
        slots["momentum"].assign(m)
        slots["velocity"].assign(v)
        if v_hat is not None:
            slots["velocity_hat"].assign(v_hat)
        variable.assign(w)
