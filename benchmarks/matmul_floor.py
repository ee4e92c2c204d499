"""A training step's matmuls alone, none waiting for another, against the step itself.

One training step of the bench's two stacked layers forms, per layer and time step, the
forward products ``x_t @ W`` and ``h_{t-1} @ U``, their input gradients ``dz @ Wᵀ`` and
``dz @ Uᵀ`` and their weight gradients ``x_tᵀ dz`` and ``h_{t-1}ᵀ dz``: three times the
forward's work (:func:`lowlevel.apps.bench.speed.matmul_flops`). This forms the same
products, each layer's weights shared by its steps and each step's activations its own,
with no dependency between any two, compiled as lowlevel compiles its steps: what the
products cost when nothing orders them and the runtime runs them as fast as the
machine's cores allow. It is timed alternating with Keras's training step and the
default path's (``lowlevel_sequential``) in one process:

    python benchmarks/matmul_floor.py --cells lstm --repeats 15
    python benchmarks/matmul_floor.py --size large --cells lstm,gru --repeats 7

Writes one JSON line per case: the median seconds, the spread ``(q3 - q1) / median`` and
Keras's median over the case's. What it shows: docs/speed.md, "Latency or work: the
batch decides".
"""

from __future__ import annotations

import argparse
import json


def products(kind, size):
    """``(operands, products)`` of one training step: ``operands`` maps a name to a shape,
    ``products`` lists ``(lhs, rhs, transpose_a)`` by those names, per layer and time step
    the forward products, their input gradients and their weight gradients. Each layer's
    weights (``W``, ``U`` and their transposes, which the default path's backward chain
    multiplies by) serve all its steps; each step has its own ``x_t``, ``h_{t-1}`` and
    ``dz``, as in the step itself."""
    from lowlevel.apps.bench.speed import GATES  # noqa: PLC0415

    batch, width = size["batch"], GATES[kind] * size["units"]
    operands, listed, features = {}, [], size["input"]
    for layer in range(size["layers"]):
        for weight, inner in (("W", features), ("U", size["units"])):
            operands[f"{weight}{layer}"] = [inner, width]
            operands[f"{weight}{layer}T"] = [width, inner]
        for t in range(size["time"]):
            dz = f"dz{layer}_{t}"
            operands[dz] = [batch, width]
            for weight, activation, inner in (("W", "x", features), ("U", "h", size["units"])):
                a = f"{activation}{layer}_{t}"  # x_t, or h_{t-1}
                operands[a] = [batch, inner]
                listed += [(a, f"{weight}{layer}", False),     # forward: a @ W
                           (dz, f"{weight}{layer}T", False),   # input gradient: dz @ Wᵀ
                           (a, dz, True)]                      # weight gradient: aᵀ dz
        features = size["units"]
    return operands, listed


def flops(operands, listed):
    """Floating-point operations of the ``listed`` products (as :func:`products` returns)."""
    total = 0.0
    for lhs, rhs, transpose_a in listed:
        rows, inner = operands[lhs][::-1] if transpose_a else operands[lhs]
        total += 2.0 * rows * inner * operands[rhs][1]
    return total


def floor_case(operands, listed, seed=0):
    """``(fn, tensors)``: ``fn(tensors)`` forms every ``listed`` product on ``tensors``
    (one random tensor per operand name) and returns when all are done."""
    import tensorflow as tf  # noqa: PLC0415

    import lowlevel.compiled  # noqa: PLC0415

    tensors = {name: tf.random.stateless_normal(shape, seed=[seed, i])
               for i, (name, shape) in enumerate(operands.items())}

    @lowlevel.compiled.function
    def all_products(tensors):
        done = [tf.matmul(tensors[a], tensors[b], transpose_a=t) for a, b, t in listed]
        # Returned through a control dependency: the products are not pruned as unread.
        with tf.control_dependencies(done):
            return tf.constant(0.0)

    return all_products, tensors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tutorial", choices=("quick", "tutorial", "large"))
    parser.add_argument("--cells", type=lambda s: s.split(","), default=["lstm"])
    parser.add_argument("--optimizer", choices=("rmsprop", "sgd"), default="rmsprop")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)

    from lowlevel.apps.bench import measure, speed  # noqa: PLC0415 (imports TensorFlow)

    speed.tf.config.experimental.enable_tensor_float_32_execution(False)
    for kind in args.cells:
        keras, default = (speed.build_case(kind, implementation, args.size,
                                           optimizer=args.optimizer)
                          for implementation in ("keras_layer", "lowlevel_sequential"))
        floor, tensors = floor_case(*products(kind, keras.size))
        forms = {"keras_layer": keras.train_step, "lowlevel_sequential": default.train_step,
                 "matmuls_alone": lambda x, target: floor(tensors)}
        times = measure.time_forms(forms, (keras.x, keras.target), args.repeats)
        for case, (median, spread) in times.items():
            print(json.dumps(dict(size=args.size, kind=kind, optimizer=args.optimizer,
                                  case=case, median=median, spread=spread,
                                  vs_keras=times["keras_layer"][0] / median,
                                  load=measure.load_average())), flush=True)


if __name__ == "__main__":
    main()
