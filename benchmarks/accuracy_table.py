"""The README's accuracy table from the runs of ``make accuracy``.

    python benchmarks/accuracy_table.py runs/imdb

One row per run directory holding a finished ``metrics.json``: cell, style, embedding
(trainable, or GloVe frozen or fine-tuned, with its ``--glove-scale`` when not 1),
the kept (best validation) epoch, its validation accuracy, the test accuracy of the
kept weights, and the median epoch time with validation (epoch 1, which traces, left
out).
"""

from __future__ import annotations

import json
import os
import statistics
import sys


CELL_ORDER = {"simple": 0, "lstm": 1, "gru": 2}


def embedding_label(config: dict) -> str:
    """'trainable', 'GloVe, frozen', 'GloVe, fine-tuned' or 'GloVe x0.1, fine-tuned'."""
    if not config.get("glove"):
        return "trainable"
    scale = config.get("glove_scale", 1.0)  # runs older than --glove-scale: 1
    vectors = "GloVe" if scale == 1 else f"GloVe x{scale:g}"
    return f"{vectors}, {'frozen' if config.get('freeze_embedding') else 'fine-tuned'}"


def row(run_dir: str) -> tuple[tuple, str] | None:
    """``(sort key, markdown row)`` of a finished run, else ``None``."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        metrics = json.load(f)
    if metrics.get("test_accuracy") is None:
        return None  # unfinished
    config, epochs = metrics["config"], metrics["epochs"]
    kept = metrics["kept_epoch"]
    embedding = embedding_label(config)
    seconds = statistics.median(e["seconds"] for e in epochs[1:] or epochs)
    key = (CELL_ORDER[config["cell"]], config["style"], bool(config.get("glove")),
           not config.get("freeze_embedding"), -config.get("glove_scale", 1.0))
    return key, (f"| {config['cell']} | {config['style']} | {embedding} | {len(epochs)} | "
                 f"{kept} | {epochs[kept - 1]['val_accuracy']:.4f} | "
                 f"{metrics['test_accuracy']:.4f} | {seconds:.0f} s |")


def main(argv=None) -> int:
    root = (argv or sys.argv[1:] or ["runs/imdb"])[0]
    print("| cell | style | embedding | epochs | kept epoch | val accuracy | "
          "test accuracy | epoch time (with validation) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = [row(os.path.join(root, name)) for name in os.listdir(root)]
    for _, line in sorted(r for r in rows if r is not None):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
