"""What the speed benchmarks run: one seeded case per cell kind x implementation x size.

``build_case(kind, implementation, size)`` returns a :class:`Case`: the same seeded data
and the same starting weights (Keras's initialisation, copied with ``set_weights``) for
every implementation, plus two callables:

* ``forward(x) -> [batch, units]`` — last output of the top layer of a stack;
* ``train_step(x, target) -> loss`` — forward, ``mean((y - target)**2)``, backward, one
  update, RMSprop or plain SGD (``optimizer``; lowlevel's for ``lowlevel*``, Keras's or
  PyTorch's otherwise).

Both are compiled (``tf.function``) except for the eager cell loop and PyTorch, and
lowlevel's training steps compile as lowlevel compiles them
(:func:`lowlevel.compiled.function`, what ``lowlevel train`` runs). Both
return something with ``.numpy()``; a timed call ends with it, so the device work is
inside the measurement. Used by ``lowlevel bench`` (:mod:`lowlevel.apps.bench.measure`), by the
pytest-benchmark suite in ``benchmarks/`` and, untimed, by ``tests/apps/bench/test_benchmarks_smoke.py``.
One concept, the table of cases, in one module although over 300 lines: every
implementation's builder sits beside the others, so that all share one data, one set of
weights and one training step, as a reader comparing two rows needs to see.

Implementations:

==========================  ==========================================================
``keras_layer``             the baseline: stacked ``keras.layers.<Kind>`` (its generic
                            ``tf.while_loop``; ``use_cudnn=False``)
``lowlevel_sequential``     the default path: ``lowlevel.Sequential`` of the layers,
                            default implementation (the form a user writes)
``lowlevel``                stacked ``lowlevel.<Kind>``, default implementation, called
                            in turn
``lowlevel_<impl>``         the same, ``implementation=<impl>`` forced
``lowlevel_stacked``        the same layers run as one loop by ``lowlevel.stack_layers``
``lowlevel_unrolled``       ``lowlevel_stacked`` with ``implementation='unrolled'``
``lowlevel_bfloat16``       ``lowlevel`` with ``compute_dtype='bfloat16'`` (float32 variables)
``keras_mixed_bfloat16``    ``keras_layer`` under the ``mixed_bfloat16`` dtype policy
``keras_cell_loop_function`` the tutorial's loop over ``tf.unstack(x, axis=1)``
                            stepping Keras cells, in ``tf.function``
``keras_cell_loop_eager``   the same loop, eager
``block_lstm``              LSTM: stacked ``tf.raw_ops.BlockLSTMV2``
``keras_cudnn``             GPU only: ``keras.layers.LSTM/GRU(use_cudnn=True)``
``torch``                   ``torch.nn.RNN/LSTM/GRU`` when PyTorch is installed
==========================  ==========================================================
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

import lowlevel
import lowlevel.compiled
import lowlevel.optimizers
from lowlevel.apps.bench import other_kernels
from lowlevel.apps.bench.names import (BASELINE, DEFAULT_OPTIMIZER, DEFAULT_SIZES,  # noqa: F401
                                       GATES, IMPLEMENTATIONS, KINDS,
                                       LOWLEVEL_IMPLEMENTATIONS, OPTIMIZERS, PHASES, SEED,
                                       SIZES)
from lowlevel.train import make_train_step

LEARNING_RATE = 1e-3

_LOWLEVEL_LAYER = {"simple": lowlevel.SimpleRNN, "lstm": lowlevel.LSTM, "gru": lowlevel.GRU}
_KERAS_LAYER = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                "gru": keras.layers.GRU}
_KERAS_CELL = {"simple": keras.layers.SimpleRNNCell, "lstm": keras.layers.LSTMCell,
               "gru": keras.layers.GRUCell}


def gpu_present() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def applies(kind: str, implementation: str, phase: str, size: str | dict) -> str | None:
    """``None`` if the combination is benchmarked, else why it is not (by its nature)."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"`implementation` must be one of {IMPLEMENTATIONS}; "
                         f"received {implementation!r}.")
    if implementation == "keras_cell_loop_eager" and (phase != "forward" or size == "large"):
        return "eager cell loop is slow: benchmarked at forward, tutorial (and quick) size only"
    if implementation == "block_lstm" and kind != "lstm":
        return "tf.raw_ops.BlockLSTMV2 is an LSTM kernel"
    if implementation == "keras_cudnn" and kind == "simple":
        return "Keras has no cuDNN SimpleRNN"
    return None


