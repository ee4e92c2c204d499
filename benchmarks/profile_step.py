"""Where one training step's time goes, by part of the step and kind of op, from a
``tf.profiler`` trace.

Profiles the bench's training step (:func:`lowlevel.apps.bench.speed.build_case`: two
stacked layers at the tutorial size, batch 128, 80 steps, 100 -> 64 -> 64, mean-square
loss, one update), compiled as the bench compiles it, for each of ``--implementations``
in turn (default: Keras's layers, then the default path, ``lowlevel.Sequential`` of
default layers). After warm-up, ``--steps`` steps are traced and the ops' own durations
summed:

- by part of the step, from the name scopes of :func:`lowlevel.train.make_train_step`:
  ``forward`` (the model and the loss), ``backward`` (the tape's gradient), ``update``
  (the optimizer), ``other`` (what runs outside them);
- by kind of op: ``matmul`` (``MatMul`` and oneDNN's ``_Mkl*MatMul*``), ``elementwise``
  (the gate arithmetic, its derivatives, the split of the gates and its gradient, a
  ``concat``), ``loop`` (a ``tf.while_loop``'s frames and its ``TensorList`` pushes and
  pops), ``other`` (transposes, reductions, reads, ...).

Shares are of the summed op time (both cores together), so they describe the work, not
the critical path: an op that waits for a core may count the wait.

    python benchmarks/profile_step.py --cell lstm --out runs/profile --json runs/profile.jsonl
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os

PARTS = ("forward", "backward", "update")
LOOP_OPS = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "Less",
            "LessEqual", "Identity", "StopGradient", "Maximum", "Range"}
ELEMENTWISE_OPS = {"Sigmoid", "Tanh", "Mul", "AddV2", "Add", "Sub", "SigmoidGrad",
                   "TanhGrad", "BiasAdd", "BiasAddGrad", "Split", "SplitV", "ConcatV2",
                   "Relu", "AddN", "Neg", "Square", "OnesLike", "ZerosLike", "Fill",
                   "Select", "SelectV2"}


def part_of(name: str) -> str:
    """The step's part an op belongs to, from its name's first scope. The gradient of a
    ``tf.while_loop`` (Keras's layers, the ``'fast'`` loop) is built under the tape's own
    ``gradient_tape`` scope, whatever scope the gradient was asked in."""
    scope = name.split("/", 1)[0]
    if scope == "gradient_tape":
        return "backward"
    return scope if scope in PARTS else "other"


def kind_of(op_type: str) -> str:
    if "MatMul" in op_type:  # MatMul, BatchMatMulV2, oneDNN's _MklMatMul, _MklFusedMatMul
        return "matmul"
    if op_type.startswith(("TensorList", "TensorArray")) or op_type in LOOP_OPS:
        return "loop"
    if op_type in ELEMENTWISE_OPS:
        return "elementwise"
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


def summarise(times: dict, steps: int) -> dict:
    """Op seconds per step, and shares by part, by kind, by part and kind, and the top
    op types."""
    parts, kinds, both, types = (collections.Counter() for _ in range(4))
    for (name, op_type), seconds in times.items():
        part, kind = part_of(name), kind_of(op_type)
        parts[part] += seconds
        kinds[kind] += seconds
        both[f"{part}/{kind}"] += seconds
        types[op_type] += seconds
    total = sum(parts.values())

    def shares(counter, top=None):
        return {key: round(seconds / total, 4) for key, seconds in counter.most_common(top)}

    return dict(op_seconds_per_step=total / steps, parts=shares(parts), kinds=shares(kinds),
                parts_and_kinds=shares(both), top_ops=shares(types, 12))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="lstm", choices=("simple", "lstm", "gru"))
    parser.add_argument("--implementations", default="keras_layer,lowlevel_sequential",
                        help="the bench's cases to profile, in turn (lowlevel bench "
                             "--help lists them)")
    parser.add_argument("--optimizer", default="rmsprop", choices=("rmsprop", "sgd"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default="runs/profile", help="the traces go here")
    parser.add_argument("--json", help="append one line per implementation to this file")
    args = parser.parse_args(argv)

    import tensorflow as tf  # noqa: PLC0415

    from lowlevel.apps.bench import speed  # noqa: PLC0415

    tf.config.experimental.enable_tensor_float_32_execution(False)
    for implementation in args.implementations.split(","):
        case = speed.build_case(args.cell, implementation, "tutorial",
                                optimizer=args.optimizer)
        for _ in range(3):
            case.run("train_step")
        logdir = os.path.join(args.out, implementation)
        os.makedirs(logdir, exist_ok=True)
        tf.profiler.experimental.start(logdir)
        for _ in range(args.steps):
            case.run("train_step")
        tf.profiler.experimental.stop()
        environment = speed.environment()
        result = dict(cell=args.cell, implementation=implementation,
                      optimizer=args.optimizer, steps=args.steps,
                      load=[round(x, 2) for x in os.getloadavg()],
                      # Which kernels ran: oneDNN's where TensorFlow turns them on.
                      cpu_features=environment["cpu_features"],
                      tf_enable_onednn_opts=environment["tf_enable_onednn_opts"],
                      **summarise(op_times(logdir), args.steps))
        print(json.dumps(result))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
