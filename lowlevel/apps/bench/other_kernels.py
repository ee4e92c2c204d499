"""The same stacked RNNs run by other kernels, for the speed table: Keras weights converted.

- :func:`block_lstm_stack`: TensorFlow's fused ``tf.raw_ops.BlockLSTMV2``, one op per
  layer for the whole sequence;
- :func:`torch_stack`: PyTorch's ``torch.nn.RNN/LSTM/GRU`` (optional dependency), run
  with subnormal numbers flushed to zero, as TensorFlow's CPU kernels run
  (:func:`flush_subnormals_in_torch`).

Both are built from the per-layer ``[kernel, recurrent_kernel, bias]`` lists that
``keras_layer.get_weights()`` returns; ``tests/apps/bench/test_benchmarks_smoke.py`` checks their
outputs against the Keras layer's.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf


def keras_lstm_to_block_lstm(kernel, recurrent_kernel, bias):
    """Keras LSTM weights -> ``BlockLSTMV2``'s ``w [input+units, 4*units]``, ``b [4*units]``.

    BlockLSTMV2 stacks the input and recurrent kernels into one matrix (input rows
    first) and fuses its gates as i, f, c, o — Keras's order, so the columns are kept.
    (The older ``BlockLSTM``/``LSTMBlockCell`` use i, c, f, o plus a ``forget_bias``;
    checked numerically: reordering to i, c, f, o for V2 gives a 0.8 max error.)
    """
    w = np.concatenate([kernel, recurrent_kernel], axis=0)  # [input+units, 4*units]
    return w, np.asarray(bias)


def block_lstm_stack(weights, units):
    """``(apply, variables)``: ``apply(x [batch, time, input]) -> [batch, units]``, the top
    layer's last output, through one ``BlockLSTMV2`` per layer."""
    params = [tuple(tf.Variable(a) for a in keras_lstm_to_block_lstm(*w)) for w in weights]
    no_peephole = tf.zeros([units], tf.float32)

    def apply(x):                                           # x [batch, time, input]
        h = tf.transpose(x, [1, 0, 2])                      # [time, batch, input]
        batch, time = tf.shape(x)[0], tf.shape(x)[1]
        zeros = tf.zeros([batch, units], tf.float32)
        for w, b in params:
            h = tf.raw_ops.BlockLSTMV2(
                seq_len_max=tf.cast(time, tf.int64), x=h, cs_prev=zeros, h_prev=zeros,
                w=w, wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=b,
                cell_clip=0.0, use_peephole=False)[-1]      # h [time, batch, units]
        return h[-1]                                        # [batch, units]

    return apply, [v for pair in params for v in pair]


def keras_to_torch(kind: str, kernel, recurrent_kernel, bias):
    """Keras weights -> ``(weight_ih, weight_hh, bias_ih, bias_hh)`` of ``torch.nn.<Kind>``.

    PyTorch stores ``W x`` (rows are gates: transpose Keras's columns). LSTM gates are
    i, f, g, o in both. GRU: PyTorch orders r, z, n and computes the candidate as
    ``tanh(W_in x + b_in + r * (W_hn h + b_hn))``, Keras's ``reset_after=True`` form
    with ``bias [2, 3*units]`` = (input bias, recurrent bias); z, r, h -> r, z, n.
    A single Keras bias becomes ``bias_ih`` with ``bias_hh = 0``.
    """
    kernel, recurrent_kernel, bias = (np.asarray(a, np.float32)
                                      for a in (kernel, recurrent_kernel, bias))
    if kind == "gru":
        def reorder(a):  # columns z, r, h -> r, z, n
            z, r, h = np.split(a, 3, axis=-1)
            return np.concatenate([r, z, h], axis=-1)

        kernel, recurrent_kernel, bias = reorder(kernel), reorder(recurrent_kernel), reorder(bias)
        bias_ih, bias_hh = bias
    else:
        bias_ih, bias_hh = bias, np.zeros_like(bias)
    return kernel.T.copy(), recurrent_kernel.T.copy(), bias_ih, bias_hh


def flush_subnormals_in_torch():
    """Make PyTorch flush subnormal floats to zero, as TensorFlow's CPU kernels do.

    TensorFlow computes with flush-to-zero (a float32 ``1e-39`` through a matmul comes
    out ``0``); PyTorch keeps subnormals by default, and arithmetic on them is slow on
    x86: gradients vanishing through 200 GRU steps made PyTorch's training step at the
    large size take 7.9 s, falling to 0.5 s as training moved the weights; flushed, it
    took 0.43-0.60 s from the first step. Flushing gives both frameworks the same
    arithmetic. The setting is the CPU's, per thread: threads started afterwards inherit
    it, so it is set before the first PyTorch case is built (with PyTorch's thread pool
    already running, the step above took 0.9 s), and NumPy on the calling thread flushes
    too from then on. Only the speed table's PyTorch cases call it (``lowlevel bench``
    and the benchmarks); ``torch.set_flush_denormal(False)`` turns it off.
    """
    import torch  # noqa: PLC0415 (optional)

    torch.set_flush_denormal(True)


def torch_stack(kind, size, weights, learning_rate, optimizer="rmsprop"):
    """``(forward, train_step)`` of a ``torch.nn.<Kind>(num_layers=size['layers'])`` with
    the Keras weights; the step is forward, mean squared error, backward and one
    ``torch.optim.RMSprop`` update with Keras's defaults (rho 0.9, epsilon 1e-7), or
    ``torch.optim.SGD`` (``optimizer='sgd'``)."""
    import torch  # noqa: PLC0415 (optional)

    flush_subnormals_in_torch()
    module_class = {"simple": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    module = module_class(size["input"], size["units"], num_layers=size["layers"],
                          batch_first=True)
    with torch.no_grad():
        for layer, w in enumerate(weights):
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                   keras_to_torch(kind, *w)):
                getattr(module, f"{name}_l{layer}").copy_(torch.from_numpy(value))
    if optimizer == "sgd":
        optimizer = torch.optim.SGD(module.parameters(), lr=learning_rate)
    else:
        optimizer = torch.optim.RMSprop(module.parameters(), lr=learning_rate, alpha=0.9,
                                        eps=1e-7)

    def as_torch(tensor):
        # TensorFlow's buffer, shared, not copied: read-only for NumPy, and never written.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(np.asarray(tensor))

    def forward(x):
        with torch.no_grad():
            return module(as_torch(x))[0][:, -1]           # [batch, units]

    def train_step(x, target):
        optimizer.zero_grad()
        y = module(as_torch(x))[0][:, -1]
        loss = torch.mean((y - as_torch(target)) ** 2)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return forward, train_step
