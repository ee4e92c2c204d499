"""The three long-memory tasks as the memory study trains them: data, head, loss, criteria.

One :class:`Task` per task of :mod:`lowlevel.apps.data.tasks`, each with the length its
``T`` means, the model's head (outputs per step or at the end), the training loss, the
held-out metrics and the success criterion from the literature:

- ``adding`` (Le et al. 2015 / Arjovsky et al. 2016 variant): MSE; baselines 1/6
  (memoryless) and 1/12 (remembers one number); solved: at least 99% of held-out
  sequences within 0.08 (Hochreiter & Schmidhuber's 0.04 on their scale).
- ``copy`` (Arjovsky, Shah & Bengio 2016): 10 symbols of 8, ``T`` = blanks + delimiter
  between them and the recall (their ``T``); mean cross-entropy over all ``T + 20``
  steps against the memoryless ``10 log 8 / (T + 20)``; solved: 99% of recalled symbols.
- ``order`` (Hochreiter & Schmidhuber 1997, exp. 6a): 4 classes; baseline log 4;
  solved: 99% of held-out sequences classified correctly.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import tensorflow as tf

from lowlevel.apps.data import tasks as data

SOLVED = 0.99  # fraction of held-out sequences (copy: recalled symbols) that must be right
COPY_LENGTH, COPY_SYMBOLS = 10, 8  # Arjovsky et al.'s setting


def _mse(predictions, targets):
    """``mean((y - t)²)`` over ``[batch, 1]``."""
    return tf.reduce_mean(tf.square(predictions - tf.cast(targets, predictions.dtype)))


def _cross_entropy(logits, targets):
    """Mean sparse softmax cross-entropy over every position of ``targets`` (nats)."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.int32), logits=logits))


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    input_dim: int
    output_dim: int
    return_sequences: bool  # the head reads every step (copy) or the last one
    loss: Callable  # loss(predictions, targets) -> scalar tensor
    metric: str  # what the loss is, for plots and tables

    def batch(self, batch_size, time_steps, seed):
        """``(x [batch, time, input_dim], targets)`` for this task's ``T``."""
        if self.name == "adding":
            return data.adding_problem(batch_size, time_steps, seed=seed)
        if self.name == "copy":
            return data.copy_memory(batch_size, COPY_LENGTH, time_steps - 1, COPY_SYMBOLS,
                                    seed=seed)
        return data.temporal_order(batch_size, time_steps, seed=seed)

    def baselines(self, time_steps) -> dict:
        """``{label: loss}`` of the memoryless strategy (and, adding, one number kept)."""
        if self.name == "adding":
            return {"memoryless 1/6": data.ADDING_BASELINE_MSE,
                    "one number kept 1/12": data.ADDING_ONE_NUMBER_MSE}
        if self.name == "copy":
            return {"memoryless 10 log 8/(T+20)":
                    data.copy_memory_baseline(COPY_LENGTH, time_steps - 1, COPY_SYMBOLS)}
        return {"memoryless log 4": data.TEMPORAL_ORDER_BASELINE_CE}

    def evaluate(self, predictions, targets, time_steps) -> dict:
        """Held-out ``loss``, ``loss / baseline``, ``accuracy`` (the criterion's fraction)
        and ``solved`` (accuracy >= :data:`SOLVED`)."""
        predictions = np.asarray(predictions)
        loss = float(self.loss(tf.constant(predictions), tf.constant(targets)))
        if self.name == "adding":
            accuracy = data.adding_accuracy(predictions, targets)
        elif self.name == "copy":
            accuracy = data.classification_accuracy(predictions[:, -COPY_LENGTH:],
                                                    targets[:, -COPY_LENGTH:])
        else:
            accuracy = data.classification_accuracy(predictions, targets)
        baseline = next(iter(self.baselines(time_steps).values()))
        return {"loss": loss, "baseline": baseline, "loss_over_baseline": loss / baseline,
                "accuracy": accuracy, "solved": accuracy >= SOLVED}


TASKS = {
    "adding": Task("adding", 2, 1, False, _mse, "MSE"),
    "copy": Task("copy", COPY_SYMBOLS + 2, COPY_SYMBOLS + 2, True, _cross_entropy,
                 "cross-entropy (nats/step)"),
    "order": Task("order", len(data.TEMPORAL_ORDER_SYMBOLS), 4, False, _cross_entropy,
                  "cross-entropy (nats)"),
}


def task(name) -> Task:
    if name not in TASKS:
        raise ValueError(f"`task` must be one of {sorted(TASKS)}; received {name!r}.")
    return TASKS[name]

