"""What a training run writes besides checkpoints: ``metrics.json``, ``metrics.csv``,
``curves.png``, ``gradients.csv`` and TensorBoard scalars.

Files that are rewritten (everything but the appended ``gradients.csv`` rows and the
TensorBoard events) are written to a temporary file and renamed over the old one, so a
kill leaves either the old or the new file, never half of one."""

from __future__ import annotations

import csv
import json
import os

from lowlevel._files import atomic_write

EPOCH_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                "global_norm_mean", "clipped_fraction")


def write_json(path, content):
    with atomic_write(path) as f:  # never a half-written file
        json.dump(content, f, indent=2)


def write_outputs(out, config, history, best_epoch, kept_epoch=None, test=None) -> dict:
    """``metrics.json``, ``metrics.csv`` and ``curves.png``; returns the metrics dict."""
    metrics = {"config": config.to_json(), "epochs": history,
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