def unavailable(implementation: str) -> str | None:
    """``None`` if this machine can run ``implementation``, else what it lacks."""
    if implementation == "keras_cudnn" and not gpu_present():
        return "no GPU visible: cuDNN layers need one"
    if implementation == "torch" and not torch_available():
        return "PyTorch is not installed (pip install 'lowlevel[torch]')"
    return None


@dataclass
class Case:
    kind: str
    implementation: str
    size: dict
    x: tf.Tensor                                # [batch, time, input]
    target: tf.Tensor                           # [batch, units]
    forward: Callable                           # x -> [batch, units]
    train_step: Callable                        # (x, target) -> loss []

    def run(self, phase: str) -> np.ndarray:
        """One call of ``phase``, materialised on the host."""
        if phase == "forward":
            return np.asarray(self.forward(self.x).numpy(), np.float32)
        return np.asarray(self.train_step(self.x, self.target).numpy(), np.float32)


def resolve_size(size: str | dict) -> dict:
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"`size` must be one of {tuple(SIZES)} or a dict; received {size!r}.")
        return dict(SIZES[size])
    missing = {"batch", "time", "input", "units", "layers"} - set(size)
    if missing:
        raise ValueError(f"`size` is missing {sorted(missing)}; received {size!r}.")
    for key, value in size.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`size[{key!r}]` must be a positive int; received {value!r}.")
    return dict(size)


