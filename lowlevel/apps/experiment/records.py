"""What a training run writes besides checkpoints: ``metrics.json``, ``metrics.csv``,
``curves.png``, ``gradients.csv``, TensorBoard scalars and the terminal progress bar."""

from __future__ import annotations

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
    ends as an uninterrupted run's would.
    """

    def __init__(self, path, layer_names, keep_steps):
        self.path, self.layer_names = path, list(layer_names)
        self.layers = list(dict.fromkeys(self.layer_names))
        self.columns = ["step", "loss", "global_norm", "clipped"] + [
            f"norm/{layer}" for layer in self.layers]
        rows = []
        if keep_steps and os.path.exists(path):
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= keep_steps]
        with open(path, "w", newline="") as f:
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


# TensorBoard's scalar-plugin metadata (what tf.summary.scalar writes), so that the
# summaries need no `tensorboard` package: core TF's tf.summary.write suffices.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def scalar(name, value):
    tf.summary.write(name, tf.cast(value, tf.float32), metadata=_SCALAR_METADATA)


_CLEAR_LINE = "\r\033[K"


def clear_line(log) -> str:
    """What erases the progress bar before an epoch line: nothing off a terminal."""
    return _CLEAR_LINE if _is_tty(log) else ""


def _is_tty(log) -> bool:
    return bool(getattr(log, "isatty", lambda: False)())


def progress_bar(epoch, epochs, done, total, sums, log, width=30):
    """Redrawn in place on a terminal; silent otherwise (the epoch line remains)."""
    if not _is_tty(log):
        return
    filled = width * done // total
    log.write(f"\repoch {epoch + 1}/{epochs} [{'=' * filled}{'.' * (width - filled)}] "
              f"{done}/{total} loss {sums[0] / done:.4f} accuracy {sums[1] / done:.4f}")
    log.flush()


def write_json(path, content):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(content, f, indent=2)
    os.replace(tmp, path)  # never a half-written file


def write_outputs(out, config, history, best_epoch, kept_epoch=None, test=None) -> dict:
    """``metrics.json``, ``metrics.csv`` and ``curves.png``; returns the metrics dict."""
    metrics = {"config": dataclasses.asdict(config), "epochs": history,
               "best_epoch": best_epoch, "kept_epoch": kept_epoch,
               "test_loss": None if test is None else test["loss"],
               "test_accuracy": None if test is None else test["accuracy"]}
    write_json(os.path.join(out, "metrics.json"), metrics)
    with open(os.path.join(out, "metrics.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, EPOCH_FIELDS + ("seconds",))
        writer.writeheader()
        writer.writerows(history)
    plot_curves(history, os.path.join(out, "curves.png"), best_epoch)
    return metrics


def plot_curves(history, path, best_epoch=None):
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [row[key] for row in history], "o-", label="training")
        if history and history[0]["val_" + key] is not None:
            ax.plot(epochs, [row["val_" + key] for row in history], "o-", label="validation")
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
