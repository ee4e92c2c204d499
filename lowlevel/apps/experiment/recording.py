"""``lowlevel train --record-gradients N``: the recurrent layers' gradients, spectra and
gate statistics while the classifier trains (:class:`lowlevel.gradient_record.GradientRecorder`).

At step 0 (the initial weights) and after every ``N``-th training step, on a fixed probe
batch (the first ``PROBE_BATCH`` validation reviews, else training reviews; dropout
off), each recurrent layer ``rnn{i}`` is measured with its input ``x_i`` (the embedded
reviews through the layers below, ``[probe, maxlen, features]``) and ``L`` the
classifier's binary cross-entropy on the probe batch as a function of that layer's
output (the layers above and the head applied to it). ``gradients_record.npz`` in the
run directory holds, for each layer, ``rnn{i}/{name}``:

- ``step [checkpoint]``; ``grad_h``, ``grad_c`` (LSTM; NaN otherwise), ``grad_state``,
  ``jacobian_norm`` ``[checkpoint, time]``: ``‖∂L/∂h_t‖``, ``‖∂L/∂c_t‖``, the whole
  state's, and ``σ_max`` of the step Jacobian ``∂s_t/∂s_{t-1}``;
- ``jacobian_singular_values [checkpoint, unit]`` (the state's units; LSTM ``2 × units``);
- ``spectral_radius``, ``sigma_max`` ``[checkpoint, gate]`` of ``U``'s gate blocks,
  named in ``gates``;
- ``grad_ratio`` (``‖∂L/∂h_0‖ / ‖∂L/∂h_T‖``), ``saturated_fraction``, ``forget_mean``,
  ``forget_open_fraction``, ``update_mean`` ``[checkpoint]`` (NaN where the cell has
  no such gate).

The file is rewritten whole (through a temporary file) after each checkpoint, and the
same numbers go to TensorBoard as ``record/rnn{i}/...``. A resumed run keeps the rows up
to the step it resumes from and records the later ones once.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from lowlevel._files import atomic_write
from lowlevel.gradient_record import GradientRecorder
from lowlevel.layers import RNN
from lowlevel.train import binary_cross_entropy

FILE = "gradients_record.npz"
PROBE_BATCH = 16  # reviews in the probe batch (fewer if the split is smaller)


def sequence_layers(model) -> list:
    """The classifier's recurrent layers, bottom-up, as sequence layers: the layer
    style's own; the cell style's cells each in an ``RNN`` (the same cell and weights)."""
    if model.style == "layer":
        return list(model.rnn)
    cells = model.rnn.cells
    return [RNN(cell, return_sequences=i < len(cells) - 1) for i, cell in enumerate(cells)]


def logits_of_encoding(model, h):
    """``SentimentClassifier``'s head on the top layer's output ``h [batch, units]``,
    dropout off: ``model(ids) == logits_of_encoding(model, model.encode(ids))``."""
    return model.out(tf.nn.relu(model.head(h)))  # [batch, 1]


def probe_batch(splits) -> tuple:
    """``(ids [probe, maxlen], labels [probe])``: the first validation reviews, else the
    first training reviews."""
    x, y = splits["val"] if len(splits["val"][0]) else splits["train"]
    return x[:PROBE_BATCH], y[:PROBE_BATCH]


class RunRecorder:
    """Records every recurrent layer of ``model`` at step 0 and every ``every`` steps up
    to ``total_steps``; ``out/gradients_record.npz`` keeps the rows of steps
    ``<= resumed_step`` that an earlier attempt of the run wrote."""

    def __init__(self, model, every, total_steps, splits, out, resumed_step=0):
        self.model, self.path = model, os.path.join(out, FILE)
        self.layers = sequence_layers(model)
        steps = range(0, total_steps + 1, every)
        self.recorders = [GradientRecorder(steps) for _ in self.layers]
        ids, labels = probe_batch(splits)
        self.ids, self.labels = tf.constant(ids, tf.int32), tf.constant(labels, tf.int32)
        if os.path.exists(self.path):
            self._restore(resumed_step)

    def _restore(self, through):
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                for i, recorder in enumerate(self.recorders):
                    prefix = f"rnn{i}/"
                    recorder.restore({k[len(prefix):]: saved[k] for k in saved.files
                                      if k.startswith(prefix)}, through=through)
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"`--record-gradients`: {self.path} is unreadable "
                             f"({type(error).__name__}: {error}); move it away to resume "
                             "without its earlier rows.") from None

    def wants(self, step) -> bool:
        return self.recorders[0].wants(step)

    def record(self, step, writer) -> None:
        """Measure every layer at ``step``, write its TensorBoard scalars under
        ``writer`` and rewrite the file."""
        x = self.model.embedding(self.ids)  # [probe, maxlen, embedding_dim]
        for i, (layer, recorder) in enumerate(zip(self.layers, self.recorders)):
            record = recorder.record(step, layer, x, self._loss_above(i))
            with writer.as_default(step=step):
                recorder.summarise(record, prefix=f"record/rnn{i}")
            x = layer(x, training=False) if i < len(self.layers) - 1 else None
        self.save()

    def _loss_above(self, i):
        """``L`` as a function of layer ``i``'s output: the layers above, then the head."""
        def loss(output):
            for upper in self.layers[i + 1:]:
                output = upper(output, training=False)
            return binary_cross_entropy(logits_of_encoding(self.model, output), self.labels)

        return loss

    def arrays(self) -> dict:
        return {f"rnn{i}/{key}": value for i, recorder in enumerate(self.recorders)
                for key, value in recorder.arrays().items()}

    def save(self) -> None:
        with atomic_write(self.path, "wb") as f:
            np.savez(f, **self.arrays())