def make_data(size: dict, seed: int = SEED):
    """``x [batch, time, input]`` and ``target [batch, units]``, standard normal, float32."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size["batch"], size["time"], size["input"])).astype(np.float32)
    target = rng.standard_normal((size["batch"], size["units"])).astype(np.float32)
    return tf.constant(x), tf.constant(target)


def keras_model(kind: str, size: dict, seed: int = SEED, dtype=None,
                use_cudnn=False) -> keras.Sequential:
    """Stacked ``keras.layers.<Kind>`` with seeded Keras-default initialisation."""
    keras.utils.set_random_seed(seed)
    extra = {} if kind == "simple" else {"use_cudnn": use_cudnn}
    stack = [_KERAS_LAYER[kind](size["units"], return_sequences=i < size["layers"] - 1,
                                dtype=dtype, **extra)
             for i in range(size["layers"])]
    return keras.Sequential([keras.Input((size["time"], size["input"])), *stack])


def reference_weights(kind: str, size: dict, seed: int = SEED) -> list[list[np.ndarray]]:
    """Per layer, ``[kernel, recurrent_kernel, bias]`` as Keras initialises them."""
    return [layer.get_weights() for layer in keras_model(kind, size, seed).layers]


def mse(y, target):
    return tf.reduce_mean(tf.square(tf.cast(y, tf.float32) - target))


def matmul_flops(kind: str, size: dict, phase: str) -> float:
    """Floating-point operations in the matmuls of one call (elementwise work not counted).

    Per layer and step, ``[x_t, h_{t-1}] [batch, in + units] @ [in + units, G*units]`` costs
    ``2 * batch * (in + units) * G * units``; a training step adds the two backward
    products of each (``dX = dY W^T``, ``dW = X^T dY``), three times the forward.
    """
    total, features = 0.0, size["input"]
    for _ in range(size["layers"]):
        total += 2.0 * size["batch"] * (features + size["units"]) * GATES[kind] * size["units"]
        features = size["units"]
    total *= size["time"]
    return total if phase == "forward" else 3.0 * total


# ------------------------------------------------------------------ implementations
def _compiled(fn):
    """``tf.function(fn)``, its traces counted apart from the other cases'.

    TensorFlow warns of "retracing" when one code object is traced 5 times in 10 calls;
    every case here wraps the same closure code (``apply``, ``train_step``) in its own
    ``tf.function`` and traces it once, which it would report (four warnings a bench).
    A ``functools.partial`` has no code object, so each is counted by itself.
    """
    return tf.function(functools.partial(fn))


def _train_step(apply, variables, optimizer):
    """``(x, target) -> loss``: forward, mean squared error, backward, one update.

    The one training step (:func:`lowlevel.train.make_train_step`), lean
    (``diagnostics=False``: no norms, no finiteness check), so that a timing measures
    the model. It builds the optimizer first (its slots created), as ``model.fit`` does:
    a ``tf.function`` that creates variables is traced twice, which the first call
    would otherwise count.
    """
    step = make_train_step(apply, optimizer, loss_fn=mse, variables=variables, metrics={},
                           diagnostics=False, compiled=False)

    def train_step(x, target):
        return step(x, target)["loss"]

    return train_step


def _tf_train_step(apply, variables, optimizer):
    return _compiled(_train_step(apply, variables, optimizer))


def make_optimizer(library: str, name: str = DEFAULT_OPTIMIZER):
    """The training step's update: ``library`` ``'keras'`` or ``'lowlevel'``, ``name`` one
    of :data:`OPTIMIZERS`, at :data:`LEARNING_RATE`."""
    module = lowlevel.optimizers if library == "lowlevel" else keras.optimizers
    return (module.SGD if check_optimizer(name) == "sgd" else module.RMSprop)(LEARNING_RATE)


def check_optimizer(name) -> str:
    if name not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}; received {name!r}.")
    return name


def _keras_layer(kind, size, weights, dtype=None, use_cudnn=False, optimizer=DEFAULT_OPTIMIZER):
    model = keras_model(kind, size, dtype=dtype, use_cudnn=use_cudnn)
    for layer, w in zip(model.layers, weights):
        layer.set_weights(w)
    forward = _compiled(lambda x: model(x, training=False))
    train = _tf_train_step(lambda x: model(x, training=True), model.trainable_variables,
                           make_optimizer("keras", optimizer))
    return forward, train


def _lowlevel(kind, size, weights, implementation=None, compute_dtype=None, stacked=False,
              sequential=False, optimizer=DEFAULT_OPTIMIZER):
    layers, input_dim = [], size["input"]
    options = {} if compute_dtype is None else {"compute_dtype": compute_dtype}
    for i, w in enumerate(weights):
        layer = _LOWLEVEL_LAYER[kind](size["units"], input_dim=input_dim,
                                      return_sequences=i < size["layers"] - 1,
                                      implementation=implementation, **options)
        layer.set_weights(w)
        layers.append(layer)
        input_dim = size["units"]
    variables = [v for layer in layers for v in layer.trainable_variables]
    if stacked:
        apply = lowlevel.stack_layers(layers)
    elif sequential:
        apply = lowlevel.Sequential(layers)
    else:
        def apply(x):
            for layer in layers:
                x = layer(x)
            return x

    train_step = _train_step(apply, variables, make_optimizer("lowlevel", optimizer))
    return _compiled(apply), lowlevel.compiled.function(train_step)


def cell_loop(cells, training=False):
    """The tutorial's hand loop, ``apply(x)``: ``tf.unstack`` over time, every cell called
    at every step, bottom to top (Keras's cells or lowlevel's); the top cell's last
    output ``[batch, units]``."""

    def apply(x):                                           # x [batch, time, input]
        batch = tf.shape(x)[0]
        states = [cell.get_initial_state(batch) for cell in cells]
        for x_t in tf.unstack(x, axis=1):                   # x_t [batch, input]
            for i, cell in enumerate(cells):
                x_t, states[i] = cell(x_t, states[i], training=training)  # [batch, units]
        return x_t                                          # [batch, units]

    return apply


def _keras_cell_loop(kind, size, weights, compiled: bool, optimizer=DEFAULT_OPTIMIZER):
    """The tutorial's hand loop (:func:`cell_loop`) over the Keras cells."""
    cells, input_dim = [], size["input"]
    for w in weights:
        cell = _KERAS_CELL[kind](size["units"])
        cell.build((None, input_dim))
        cell.set_weights(w)
        cells.append(cell)
        input_dim = size["units"]
    variables = [v for cell in cells for v in cell.trainable_variables]
    apply = cell_loop(cells)
    train_step = _train_step(apply, variables, make_optimizer("keras", optimizer))
    if compiled:
        return _compiled(apply), _compiled(train_step)
    return apply, train_step


