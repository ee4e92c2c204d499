"""The gradient lab: three studies of vanishing and exploding gradients.

- :mod:`~lowlevel.apps.lab.flow` — ‖∂L/∂h_t‖ at initialisation against the distance from
  the loss, per cell and spectral radius, next to the one-step Jacobians that predict it.
- :mod:`~lowlevel.apps.lab.clipping` — no clipping, by value, by norm, by global norm
  in an exploding ReLU SimpleRNN.
- :mod:`~lowlevel.apps.lab.memory` — SimpleRNN, LSTM and GRU on the adding problem.

Each ``run(out, config)`` writes PNGs, CSVs and a markdown report into ``out``;
:func:`run_studies` runs several and joins their reports into ``report.md``.
:class:`~lowlevel.apps.lab.training.GradientLog` is the per-step logging helper.
"""

from __future__ import annotations

import dataclasses
import time

from lowlevel.apps.lab import _output, clipping, flow, memory
from lowlevel.apps.lab.clipping import ClipConfig
from lowlevel.apps.lab.flow import FlowConfig
from lowlevel.apps.lab.memory import MemoryConfig
from lowlevel.apps.lab.training import GradientLog, make_regression_step, train_regressor

STUDIES = {"flow": (flow, FlowConfig), "clipping": (clipping, ClipConfig),
           "memory": (memory, MemoryConfig)}

# --quick: all three in under 3 minutes on 2 cores (what `make demo` runs).
QUICK = {
    "flow": dict(units=16, time_steps=30, batch=8, radii=(0.5, 1.0, 1.5)),
    "clipping": dict(steps=100),
    "memory": dict(time_steps=(20,), steps=300),
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
    parts = ["# Gradient lab", "", f"Studies: {', '.join(names)}; seed {seed}"
             + ("; --quick settings." if quick else "."), ""]
    for name in names:
        parts.append((out / f"{name}.md").read_text().replace("# ", "## ", 1))
    (out / "report.md").write_text("\n".join(parts))
    return results


__all__ = ["STUDIES", "QUICK", "config_for", "run_studies", "FlowConfig", "ClipConfig",
           "MemoryConfig", "GradientLog", "make_regression_step", "train_regressor"]
