"""What a user watches: phase lines and per-step progress bars (``quiet`` turns them
off, the epoch lines stay), and ``curves.png`` with integer epoch ticks and the rule
that chose the best epoch in its legend."""

import io
import re

import matplotlib.pyplot as plt
import pytest

from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.experiment.config import ExperimentConfig
from lowlevel.apps.experiment.records import curves_figure

TINY = dict(data="synthetic", num_train=200, num_test=64, num_words=500, maxlen=12,
            units=4, embedding_dim=4, batch_size=16, epochs=1, seed=3)
PHASES = ("loading data", "building the model", "tracing the first step",
          "testing the weights of epoch 1")


@pytest.mark.parametrize("quiet", [False, True])
def test_phase_lines_and_progress_bars_unless_quiet(tmp_path, quiet):
    log = io.StringIO()
    experiment.train(ExperimentConfig(**TINY, out=str(tmp_path / "run")), log=log,
                     quiet=quiet)
    text = log.getvalue()
    assert "epoch 1/1: loss" in text and "test (weights of epoch 1)" in text
    for phase in PHASES:
        assert (phase in text) != quiet, phase
    assert bool(re.search(r"epoch 1/1: +\d+%\|.*\| \d+/11 \[", text)) != quiet
    assert bool(re.search(r"validation: +\d+%\|.*\| \d+/2 \[", text)) != quiet
    assert bool(re.search(r"test: +\d+%\|.*\| \d+/4 \[", text)) != quiet


def row(epoch, value):
    return {"epoch": epoch, "loss": value, "accuracy": value, "val_loss": value,
            "val_accuracy": value}


def test_curves_have_integer_epoch_ticks_and_say_how_the_best_epoch_was_chosen():
    fig = curves_figure([row(1, 0.5), row(2, 0.6), row(3, 0.55)], best_epoch=2)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "best epoch 2 (by validation accuracy)" in labels
    plt.close(fig)
