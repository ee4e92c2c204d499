"""Where one training step's time goes, by kind of op, from a ``tf.profiler`` trace.

The default path at the tutorial size (``lowlevel.Sequential`` of two default layers,
batch 128, 80 steps, 100 -> 64 -> 64), mean-square loss, backward, one update; traced
for ``--steps`` steps after warm-up, and the ops' own durations summed by group:

- ``matmul``: ``MatMul`` (forward products and both backward products);
- ``gates``: the elementwise gate arithmetic and its derivatives (``Sigmoid``, ``Tanh``,
  ``Mul``, ``AddV2``, ``*Grad``, ``BiasAdd``, ...);
- ``loop``: the ``tf.while_loop``'s bookkeeping (``Enter``/``Exit``/``Merge``/``Switch``/
  ``NextIteration``, ``TensorList*``/``TensorArray*`` pushes and pops, counters);
- ``optimizer``: ops under the optimizer's name scope and ``ResourceApply*``/``Assign*``;
- ``other``: the rest (transposes, loss, reads, ...).

Shares are of the summed op time (both cores together), robust to a busy machine in a way
wall-clock times are not.

    python benchmarks/profile_step.py --cell lstm --out runs/profile
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os

LOOP_OPS = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "Less",
            "LessEqual", "Identity", "StopGradient", "Maximum", "Range"}
GATE_OPS = {"Sigmoid", "Tanh", "Mul", "AddV2", "Add", "Sub", "SigmoidGrad", "TanhGrad",
            "BiasAdd", "BiasAddGrad", "Split", "SplitV", "ConcatV2", "Relu", "AddN",
            "Neg", "Square", "OnesLike", "ZerosLike", "Fill", "Select", "SelectV2"}


def group_of(name: str, op_type: str) -> str:
    if op_type in ("MatMul", "BatchMatMulV2", "_FusedMatMul"):
        return "matmul"
    if "ResourceApply" in op_type or "optimizer" in name.lower() or "Assign" in op_type:
        return "optimizer"
    if op_type.startswith(("TensorList", "TensorArray")) or op_type in LOOP_OPS:
        return "loop"
    if op_type in GATE_OPS:
        return "gates"
    return "other"


def _is_op(label: str) -> bool:
    """An op's event is labelled ``name:Type``; the executor's own (``ExecutorState::
    Process``, ``Run: __inference_...``) are not ops."""
    return ":" in label and "::" not in label and ": " not in label


def op_times(logdir: str) -> dict:
    """Seconds per ``(name, type)`` summed over the trace's host op events."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: PLC0415 (TensorFlow's copy)

    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    times = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:  # the executor's threads: one event per op run
            for event in line.events:
                label = plane.event_metadata[event.metadata_id].name
                if _is_op(label):
                    name, _, op_type = label.rpartition(":")
                    times[name, op_type] += event.duration_ps * 1e-12
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="lstm", choices=("simple", "lstm", "gru"))
    parser.add_argument("--implementation", default=None,
                        help="the layers' loop (default: their default, 'auto')")
    parser.add_argument("--optimizer", default="rmsprop", choices=("rmsprop", "sgd"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default="runs/profile", help="the trace goes here")
    args = parser.parse_args(argv)

    import tensorflow as tf  # noqa: PLC0415

    import lowlevel  # noqa: PLC0415
    from lowlevel.apps.bench import speed  # noqa: PLC0415

    tf.config.experimental.enable_tensor_float_32_execution(False)
    size = speed.resolve_size("tutorial")
    x, target = speed.make_data(size)
    layers, features = [], size["input"]
    for i, w in enumerate(speed.reference_weights(args.cell, size)):
        layer = speed._LOWLEVEL_LAYER[args.cell](size["units"], input_dim=features,
                                                 return_sequences=i < size["layers"] - 1,
                                                 implementation=args.implementation)
        layer.set_weights(w)
        layers.append(layer)
        features = size["units"]
    model = lowlevel.Sequential(layers)
    variables = list(model.trainable_variables)
    optimizer = speed.make_optimizer("lowlevel", args.optimizer)
    optimizer.build(variables)

    @tf.function
    def train_step(x, target):
        with tf.GradientTape() as tape:
            loss = speed.mse(model(x, training=True), target)
        with tf.name_scope("optimizer"):
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for _ in range(3):
        train_step(x, target).numpy()
    os.makedirs(args.out, exist_ok=True)
    tf.profiler.experimental.start(args.out)
    for _ in range(args.steps):
        train_step(x, target).numpy()
    tf.profiler.experimental.stop()

    times = op_times(args.out)
    groups, types = collections.Counter(), collections.Counter()
    for (name, op_type), seconds in times.items():
        groups[group_of(name, op_type)] += seconds
        types[op_type] += seconds
    total = sum(groups.values())
    result = dict(cell=args.cell, implementation=args.implementation or "auto",
                  optimizer=args.optimizer, steps=args.steps, load=list(os.getloadavg()),
                  op_seconds_per_step=total / args.steps,
                  shares={g: s / total for g, s in groups.most_common()},
                  top_ops={t: s / total for t, s in types.most_common(12)},
                  runs=model.runs)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
