"""Study 3 — which cell remembers: SimpleRNN, LSTM and GRU on the three long-memory tasks.

Each (task, cell, T, seed) trains a seeded model (32 units + a dense head) for the same
budget of Adam steps with global-norm clipping, then is scored on held-out sequences
against the task's memoryless baseline and its success criterion from the literature
(:mod:`~lowlevel.apps.lab.memory_tasks`). During training a
:class:`lowlevel.gradient_record.GradientRecorder` measures, at a few checkpoints, what
the gradient lab measures at initialisation — ``‖∂L/∂h_t‖`` over t, the spectra of the
gate blocks of ``U``, the step Jacobians and gate statistics — because the vanishing
that stops a SimpleRNN is largely made by training: at initialisation its gradient
from far steps is larger than the GRU's (study 1), and the GRU learns first.

Clipping and the learning rate are part of the setting: unclipped Adam at lr 0.01
drives a SimpleRNN's ``U`` to a large ``σ_max`` with most tanh units saturated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lowlevel import kinds, optimizers
from lowlevel.apps.lab import _output
from lowlevel.apps.lab.memory_tasks import task as get_task
from lowlevel.apps.lab.regression import SequenceRegressor
from lowlevel.apps.lab.training import GradientLog, train_regressor, variable_names
from lowlevel.gradient_record import GradientRecorder, checkpoints
from lowlevel.train import Clip


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
    tasks: tuple = ("adding", "copy", "order")
    cells: tuple = kinds.NAMES
    time_steps: tuple = (50, 100)  # T of every task (copy: blanks + delimiter, their T)
    steps: int = 1500  # the fixed budget, the same for every task, cell and T
    units: int = 32
    batch: int = 64
    learning_rate: float = 1e-3  # Adam (Kingma & Ba 2015 default)
    clip: str = "global_norm:1"  # Clip.parse form; 'none' to train unclipped
    eval_batch: int = 1000  # held-out sequences for the final scores
    window: int = 50  # steps averaged for the smoothed curves
    seed: int = 0
    seeds: int = 3  # seeds seed, seed+1, ...: weights and data
    record_tasks: tuple = ("adding",)  # tasks whose runs record gradients during training
    record_points: int = 6  # checkpoints per recorded run (evenly spaced, step 0 included)
    probe_batch: int = 16  # fixed sequences the recorder measures on
    tensorboard: bool = False  # also write each run's logs to out/tensorboard/


def memory_case(cell, time_steps, config: MemoryConfig, tensorboard_dir=None, task="adding",
                seed=None, record=None):
    """Train one (task, cell, T, seed); ``(row, log)`` with the held-out scores.

    ``record``: record gradients during training (default: ``task in
    config.record_tasks``); the recorder is ``row['recorder']``.
    """
    spec = get_task(task)
    seed = config.seed if seed is None else seed
    model = SequenceRegressor(cell, units=config.units, input_dim=spec.input_dim, seed=seed,
                              output_dim=spec.output_dim,
                              return_sequences=spec.return_sequences)
    log = GradientLog(variable_names(model), tensorboard_dir)
    record = task in config.record_tasks if record is None else record
    recorder = GradientRecorder(checkpoints(config.steps, config.record_points),
                                tensorboard_dir) if record else None
    x_probe, y_probe = spec.batch(config.probe_batch, time_steps, [seed, time_steps, 2])

    def before_step(i):
        if recorder is not None and recorder.wants(i):
            recorder.record(i, model.rnn, x_probe,
                            lambda out: spec.loss(model.head(out), y_probe))

    train_regressor(
        model, optimizers.Adam(config.learning_rate),
        lambda i: spec.batch(config.batch, time_steps, [seed, time_steps, 0, i]),
        config.steps, clip=Clip.parse(config.clip), log=log, loss_fn=spec.loss,
        before_step=before_step)
    log.close()
    if recorder is not None:
        recorder.close()
    x, y = spec.batch(config.eval_batch, time_steps, [seed, time_steps, 1])
    scores = spec.evaluate(model(x).numpy(), y, time_steps)
    loss = log.column("loss")
    row = {"task": task, "cell": cell, "time_steps": time_steps, "seed": seed,
           "steps": len(loss), "final_loss": scores["loss"], "baseline": scores["baseline"],
           "loss_over_baseline": scores["loss_over_baseline"],
           "accuracy": scores["accuracy"], "solved": scores["solved"],
           "last_window_train_loss": float(np.mean(loss[-config.window:])),
           "clipped_fraction": float(np.mean(log.column("clipped"))),
           "recorder": recorder}
    return row, log


def run(out, config: MemoryConfig = MemoryConfig()) -> dict:
    """Write ``memory.csv``, ``memory_curves.csv``, ``memory_record.npz``, ``memory.png``,
    ``memory_dynamics.png`` and ``memory.md``."""
    out = _output.out_dir(out)
    rows, curves, records = [], [], {}
    for task in config.tasks:
        for time_steps in config.time_steps:
            for cell in config.cells:
                for seed in range(config.seed, config.seed + config.seeds):
                    name = f"memory_{task}_{cell}_T{time_steps}_s{seed}"
                    tensorboard = out / "tensorboard" / name if config.tensorboard else None
                    row, log = memory_case(cell, time_steps, config, tensorboard, task, seed)
                    recorder = row.pop("recorder")
                    if recorder is not None:
                        records[name] = recorder.arrays()
                    rows.append(row)
                    curves += [{"task": task, "cell": cell, "time_steps": time_steps,
                                "seed": seed, "step": r["step"], "loss": r["loss"],
                                "global_norm": r["global_norm"], "clipped": r["clipped"]}
                               for r in log.rows]
    _output.write_csv(out / "memory.csv", rows)
    _output.write_csv(out / "memory_curves.csv", curves)
    files = ["memory.csv", "memory_curves.csv", "memory.png", "memory.md"]
    if records:
        np.savez(out / "memory_record.npz",
                 **{f"{run}/{key}": value for run, arrays in records.items()
                    for key, value in arrays.items()})
        files += ["memory_record.npz", "memory_dynamics.png"]
    from lowlevel.apps.lab import memory_plots  # matplotlib only here
    memory_plots.plot_curves(out / "memory.png", curves, config)
    if records:
        memory_plots.plot_dynamics(out / "memory_dynamics.png", records, config)
    (out / "memory.md").write_text(memory_plots.report(rows, records, config))
    return {"rows": rows, "records": records, "files": files}
