"""What a training run writes besides checkpoints: ``metrics.json``, ``metrics.csv``,
``curves.png``, ``gradients.csv`` and TensorBoard scalars.

Files that are rewritten (everything but the appended ``gradients.csv`` rows and the
TensorBoard events) are written to a temporary file and renamed over the old one, so a
kill leaves either the old or the new file, never half of one."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

EPOCH_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                "global_norm_mean", "clipped_fraction")


class GradientLog:
    """``gradients.csv``: one row per training step — loss, the pre-clip global norm,
    whether clipping acted, and each layer's pre-clip gradient norm
    ``sqrt(Σ_{variables of the layer} ‖g‖²)``.

    On a resume, rows after the restored step are dropped: they are redone, so the file
    ends as an uninterrupted run's would. A row torn by a kill (missing fields or an
    unparsable number) is dropped too, and so is a repeated step; the kept rows are
    written to a temporary file renamed over the old one.
    """

    def __init__(self, path, layer_names, keep_steps):
        self.path, self.layer_names = path, list(layer_names)
        self.layers = list(dict.fromkeys(self.layer_names))
        self.columns = ["step", "loss", "global_norm", "clipped"] + [
            f"norm/{layer}" for layer in self.layers]
        rows = read_whole_rows(path, self.columns, keep_steps) if keep_steps else []
        with atomic_write(path) as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(rows)

    def record(self, step, metrics) -> dict:
        squares = np.asarray(metrics["variable_norms"], np.float64) ** 2
        layer_norms = {layer: float(np.sqrt(sum(sq for sq, name in
                                                zip(squares, self.layer_names)
                                                if name == layer)))
                       for layer in self.layers}
        row = {"step": step, "loss": float(metrics["loss"]),
               "global_norm": float(metrics["global_norm"]),
               "clipped": int(bool(metrics["clipped"])),
               **{f"norm/{k}": v for k, v in layer_norms.items()}}
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)
        return layer_norms


def read_whole_rows(path, columns, keep_steps) -> list:
    """The rows of ``path`` with every column a number and ``step <= keep_steps``, each
    step once (the first)."""
    if not os.path.exists(path):
        return []
    rows, seen = [], set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                step = int(row["step"])
                [float(row[c]) for c in columns]  # a torn row has None or a cut number
            except (KeyError, TypeError, ValueError):
                continue
            if step <= keep_steps and step not in seen and None not in row:
                seen.add(step)
                rows.append(row)
    return rows


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Write ``path`` through ``path.tmp`` renamed over it on success."""
    tmp = path + ".tmp"
    with open(tmp, mode, **({} if "b" in mode else {"newline": ""})) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# TensorBoard's scalar-plugin metadata (what tf.summary.scalar writes), so that the
# summaries need no `tensorboard` package: core TF's tf.summary.write suffices.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def scalar(name, value):
    tf.summary.write(name, tf.cast(value, tf.float32), metadata=_SCALAR_METADATA)


def write_json(path, content):
    with atomic_write(path) as f:  # never a half-written file
        json.dump(content, f, indent=2)


def write_outputs(out, config, history, best_epoch, kept_epoch=None, test=None) -> dict:
    """``metrics.json``, ``metrics.csv`` and ``curves.png``; returns the metrics dict."""
    metrics = {"config": dataclasses.asdict(config), "epochs": history,
               "best_epoch": best_epoch, "kept_epoch": kept_epoch,
               "test_loss": None if test is None else test["loss"],
               "test_accuracy": None if test is None else test["accuracy"]}
    write_json(os.path.join(out, "metrics.json"), metrics)
    with atomic_write(os.path.join(out, "metrics.csv")) as f:
        writer = csv.DictWriter(f, EPOCH_FIELDS + ("seconds",))
        writer.writeheader()
        writer.writerows(history)
    plot_curves(history, os.path.join(out, "curves.png"), best_epoch)
    return metrics


def plot_curves(history, path, best_epoch=None):
    """Loss and accuracy per epoch, training and validation, as a PNG (``curves_figure``)."""
    import matplotlib.pyplot as plt

    fig = curves_figure(history, best_epoch)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def curves_figure(history, best_epoch=None):
    """The figure of ``plot_curves``: integer epoch ticks, and the kept epoch marked with
    its rule ("best epoch N (by validation accuracy)")."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [row[key] for row in history], "o-", label="training")
        if history and history[0]["val_" + key] is not None:
            ax.plot(epochs, [row["val_" + key] for row in history], "o-", label="validation")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":",
                       label=f"best epoch {best_epoch} (by validation accuracy)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    return fig
