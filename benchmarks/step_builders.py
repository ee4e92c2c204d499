"""Builders for the RNN step-speed benchmarks, shared with the untimed smoke test.

``build_case(kind, implementation, size)`` returns a :class:`Case`: the same seeded data
and the same starting weights (Keras's initialisation, copied with ``set_weights``) for
every implementation, plus two compiled callables:

* ``forward(x) -> [batch, units]`` — last output of the second of two stacked layers;
* ``train_step(x, target) -> loss`` — forward, ``mean((y - target)**2)``, GradientTape
  backward, one RMSprop update (lowlevel's RMSprop for ``lowlevel*``, Keras's otherwise).

``lowlevel`` runs the layers' default ``implementation``; ``lowlevel_reference``,
``lowlevel_fast`` and ``lowlevel_bptt`` force one (see ``lowlevel/layers.py``).

Both are ``tf.function``-compiled except for ``keras_cell_loop_eager``. The timed call
in ``test_step_speed.py`` materialises the result with ``.numpy()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

import lowlevel
import lowlevel.optimizers

SEED = 0
DTYPE = tf.float32
LEARNING_RATE = 1e-3

# Shapes; every size stacks two layers (the first returns sequences).
SIZES = {
    "quick": dict(batch=8, time=10, input=6, units=5, layers=2),        # smoke test only
    "tutorial": dict(batch=128, time=80, input=100, units=64, layers=2),
    "large": dict(batch=64, time=200, input=256, units=256, layers=2),
}
DEFAULT_SIZES = ("tutorial", "large")

KINDS = ("simple", "lstm", "gru")
PHASES = ("forward", "train_step")
# The baseline comes first, so it is measured before the others in the same run.
# ``lowlevel`` is the layers' default implementation; ``lowlevel_<name>`` forces one.
LOWLEVEL_IMPLEMENTATIONS = {"lowlevel": None, "lowlevel_reference": "reference",
                            "lowlevel_fast": "fast", "lowlevel_bptt": "bptt"}
IMPLEMENTATIONS = ("keras_layer", *LOWLEVEL_IMPLEMENTATIONS, "keras_cell_loop_function",
                   "keras_cell_loop_eager", "block_lstm")

_LOWLEVEL_LAYER = {"simple": lowlevel.SimpleRNN, "lstm": lowlevel.LSTM, "gru": lowlevel.GRU}
_KERAS_LAYER = {"simple": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                "gru": keras.layers.GRU}
_KERAS_CELL = {"simple": keras.layers.SimpleRNNCell, "lstm": keras.layers.LSTMCell,
               "gru": keras.layers.GRUCell}


def applies(kind: str, implementation: str, phase: str, size: str) -> str | None:
    """``None`` if the combination is benchmarked, else the reason it is skipped."""
    if implementation == "keras_cell_loop_eager" and (phase != "forward" or size == "large"):
        return "eager cell loop is slow: benchmarked at forward, tutorial (and quick) size only"
    if implementation == "block_lstm" and kind != "lstm":
        return "tf.raw_ops.BlockLSTMV2 is an LSTM kernel"
    return None


@dataclass
class Case:
    kind: str
    implementation: str
    size: dict
    x: tf.Tensor                                # [batch, time, input]
    target: tf.Tensor                           # [batch, units]
    forward: Callable[[tf.Tensor], tf.Tensor]   # x -> [batch, units]
    train_step: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (x, target) -> loss []


def make_data(size: dict, seed: int = SEED):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size["batch"], size["time"], size["input"])).astype(np.float32)
    target = rng.standard_normal((size["batch"], size["units"])).astype(np.float32)
    return tf.constant(x), tf.constant(target)


def keras_model(kind: str, size: dict, seed: int = SEED) -> keras.Sequential:
    """Two stacked ``keras.layers.<Kind>`` with seeded Keras-default initialisation."""
    keras.utils.set_random_seed(seed)
    layer = _KERAS_LAYER[kind]
    stack = [layer(size["units"], return_sequences=i < size["layers"] - 1)
             for i in range(size["layers"])]
    return keras.Sequential([keras.Input((size["time"], size["input"])), *stack])


def reference_weights(kind: str, size: dict, seed: int = SEED) -> list[list[np.ndarray]]:
    """Per layer, ``[kernel, recurrent_kernel, bias]`` as Keras initialises them."""
    return [layer.get_weights() for layer in keras_model(kind, size, seed).layers]


def mse(y, target):
    return tf.reduce_mean(tf.square(y - target))


# ------------------------------------------------------------------ implementations
def _keras_layer(kind, size, weights):
    model = keras_model(kind, size)
    for layer, w in zip(model.layers, weights):
        layer.set_weights(w)
    optimizer = keras.optimizers.RMSprop(LEARNING_RATE)

    @tf.function
    def forward(x):
        return model(x, training=False)

    @tf.function
    def train_step(x, target):
        with tf.GradientTape() as tape:
            loss = mse(model(x, training=True), target)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return forward, train_step


def _lowlevel(kind, size, weights, implementation=None):
    layers, input_dim = [], size["input"]
    for i, w in enumerate(weights):
        layer = _LOWLEVEL_LAYER[kind](size["units"], input_dim=input_dim,
                                      return_sequences=i < size["layers"] - 1,
                                      implementation=implementation)
        layer.set_weights(w)
        layers.append(layer)
        input_dim = size["units"]
    variables = [v for layer in layers for v in layer.trainable_variables]
    optimizer = lowlevel.optimizers.RMSprop(LEARNING_RATE)

    def apply(x):
        for layer in layers:
            x = layer(x)
        return x

    @tf.function
    def train_step(x, target):
        with tf.GradientTape() as tape:
            loss = mse(apply(x), target)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return tf.function(apply), train_step


def _keras_cell_loop(kind, size, weights, compiled: bool):
    """The tutorial's hand loop: ``tf.unstack`` over time, two Keras cells per step."""
    cells, input_dim = [], size["input"]
    for w in weights:
        cell = _KERAS_CELL[kind](size["units"])
        cell.build((None, input_dim))
        cell.set_weights(w)
        cells.append(cell)
        input_dim = size["units"]
    variables = [v for cell in cells for v in cell.trainable_variables]
    optimizer = keras.optimizers.RMSprop(LEARNING_RATE)

    def apply(x):                                           # x [batch, time, input]
        batch = tf.shape(x)[0]
        states = [cell.get_initial_state(batch) for cell in cells]
        for x_t in tf.unstack(x, axis=1):                   # x_t [batch, input]
            for i, cell in enumerate(cells):
                x_t, states[i] = cell(x_t, states[i])       # x_t [batch, units]
        return x_t                                          # [batch, units]

    def train_step(x, target):
        with tf.GradientTape() as tape:
            loss = mse(apply(x), target)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    if compiled:
        return tf.function(apply), tf.function(train_step)
    return apply, train_step


