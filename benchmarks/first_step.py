"""The first training step of ``lowlevel train`` (trace + first run), in this process.

:class:`lowlevel.models.SentimentClassifier` at the tutorial's configuration (vocabulary
10,000, 80 tokens, embedding 100, two recurrent layers of 64, batch 128), stepped once
by the compiled step ``lowlevel train`` runs (:func:`lowlevel.train.make_train_step`,
RMSprop) on one batch of random word ids, nothing traced before it. What a user waits
for before the first step of the main job; run one process per figure:

    python benchmarks/first_step.py --cell lstm --style layer
    python benchmarks/first_step.py --cell gru --style cell --json first-step.jsonl

Prints one JSON line (cell, style, seconds, load average) and appends it to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def measure(cell: str, style: str, **config_changes) -> dict:
    """Seconds of the first call of the experiment's training step for ``cell`` and
    ``style`` (``config_changes``: other :class:`ExperimentConfig` fields)."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from lowlevel.apps.experiment import run as experiment  # noqa: PLC0415
    from lowlevel.apps.experiment.config import ExperimentConfig  # noqa: PLC0415
    from lowlevel.optimizers import RMSprop  # noqa: PLC0415
    from lowlevel.train import make_train_step  # noqa: PLC0415

    config = ExperimentConfig(cell=cell, style=style, out="unused", **config_changes)
    keras.utils.set_random_seed(config.seed)  # as lowlevel train seeds the initial weights
    model = experiment.build_model(config)
    step = make_train_step(model, RMSprop(config.lr))
    rng = np.random.default_rng(config.seed)
    ids = tf.constant(rng.integers(1, config.num_words, (config.batch_size, config.maxlen)),
                      tf.int32)
    labels = tf.constant(rng.integers(0, 2, config.batch_size), tf.int32)
    start = time.perf_counter()
    loss = float(step(ids, labels)["loss"])  # read back, as the training loop does
    seconds = time.perf_counter() - start
    return {"cell": cell, "style": style, "seconds": seconds, "loss": loss,
            "load": [round(x, 2) for x in os.getloadavg()]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("simple", "lstm", "gru"), default="lstm")
    parser.add_argument("--style", choices=("cell", "layer"), default="layer")
    parser.add_argument("--json", help="append the line to this file")
    args = parser.parse_args(argv)
    line = json.dumps(measure(args.cell, args.style))
    print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
