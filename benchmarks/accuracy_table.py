"""The README's accuracy table from the runs of ``make accuracy``.

    python benchmarks/accuracy_table.py runs/imdb

One row per run directory holding a finished ``metrics.json``: cell, style, embedding,
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
EMBEDDING_ORDER = {"trainable": 0, "GloVe, frozen": 1, "GloVe, fine-tuned": 2}


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
    embedding = ("trainable" if not config.get("glove") else
                 "GloVe, frozen" if config.get("freeze_embedding") else "GloVe, fine-tuned")
    seconds = statistics.median(e["seconds"] for e in epochs[1:] or epochs)
    key = (CELL_ORDER[config["cell"]], config["style"], EMBEDDING_ORDER[embedding])
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
