"""How lowlevel compiles its training steps: ``tf.function``, called without Grappler.

Grappler, TensorFlow's graph optimiser, rewrites a function's whole graph at its first
call. An unrolled loop's graph (:mod:`lowlevel.loops.unrolled`) is thousands of plain
ops that the cells already write lean (``bias_add``, one ``unstack``); Grappler took
most of its first training step and left the steps no faster (docs/speed.md, "The
first call without Grappler"). :func:`function` is ``tf.function`` whose calls run with
Grappler's meta-optimizer off: the option is set for the call and put back after it,
so the rest of the program (Keras, a user's own ``tf.function``) keeps TensorFlow's
settings. TensorFlow's own placement and pruning still run.

The training steps (:func:`lowlevel.train.make_train_step`,
:func:`lowlevel.distribute.make_distributed_train_step`) compile through it; a user's
own step gets the same first call by decorating with ``@lowlevel.compiled.function``
instead of ``@tf.function``. ``implementation='auto'`` asks :func:`grappler_is_off`
when it traces a training call: the unrolled loop only where Grappler will not run
(:func:`lowlevel.loops.registry.choose`). Inference (a layer called eagerly, the
evaluation steps) keeps ``tf.function``: the forward pass measured faster under
Grappler in all three pairs (docs/speed.md, table G; the ops it ran were
the same kinds and counts, and why it is faster was not found), and its graph is half
a training step's.
"""

from __future__ import annotations

import contextlib
import functools

import tensorflow as tf

# TensorFlow's public switch for the whole meta-optimizer (every Grappler pass).
_GRAPPLER_OFF = "disable_meta_optimizer"


def grappler_is_off() -> bool:
    """Whether a function called now would be optimised without Grappler's passes:
    inside :func:`grappler_off` (a :class:`Function`'s call, its tracing included), or
    with the user's own setting."""
    return bool(tf.config.optimizer.get_experimental_options().get(_GRAPPLER_OFF, False))


@contextlib.contextmanager
def grappler_off():
    """Functions first called inside are optimised without Grappler's passes.

    TensorFlow reads its optimizer options when a function is called (they travel with
    the call), so setting them around the call scopes them to it. They are a setting of
    the process: another thread first calling a function during the call would see them
    too (Grappler off costs a step nothing measured here, docs/speed.md).
    """
    previous = grappler_is_off()
    if previous:  # the user turned Grappler off already: nothing to scope
        yield
        return
    tf.config.optimizer.set_experimental_options({_GRAPPLER_OFF: True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({_GRAPPLER_OFF: previous})


class Function:
    """A compiled function whose every call runs inside :func:`grappler_off`.

    Every call, not only the first: TensorFlow keys an instantiated function by the
    options it was called with, so a call without them would optimise it anew.
    Anything else (``get_concrete_function``, ``python_function``) is the
    ``tf.function``'s; on a class, ``instance.method`` binds as ``tf.function`` binds.
    """

    def __init__(self, compiled_fn, fn):
        self._function = compiled_fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        with grappler_off():
            return self._function(*args, **kwargs)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return Function(self._function.__get__(instance, owner), self.__wrapped__)

    def __getattr__(self, name):
        if name == "_function":  # not yet set (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._function, name)


def function(fn=None, **tf_function_options):
    """``tf.function(fn, **tf_function_options)``, called without Grappler's passes.

    As a decorator, with or without options: ``@function`` or
    ``@function(jit_compile=False)``.
    """
    if fn is None:
        return functools.partial(function, **tf_function_options)
    # A partial: TensorFlow counts traces per code object, and many functions wrapping
    # one closure's code would read to it as one function retraced.
    return Function(tf.function(functools.partial(fn), **tf_function_options), fn)
