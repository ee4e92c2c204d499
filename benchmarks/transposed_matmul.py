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

SHAPES = {"tutorial": (128, 64), "large": (64, 256)}  # (batch, units)


def chains(batch, units, steps):
    """``({'transpose_b': ..., 'pretransposed': ...}, (dz, u))``: two compiled chains of ``steps`` products
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

    return {"transpose_b": transpose_b, "pretransposed": pretransposed}, (dz, u)


def main(argv=None):
    from lowlevel.apps.bench import measure  # noqa: PLC0415 (imports TensorFlow)

    measure.compare_forms(argv, __doc__.split("\n\n")[0], chains, SHAPES, steps=200,
                          repeats=15, flops=lambda batch, units, steps:
                          2 * batch * 4 * units * units * steps)


if __name__ == "__main__":
    main()
