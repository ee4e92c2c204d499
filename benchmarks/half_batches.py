"""The forward chain through time as one batch, and as two half batches side by side.

Each step's product ``z = h @ U`` waits for the step before; at the tutorial size (``h
[128, 64]``, the LSTM's ``U [64, 256]``) a product is too small to keep both cores busy.
Two half batches are two independent chains the runtime can run side by side. This
times ``--steps`` steps ``h <- tanh(h @ U)[:, :units]`` in both forms, alternating, at
the bench sizes' shapes:

    python benchmarks/half_batches.py --repeats 21
    python benchmarks/half_batches.py --shapes 32x64,256x64   # BATCHxUNITS

Writes one JSON line per shape and form: the median seconds of one chain and its spread
``(q3 - q1) / median``. What the training step made of it: docs/speed.md, "Two half
batches".
"""

from __future__ import annotations

SHAPES = {"tutorial": (128, 64), "large": (64, 256)}  # (batch, units)


def chains(batch, units, steps):
    """``({'one_batch': ..., 'two_halves': ...}, (h, u))``: two compiled chains of
    ``steps`` steps over the same batch, and their arguments (``u`` the LSTM's four
    gates' width)."""
    import tensorflow as tf  # noqa: PLC0415

    h = tf.random.stateless_normal([batch, units], seed=[1, 2])
    u = 0.1 * tf.random.stateless_normal([units, 4 * units], seed=[3, 4])

    def run(h, u):
        for _ in range(steps):
            h = tf.tanh(tf.matmul(h, u)[:, :units])
        return h

    @tf.function
    def one_batch(h, u):
        return run(h, u)

    @tf.function
    def two_halves(h, u):
        half = batch // 2
        return tf.concat([run(h[:half], u), run(h[half:], u)], 0)

    return {"one_batch": one_batch, "two_halves": two_halves}, (h, u)


def main(argv=None):
    from lowlevel.apps.bench import measure  # noqa: PLC0415 (imports TensorFlow)

    measure.compare_forms(argv, __doc__.split("\n\n")[0], chains, SHAPES, steps=80,
                          repeats=21)


if __name__ == "__main__":
    main()