def _block_lstm(kind, size, weights, optimizer=DEFAULT_OPTIMIZER):
    apply, variables = other_kernels.block_lstm_stack(weights, size["units"])
    return _compiled(apply), _tf_train_step(apply, variables, make_optimizer("keras", optimizer))


def build_case(kind: str, implementation: str, size: str | dict, seed: int = SEED,
               optimizer: str = DEFAULT_OPTIMIZER) -> Case:
    """The case of ``implementation`` for ``kind`` at ``size``; ``optimizer``: the training
    step's update (:data:`OPTIMIZERS`)."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}; received {kind!r}.")
    size = resolve_size(size)
    check_optimizer(optimizer)
    reason = unavailable(implementation) or (
        None if implementation == "keras_cell_loop_eager"
        else applies(kind, implementation, "forward", size))
    if reason is not None:
        raise ValueError(f"{implementation} cannot run {kind}: {reason}.")
    x, target = make_data(size, seed)
    weights = reference_weights(kind, size, seed)
    update = dict(optimizer=optimizer)
    if implementation == "keras_layer":
        forward, train_step = _keras_layer(kind, size, weights, **update)
    elif implementation == "keras_mixed_bfloat16":
        forward, train_step = _keras_layer(kind, size, weights, dtype="mixed_bfloat16", **update)
    elif implementation == "keras_cudnn":
        forward, train_step = _keras_layer(kind, size, weights, use_cudnn=True, **update)
    elif implementation in LOWLEVEL_IMPLEMENTATIONS:
        forward, train_step = _lowlevel(kind, size, weights,
                                        LOWLEVEL_IMPLEMENTATIONS[implementation], **update)
    elif implementation == "lowlevel_sequential":
        forward, train_step = _lowlevel(kind, size, weights, sequential=True, **update)
    elif implementation == "lowlevel_stacked":
        forward, train_step = _lowlevel(kind, size, weights, stacked=True, **update)
    elif implementation == "lowlevel_unrolled":
        forward, train_step = _lowlevel(kind, size, weights, "unrolled", stacked=True, **update)
    elif implementation == "lowlevel_bfloat16":
        forward, train_step = _lowlevel(kind, size, weights, compute_dtype="bfloat16", **update)
    elif implementation == "keras_cell_loop_function":
        forward, train_step = _keras_cell_loop(kind, size, weights, compiled=True, **update)
    elif implementation == "keras_cell_loop_eager":
        forward, train_step = _keras_cell_loop(kind, size, weights, compiled=False, **update)
    elif implementation == "block_lstm":
        forward, train_step = _block_lstm(kind, size, weights, **update)
    else:  # torch
        forward, train_step = other_kernels.torch_stack(kind, size, weights, LEARNING_RATE,
                                                        optimizer)
    return Case(kind, implementation, size, x, target, forward, train_step)


def environment() -> dict:
    """Versions, device and threads: what a timing is only meaningful next to."""
    info = {
        "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "cpu_features": _cpu_features(),
        # TensorFlow's oneDNN kernels (its _Mkl* ops) are on by default on x86 Linux where
        # the CPU has AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (its DefaultOneDnnPolicy);
        # this variable turns them off or on, and the two time differently.
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        # 0 means TensorFlow's default: as many threads as cores.
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
        "xla_jit": bool(tf.config.optimizer.get_jit()),
        "seed": SEED,
    }
    if torch_available():
        import torch  # noqa: PLC0415 (optional)
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return info


# The vector extensions the matmul and elementwise kernels choose between.
_CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
                 "amx_tile")


def _cpu_features() -> list[str]:
    """Which of :data:`_CPU_FEATURES` the CPU has (Linux's ``/proc/cpuinfo``; empty
    elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [name for name in _CPU_FEATURES if name in flags]
    except OSError:
        pass
    return []


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
