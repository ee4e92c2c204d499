"""The recurrent backward chain's matmul, ``d_h = dz @ Uᵀ``, in the two forms TensorFlow can run.

Autodiff writes the input gradient of ``z = h @ U`` as ``MatMul(dz, U,
transpose_b=True)``; :mod:`lowlevel.loops.weight_gradients` multiplies by a ``Uᵀ``
transposed once per chunk instead. This times a chain of ``--steps`` such products, each
waiting for the one before (as the backward pass through time does), in both forms,
alternating, at the bench sizes' shapes (``dz [batch, 4 units]``, ``U [units, 4 units]``,
the LSTM's):

    python benchmarks/transposed_matmul.py --repeats 15
    python benchmarks/transposed_matmul.py --shapes 128x256,32x256   # BATCHxUNITS

Writes one JSON line per shape and form: the median seconds of one chain, its spread
``(q3 - q1) / median`` and the form's GFLOP/s.
"""

from __future__ import annotations

import argparse
import json
import time

SHAPES = {"tutorial": (128, 64), "large": (64, 256)}  # (batch, units)


def chains(batch, units, steps):
    """``(transpose_b, pretransposed, dz, u)``: two compiled chains of ``steps`` products
    ``d_h <- (dz + d_h[:, :1]) @ Uᵀ`` (the added column keeps each product waiting for the
    one before) and their arguments."""
    import tensorflow as tf  # noqa: PLC0415

    dz = tf.random.stateless_normal([batch, 4 * units], seed=[1, 2])
    u = tf.random.stateless_normal([units, 4 * units], seed=[3, 4])
    u_transposed = tf.transpose(u)

    @tf.function
    def transpose_b(dz, u):
        d_h = tf.zeros([batch, units])
        for _ in range(steps):
            d_h = tf.matmul(dz + d_h[:, :1], u, transpose_b=True)
        return d_h

    @tf.function
    def pretransposed(dz, u):
        # Uᵀ formed outside: a Transpose inside this function, Grappler's arithmetic
        # optimizer folds back into MatMul(transpose_b=True) (lowlevel's training steps
        # run without Grappler, lowlevel.compiled).
        u_t = u_transposed
        d_h = tf.zeros([batch, units])
        for _ in range(steps):
            d_h = tf.matmul(dz + d_h[:, :1], u_t)
        return d_h

    return transpose_b, pretransposed, dz, u


def main(argv=None):
    import numpy as np  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--shapes", type=lambda s: s.split(","), default=list(SHAPES),
                        help="bench size names or BATCHxUNITS, comma-separated")
    args = parser.parse_args(argv)
    for shape in args.shapes:
        batch, units = SHAPES.get(shape) or map(int, shape.split("x"))
        transpose_b, pretransposed, dz, u = chains(batch, units, args.steps)
        forms = {"transpose_b": transpose_b, "pretransposed": pretransposed}
        for fn in forms.values():
            fn(dz, u).numpy()  # trace and warm up
        seconds = {name: [] for name in forms}
        for r in range(args.repeats):
            for name in (list(forms) if r % 2 == 0 else list(forms)[::-1]):
                start = time.perf_counter()
                forms[name](dz, u).numpy()
                seconds[name].append(time.perf_counter() - start)
        flops = 2 * batch * 4 * units * units * args.steps
        for name, s in seconds.items():
            median = float(np.median(s))
            q1, q3 = np.percentile(s, [25, 75])
            print(json.dumps(dict(shape=shape, batch=batch, units=units, form=name,
                                  median=median, spread=float((q3 - q1) / median),
                                  gflops=flops / median / 1e9)), flush=True)


if __name__ == "__main__":
    main()
