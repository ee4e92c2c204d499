"""The numbers behind ``implementation='auto'``: the loops that can serve a request, timed
against each other.

Two stacked layers of one cell kind run as one loop (``lowlevel.stack_layers``, what
``lowlevel.Sequential`` builds), the same seeded weights and data for every loop
(:mod:`lowlevel.apps.bench.speed`):

- ``steady``: forward and training step (mean-square loss, backward, one update) of
  each loop and of Keras's layers, alternating round-robin in one process; prints the
  medians, the spread ``(q3 - q1) / median`` and each loop's ratio to ``'fast'`` and
  to Keras;
- ``first``: the first call (trace + first run) of one loop's training step or
  forward, in a process of its own per loop (``--isolated`` runs the children).

    python benchmarks/loop_choice.py steady --size tutorial --repeats 9
    python benchmarks/loop_choice.py first --size large --phase train_step
    python benchmarks/loop_choice.py steady --xla --phases train_step   # + XLA twins
    python benchmarks/loop_choice.py first --grappler   # lowlevel's under plain tf.function
    python benchmarks/loop_choice.py steady --grappler-twins   # + each loop so compiled
    python benchmarks/loop_choice.py first --eager --loops fast,unrolled,auto   # no tf.function
    python benchmarks/loop_choice.py steady --intra-op-threads 1   # one thread per op
    python benchmarks/loop_choice.py first --grappler --loops cells   # cells step by step
    python benchmarks/loop_choice.py steady --loops auto --batch 8   # another batch size

Writes one JSON line per measurement to stdout (``--json FILE`` appends them there too).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

LOOPS = ("fast", "unrolled", "reference")
KIND_NAMES = ("simple", "lstm", "gru")


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def build(kind, loop, size_name, optimizer="rmsprop", time_steps=None, grappler=False,
          eager=False, persistent=False, batch=None):
    """``(forward, train_step, x, target)`` for ``loop`` (a loop name, ``'auto'``,
    ``'keras'`` or ``'cells'``: the cells called step by step); ``time_steps`` and
    ``batch`` override the size's; ``grappler``: compile lowlevel's case with plain
    ``tf.function`` (Grappler's passes on), as a user's own step would; ``eager``: compile
    neither, as the hand-written ``GradientTape`` loop of the tutorial runs
    (``persistent``: its tape persistent)."""
    import tensorflow as tf  # noqa: PLC0415

    import lowlevel  # noqa: PLC0415
    import lowlevel.compiled  # noqa: PLC0415
    import lowlevel.optimizers  # noqa: PLC0415
    from lowlevel.apps.bench import speed  # noqa: PLC0415

    size = speed.resolve_size(size_name)
    size["time"] = time_steps or size["time"]
    size["batch"] = batch or size["batch"]
    x, target = speed.make_data(size)
    weights = speed.reference_weights(kind, size)
    if loop == "keras":
        import keras  # noqa: PLC0415

        model = speed.keras_model(kind, size)
        for layer, w in zip(model.layers, weights):
            layer.set_weights(w)
        apply, variables = (lambda v: model(v, training=True)), model.trainable_variables
        opt = (keras.optimizers.SGD(speed.LEARNING_RATE) if optimizer == "sgd"
               else keras.optimizers.RMSprop(speed.LEARNING_RATE))
    else:
        layers, features = [], size["input"]
        for i, w in enumerate(weights):
            layer = speed._LOWLEVEL_LAYER[kind](size["units"], input_dim=features,
                                                return_sequences=i < size["layers"] - 1,
                                                implementation="auto" if loop == "cells"
                                                else loop)
            layer.set_weights(w)
            layers.append(layer)
            features = size["units"]
        apply = (speed.cell_loop([layer.cell for layer in layers], training=True)
                 if loop == "cells" else lowlevel.stack_layers(layers))
        variables = [v for layer in layers for v in layer.trainable_variables]
        opt = (lowlevel.optimizers.SGD(speed.LEARNING_RATE) if optimizer == "sgd"
               else lowlevel.optimizers.RMSprop(speed.LEARNING_RATE))
    opt.build(variables)

    def train_step(x, target):
        with tf.GradientTape(persistent=persistent) as tape:
            loss = speed.mse(apply(x), target)
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    if eager:
        return apply, train_step, x, target
    # Keras's step as a Keras user compiles it; lowlevel's as lowlevel compiles its
    # training steps (the forward, inference, as both compile it).
    compile_step = tf.function if loop == "keras" or grappler else lowlevel.compiled.function
    return tf.function(lambda v: apply(v)), compile_step(train_step), x, target


def _jit_compiled(case):
    """``case`` with its forward and training step compiled whole by XLA."""
    import tensorflow as tf  # noqa: PLC0415

    forward, train_step, x, target = case
    return (tf.function(forward.python_function, jit_compile=True),
            tf.function(train_step.python_function, jit_compile=True), x, target)


def _call(fn, *args):
    start = time.perf_counter()
    fn(*args).numpy()
    return time.perf_counter() - start


def steady(args, emit):
    import numpy as np  # noqa: PLC0415

    from lowlevel.apps.bench import speed  # noqa: PLC0415

    speed.tf.config.experimental.enable_tensor_float_32_execution(False)
    if args.intra_op_threads:  # before TensorFlow runs anything: a setting of the process
        speed.tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    candidates = ("keras", *args.loops)
    for kind in args.cells:
        cases = {loop: build(kind, loop, args.size, args.optimizer, args.time, args.grappler,
                             args.eager, args.persistent_tape, args.batch)
                 for loop in candidates}
        if args.xla:  # each case's twin compiled whole by XLA (docs/speed.md, "XLA, tried"),
            # built afresh: a layer traced outside XLA first may not compile under it
            cases.update({f"{loop}_xla": _jit_compiled(build(kind, loop, args.size,
                                                             args.optimizer, args.time,
                                                             batch=args.batch))
                          for loop in candidates})
        if args.grappler_twins:  # each loop's twin under plain tf.function, Grappler on
            cases.update({f"{loop}_grappler": build(kind, loop, args.size, args.optimizer,
                                                    args.time, grappler=True, batch=args.batch)
                          for loop in args.loops})
        names = tuple(cases)
        for phase in args.phases:
            calls = {loop: ((c[0], c[2]) if phase == "forward" else (c[1], c[2], c[3]))
                     for loop, c in cases.items()}
            for loop, (fn, *a) in calls.items():
                _call(fn, *a), _call(fn, *a)  # trace, then a warm-up run
            seconds = {loop: [] for loop in names}
            load_start = _load()
            for r in range(args.repeats):
                order = names[r % len(names):] + names[:r % len(names)]
                for loop in order:
                    fn, *a = calls[loop]
                    seconds[loop].append(_call(fn, *a))
            median = {loop: float(np.median(s)) for loop, s in seconds.items()}
            for loop in names:
                q1, q3 = np.percentile(seconds[loop], [25, 75])
                emit(dict(mode="steady", size=args.size, time=args.time, batch=args.batch,
                          kind=kind, phase=phase, loop=loop,
                          grappler=args.grappler or loop.endswith("_grappler"),
                          eager=args.eager, persistent_tape=args.persistent_tape,
                          optimizer=args.optimizer, intra_op_threads=args.intra_op_threads,
                          median=median[loop],
                          spread=float((q3 - q1) / median[loop]),
                          vs_fast=median["fast"] / median[loop] if "fast" in median else None,
                          vs_keras=median["keras"] / median[loop],
                          load=[load_start, _load()]))


def first(args, emit):
    if args.isolated:  # this process: one loop, one call
        from lowlevel.apps.bench import speed  # noqa: PLC0415

        speed.tf.config.experimental.enable_tensor_float_32_execution(False)
        kind, loop, phase = args.cells[0], args.loops[0], args.phases[0]
        forward, train_step, x, target = build(kind, loop, args.size, args.optimizer, args.time,
                                               args.grappler, args.eager, args.persistent_tape,
                                               args.batch)
        seconds = _call(forward, x) if phase == "forward" else _call(train_step, x, target)
        emit(dict(mode="first", size=args.size, time=args.time, batch=args.batch, kind=kind,
                  phase=phase, loop=loop,
                  grappler=args.grappler, eager=args.eager,
                  persistent_tape=args.persistent_tape, seconds=seconds, load=_load()))
        return
    for kind in args.cells:
        for phase in args.phases:
            for loop in args.loops:
                command = [sys.executable, __file__, "first", "--isolated", "--size", args.size,
                           "--cells", kind, "--phases", phase, "--loops", loop,
                           "--optimizer", args.optimizer]
                if args.time:
                    command += ["--time", str(args.time)]
                if args.batch:
                    command += ["--batch", str(args.batch)]
                command += [f"--{flag}" for flag in ("grappler", "eager", "persistent-tape")
                            if getattr(args, flag.replace("-", "_"))]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                line = out.stdout.strip().splitlines()[-1]
                emit(json.loads(line))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("steady", "first"))
    parser.add_argument("--size", default="tutorial", choices=("quick", "tutorial", "large"))
    parser.add_argument("--cells", type=lambda s: s.split(","), default=list(KIND_NAMES))
    parser.add_argument("--phases", type=lambda s: s.split(","), default=["forward", "train_step"])
    parser.add_argument("--loops", type=lambda s: s.split(","), default=list(LOOPS),
                        help="the loops to time (also 'auto', and 'cells': the cells called "
                             "step by step in the step; first: also 'keras'; steady always "
                             "times Keras beside them)")
    parser.add_argument("--optimizer", choices=("rmsprop", "sgd"), default="rmsprop")
    parser.add_argument("--time", type=int, help="override the size's number of steps")
    parser.add_argument("--batch", type=int, help="override the size's batch")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla", action="store_true",
                        help="steady: also time each case compiled whole by XLA (jit_compile)")
    parser.add_argument("--grappler", action="store_true",
                        help="compile lowlevel's cases with plain tf.function, Grappler's "
                             "passes on (lowlevel compiles without them: lowlevel.compiled)")
    parser.add_argument("--grappler-twins", action="store_true",
                        help="steady: also time each loop compiled by plain tf.function "
                             "(Grappler's passes on), alternating with the others")
    parser.add_argument("--eager", action="store_true",
                        help="call every case uncompiled, as a hand-written GradientTape loop "
                             "without tf.function does")
    parser.add_argument("--persistent-tape", action="store_true",
                        help="the training step's tape persistent")
    parser.add_argument("--intra-op-threads", type=int,
                        help="steady: TensorFlow's intra-op thread pool size for the whole "
                             "process (tf.config.threading; default: TensorFlow's, one per core)")
    parser.add_argument("--isolated", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="append the measurements to this file")
    args = parser.parse_args(argv)

    def emit(record):
        print(json.dumps(record), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(record) + "\n")

    (steady if args.mode == "steady" else first)(args, emit)


if __name__ == "__main__":
    main()
