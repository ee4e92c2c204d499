"""The gradient lab: three studies of vanishing and exploding gradients, each over seeds.

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
:func:`run_studies` runs several and joins their reports into ``report.md``.
:class:`lowlevel.gradient_log.GradientLog` is the per-step log and
:class:`lowlevel.gradient_record.GradientRecorder` the training-time recorder.
"""

from __future__ import annotations

import dataclasses
import time

from lowlevel.apps.lab import _output, cliff, clipping, flow, init, memory
from lowlevel.apps.lab.cliff import CliffConfig
from lowlevel.apps.lab.init import InitConfig
from lowlevel.apps.lab.clipping import ClipConfig
from lowlevel.apps.lab.flow import FlowConfig
from lowlevel.apps.lab.memory import MemoryConfig
from lowlevel.apps.lab.training import GradientLog, make_regression_step, train_regressor

STUDIES = {"flow": (flow, FlowConfig), "clipping": (clipping, ClipConfig),
           "memory": (memory, MemoryConfig), "cliff": (cliff, CliffConfig),
           "init": (init, InitConfig)}

# --quick: every study in under 3 minutes on 2 cores (what `make demo` runs): every
# file and figure of the full run, budgets too small to learn much. Tracing a model's
# compiled step costs about a second, so the training studies keep fewer runs.
QUICK = {
    "flow": dict(units=16, time_steps=30, batch=8, radii=(0.5, 1.0, 1.5)),
    "clipping": dict(learning_rates=(1e-3, 1e-2), relative=(1.0,), absolute=(1.0,),
                     steps=30, calibration_steps=10),
    "memory": dict(time_steps=(12,), steps=40, units=16, batch=32, eval_batch=200,
                   record_points=3, seeds=2),
    "cliff": {},  # milliseconds at full size
    "init": dict(time_steps=12, steps=20, units=8, batch=16, eval_batch=200, seeds=1),
}


def config_for(name, quick=False, seed=0, **overrides):
    """The study's config: defaults, then ``QUICK`` if ``quick``, then ``overrides``
    (only the fields the study has; ``None`` values are ignored)."""
    _, config_class = STUDIES[name]
    fields = {f.name for f in dataclasses.fields(config_class)}
    values = dict(QUICK[name]) if quick else {}
    values.update({k: v for k, v in overrides.items() if k in fields and v is not None})
    values["seed"] = seed
    return config_class(**values)


def run_studies(names, out, quick=False, seed=0, overrides=None, report=print) -> dict:
    """Run the studies ``names`` into ``out`` and join their reports into ``report.md``.

    ``overrides``: ``{study: {field: value}}`` applied after the defaults (and ``QUICK``).
    ``report(text)`` receives one line per finished study. Returns ``{name: result}``,
    each result with its ``seconds``.
    """
    out = _output.out_dir(out)
    overrides = overrides or {}
    results = {}
    for name in names:
        module, _ = STUDIES[name]
        start = time.perf_counter()
        results[name] = module.run(out, config_for(name, quick, seed,
                                                   **overrides.get(name, {})))
        results[name]["seconds"] = time.perf_counter() - start
        report(f"gradients {name}: {results[name]['seconds']:.1f} s -> {out}")
    command = "lowlevel gradients " + (" ".join(names) if len(names) == 1 else "all") \
        + (" --quick" if quick else "") + (f" --seed {seed}" if seed else "")
    parts = ["# Gradient lab", "", f"Studies: {', '.join(names)}; first seed {seed}"
             + ("; --quick settings." if quick else ".") + f" Made by `{command}`.", ""]
    for name in names:
        parts.append((out / f"{name}.md").read_text().replace("# ", "## ", 1))
    (out / "report.md").write_text("\n".join(parts))
    return results


__all__ = ["STUDIES", "QUICK", "config_for", "run_studies", "FlowConfig", "ClipConfig",
           "MemoryConfig", "CliffConfig", "InitConfig", "GradientLog", "make_regression_step", "train_regressor"]