def keras_lstm_to_block_lstm(kernel, recurrent_kernel, bias):
    """Keras LSTM weights -> ``BlockLSTMV2``'s ``w [input+units, 4*units]``, ``b [4*units]``.

    BlockLSTMV2 stacks the input and recurrent kernels into one matrix (input rows
    first) and fuses its gates as i, f, c, o — Keras's order, so the columns are kept.
    (The older ``BlockLSTM``/``LSTMBlockCell`` use i, c, f, o plus a ``forget_bias``;
    checked numerically: reordering to i, c, f, o for V2 gives a 0.8 max error.)
    """
    w = np.concatenate([kernel, recurrent_kernel], axis=0)  # [input+units, 4*units]
    return w, np.asarray(bias)


def _block_lstm(kind, size, weights):
    units = size["units"]
    params = [tuple(tf.Variable(a) for a in keras_lstm_to_block_lstm(*w)) for w in weights]
    variables = [v for pair in params for v in pair]
    no_peephole = tf.zeros([units], DTYPE)
    optimizer = keras.optimizers.RMSprop(LEARNING_RATE)

    def apply(x):                                           # x [batch, time, input]
        h = tf.transpose(x, [1, 0, 2])                      # [time, batch, input]
        batch, time = tf.shape(x)[0], tf.shape(x)[1]
        zeros = tf.zeros([batch, units], DTYPE)
        for w, b in params:
            h = tf.raw_ops.BlockLSTMV2(
                seq_len_max=tf.cast(time, tf.int64), x=h, cs_prev=zeros, h_prev=zeros,
                w=w, wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=b,
                cell_clip=0.0, use_peephole=False)[-1]      # h [time, batch, units]
        return h[-1]                                        # [batch, units]

    @tf.function
    def train_step(x, target):
        with tf.GradientTape() as tape:
            loss = mse(apply(x), target)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return tf.function(apply), train_step


def build_case(kind: str, implementation: str, size_name: str, seed: int = SEED) -> Case:
    size = SIZES[size_name]
    x, target = make_data(size, seed)
    weights = reference_weights(kind, size, seed)
    if implementation == "keras_layer":
        forward, train_step = _keras_layer(kind, size, weights)
    elif implementation in LOWLEVEL_IMPLEMENTATIONS:
        forward, train_step = _lowlevel(kind, size, weights,
                                        LOWLEVEL_IMPLEMENTATIONS[implementation])
    elif implementation == "keras_cell_loop_function":
        forward, train_step = _keras_cell_loop(kind, size, weights, compiled=True)
    elif implementation == "keras_cell_loop_eager":
        forward, train_step = _keras_cell_loop(kind, size, weights, compiled=False)
    elif implementation == "block_lstm":
        forward, train_step = _block_lstm(kind, size, weights)
    else:
        raise ValueError(f"`implementation` must be one of {IMPLEMENTATIONS}; "
                         f"received {implementation!r}.")
    return Case(kind, implementation, size, x, target, forward, train_step)


def environment(case: Case, phase: str, output) -> dict:
    """What ``benchmark.extra_info`` records next to each timing."""
    return {
        "kind": case.kind, "implementation": case.implementation, "phase": phase,
        "size": dict(case.size), "dtype": DTYPE.name, "device": output.device,
        "gpus_visible": len(tf.config.list_physical_devices("GPU")),
        "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "cpu_count": os.cpu_count(), "seed": SEED,
    }
