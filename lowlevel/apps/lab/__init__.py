"""The gradient lab: five studies of vanishing and exploding gradients, each over seeds.

- :mod:`~lowlevel.apps.lab.flow` — ‖∂L/∂h_t‖ at initialisation against the distance from
  the loss, per cell and spectral radius, next to the one-step Jacobians and the closed
  forms that predict it.
- :mod:`~lowlevel.apps.lab.clipping` — a learning-rate × threshold sweep of no clipping,
  clipping by value, by norm and by global norm in an exploding ReLU SimpleRNN.
- :mod:`~lowlevel.apps.lab.memory` — SimpleRNN, LSTM and GRU on the adding, copy-memory
  and temporal-order tasks, with gradients and spectra recorded during training.
- :mod:`~lowlevel.apps.lab.cliff` — Pascanu et al.'s one-unit loss surface with a clipped
  and an unclipped descent.
- :mod:`~lowlevel.apps.lab.init` — initialisations (orthogonal, Glorot, IRNN, forget and
  update biases, chrono) compared at step 0 and on the adding problem.

Each ``run(out, config)`` writes PNGs, CSVs and a markdown report into ``out``;
:func:`lowlevel.apps.lab.studies.run_studies` runs several and joins their reports into
``report.md``. :class:`lowlevel.gradient_log.GradientLog` is the per-step log and
:class:`lowlevel.gradient_record.GradientRecorder` the training-time recorder.

The names below load on first use (PEP 562): importing the package, or its TensorFlow-free
command line :mod:`~lowlevel.apps.lab.cli`, imports no study.
"""

from __future__ import annotations

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    "STUDIES": "lowlevel.apps.lab.studies", "QUICK": "lowlevel.apps.lab.studies",
    "config_for": "lowlevel.apps.lab.studies", "run_studies": "lowlevel.apps.lab.studies",
    "FlowConfig": "lowlevel.apps.lab.flow", "ClipConfig": "lowlevel.apps.lab.clipping",
    "MemoryConfig": "lowlevel.apps.lab.memory", "CliffConfig": "lowlevel.apps.lab.cliff",
    "InitConfig": "lowlevel.apps.lab.init", "GradientLog": "lowlevel.apps.lab.training",
    "train_regressor": "lowlevel.apps.lab.training",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """``lowlevel.apps.lab.run_studies`` imports :mod:`~lowlevel.apps.lab.studies` on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lowlevel.apps.lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value
