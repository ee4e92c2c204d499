"""Running the gradient lab's studies: their defaults, the ``--quick`` settings, and
:func:`run_studies`, which runs several into one directory and joins their reports.

A study's module (and with it TensorFlow and matplotlib) is imported only when the
study runs, so that ``lowlevel gradients --help`` answers without them.
"""

from __future__ import annotations

import dataclasses
import importlib
import time

from lowlevel.apps.lab import _output

# Study name -> (its module, its config class), imported when the study runs.
STUDIES = {"flow": ("lowlevel.apps.lab.flow", "FlowConfig"),
           "clipping": ("lowlevel.apps.lab.clipping", "ClipConfig"),
           "memory": ("lowlevel.apps.lab.memory", "MemoryConfig"),
           "cliff": ("lowlevel.apps.lab.cliff", "CliffConfig"),
           "init": ("lowlevel.apps.lab.init", "InitConfig")}


def study(name):
    """``(module, config_class)`` of the study ``name``, imported now."""
    if name not in STUDIES:
        raise ValueError(f"`study` must be one of {list(STUDIES)}; received {name!r}.")
    module_name, config_name = STUDIES[name]
    module = importlib.import_module(module_name)
    return module, getattr(module, config_name)


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
    _, config_class = study(name)
    fields = {f.name for f in dataclasses.fields(config_class)}
    values = dict(QUICK[name]) if quick else {}
    values.update({k: v for k, v in overrides.items() if k in fields and v is not None})
    values["seed"] = seed
    return config_class(**values)


def run_studies(names, out, quick=False, seed=0, overrides=None, report=print,
                command=None) -> dict:
    """Run the studies ``names`` into ``out`` and join their reports into ``report.md``.

    ``overrides``: ``{study: {field: value}}`` applied after the defaults (and ``QUICK``).
    ``report(text)`` receives one line per finished study. ``command``: the command line
    that ``report.md`` names as its maker (default: rebuilt from ``names``, ``quick`` and
    ``seed``). Returns ``{name: result}``, each result with its ``seconds``.
    """
    out = _output.out_dir(out)
    overrides = overrides or {}
    results = {}
    for name in names:
        module, _ = study(name)
        start = time.perf_counter()
        results[name] = module.run(out, config_for(name, quick, seed,
                                                   **overrides.get(name, {})))
        results[name]["seconds"] = time.perf_counter() - start
        report(f"gradients {name}: {results[name]['seconds']:.1f} s -> {out}")
    command = command or ("lowlevel gradients "
                          + (" ".join(names) if len(names) == 1 else "all")
                          + (" --quick" if quick else "") + (f" --seed {seed}" if seed else ""))
    parts = ["# Gradient lab", "", f"Studies: {', '.join(names)}; first seed {seed}"
             + ("; --quick settings." if quick else ".") + f" Made by `{command}`.", ""]
    for name in names:
        parts.append((out / f"{name}.md").read_text().replace("# ", "## ", 1))
    (out / "report.md").write_text("\n".join(parts))
    return results


__all__ = ["STUDIES", "QUICK", "study", "config_for", "run_studies"]
