"""Training-epoch time of the IMDB model: ``lowlevel train``'s loop against the reference Keras model.

Same data (the training split ``lowlevel train`` uses), same tutorial configuration,
same number of steps (full batches of 128), in one process, alternating
``repeats`` times, each side traced on a few warm-up steps first:

- ``lowlevel``: :class:`lowlevel.models.SentimentClassifier` stepped by the compiled
  step of ``lowlevel train`` (:func:`lowlevel.train.make_train_step`), its metrics
  read back every step as the training loop does;
- ``keras``: ``reference.build_model`` (the tutorial's ``MyRNN`` / ``MyLayerRNN``),
  ``compile`` + ``fit(epochs=1)`` as the tutorial trains it.

    python benchmarks/epoch_time.py --imdb-path imdb.npz --cells lstm --styles layer
    python benchmarks/epoch_time.py --data synthetic --num-train 2000   # offline
    python benchmarks/epoch_time.py --styles layer --implementation unrolled

Prints ``keras seconds / lowlevel seconds`` (> 1: lowlevel faster) per cell and style
and writes them as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.optimizers import RMSprop
from lowlevel.train import make_train_step

WARMUP_STEPS = 3


def _lowlevel_epoch(config, x, y):
    model = experiment.build_model(config)
    step_fn = make_train_step(model, RMSprop(config.lr))
    batch = config.batch_size

    def run(steps):
        order = experiment.epoch_order(config.seed, 0, len(x))
        for k in range(steps):
            rows = order[k * batch:(k + 1) * batch]
            metrics = step_fn(x[rows], y[rows])
            float(metrics["loss"]), float(metrics["global_norm"])  # as the loop reads them

    return run


def _keras_epoch(config, x, y):
    import keras  # noqa: PLC0415

    from lowlevel_reference.models import build_model  # noqa: PLC0415
    from lowlevel_reference.training import compile_like_tutorial  # noqa: PLC0415

    keras.utils.set_random_seed(config.seed)
    model = compile_like_tutorial(build_model(
        config.cell, config.style, units=config.units, num_words=config.num_words,
        embedding_dim=config.embedding_dim, maxlen=config.maxlen, dropout=config.dropout,
        seed=config.seed), config.lr)

    def run(steps):
        n = steps * config.batch_size
        model.fit(x[:n], y[:n], batch_size=config.batch_size, epochs=1, shuffle=True,
                  verbose=0)

    return run


def measure(config, repeats: int = 2, log=sys.stderr) -> dict:
    """Median seconds of one training epoch for each side, and their ratio."""
    x, y = experiment.load_splits(config)["train"]
    steps = len(x) // config.batch_size
    runs = {"lowlevel": _lowlevel_epoch(config, x, y), "keras": _keras_epoch(config, x, y)}
    for run in runs.values():
        run(min(WARMUP_STEPS, steps))  # trace
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run(steps)
            seconds[name].append(time.perf_counter() - start)
    medians = {name: float(np.median(s)) for name, s in seconds.items()}
    result = {"cell": config.cell, "style": config.style, "steps": steps,
              "implementation": config.implementation,
              "seconds": seconds, "lowlevel": medians["lowlevel"], "keras": medians["keras"],
              "ratio": medians["keras"] / medians["lowlevel"]}
    print(f"{config.cell:6} {config.style:5}: lowlevel {medians['lowlevel']:7.1f} s, "
          f"keras {medians['keras']:7.1f} s per epoch of {steps} steps: "
          f"ratio {result['ratio']:.2f}x", file=log, flush=True)
    return result


def config_for(args, cell, style) -> ExperimentConfig:
    """The measured configuration; ``--implementation`` applies to the layer style only
    (the cell style steps its cells by hand)."""
    return ExperimentConfig(
        data=args.data, imdb_path=args.imdb_path, num_train=args.num_train, num_test=1,
        cell=cell, style=style, out="unused",
        **({"implementation": args.implementation}
           if args.implementation and style == "layer" else {}))


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=["imdb", "synthetic"], default="imdb")
    parser.add_argument("--imdb-path", help="Keras-layout imdb.npz (default: Keras's cache)")
    parser.add_argument("--num-train", type=int, default=25000, help="synthetic corpus size")
    parser.add_argument("--cells", default="simple,lstm,gru")
    parser.add_argument("--styles", default="cell,layer")
    parser.add_argument("--implementation", help="time loop of the layer style (lowlevel "
                        "train --implementation; default the layers' default)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", metavar="PATH")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    results = []
    for cell in args.cells.split(","):
        for style in args.styles.split(","):
            config = config_for(args, cell, style)
            results.append(measure(config, args.repeats))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": dataclasses.asdict(config), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
