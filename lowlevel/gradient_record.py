"""Gradients, spectra and gate statistics of a recurrent layer, recorded during training.

The vanishing that matters is often made by training, not present at initialisation:
a SimpleRNN's ``U`` can grow until most tanh units saturate, and its gradient from
far steps dies then. :class:`GradientRecorder` measures, at chosen training steps, on
a fixed probe batch ``x [batch, time, features]`` and a loss ``L = loss_fn(layer(x))``:

- ``‖∂L/∂h_t‖`` per step (LSTM also ``‖∂L/∂c_t‖`` and the full state
  ``sqrt(‖∂L/∂h_t‖² + ‖∂L/∂c_t‖²)``), by :func:`lowlevel.gradients.all_state_gradients`;
- ``ρ`` and ``σ_max`` of each gate block of ``U`` (:func:`lowlevel.gradients.recurrent_spectrum`);
- the singular values of the step Jacobians ``J_t = ∂s_t/∂s_{t-1}`` along the probe
  trajectory (:func:`lowlevel.gradients.step_jacobians`);
- gate statistics: mean forget gate ``f`` and fraction ``f > 0.9`` (LSTM), mean update
  gate ``z`` (GRU), fraction of saturated tanh candidates ``|a| > 0.95``
  (``tanh' = 1 - a² < 0.1``; SimpleRNN ``a = h``, LSTM ``a = g``, GRU ``a = ĥ``).

:meth:`GradientRecorder.arrays` stacks them as ``[checkpoint, time]``,
``[checkpoint, unit]`` and ``[checkpoint, gate]`` arrays; :meth:`~GradientRecorder.save`
writes them to one ``.npz`` a notebook loads with ``numpy.load``, and
:meth:`~GradientRecorder.restore` takes such rows back (a resumed training run). With
``tensorboard_dir`` each checkpoint is also summarised as TensorBoard scalars
(:meth:`~GradientRecorder.summarise`, also usable under a caller's writer).
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from lowlevel import gradients
from lowlevel._files import atomic_write
from lowlevel.gradient_log import scalar

SATURATED = 0.95  # |tanh(a)| above this: tanh' = 1 - tanh² < 0.0975
FORGET_OPEN = 0.9  # a forget gate above this keeps 90% of c per step


def checkpoints(total_steps, count) -> tuple:
    """``count`` training steps from 0 to ``total_steps - 1``, evenly spaced, distinct."""
    for value, name in ((total_steps, "total_steps"), (count, "count")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1; received {value!r}.")
    return tuple(sorted({int(round(s)) for s in np.linspace(0, total_steps - 1, count)}))


# The gates the statistics read, by the names of StepContract.gate_values.
RECORDED_GATES = ("candidate", "forget", "update")


def _step_with_gates(cell, x_t, states):
    """``(new_states, gates)``: one step, and those of :data:`RECORDED_GATES` the cell
    names (:meth:`~lowlevel.cells.contract.StepContract.gate_values`), each
    ``[batch, units]``."""
    _, new_states, saved = cell.forward(x_t, states, cell.step_weights())
    values = cell.gate_values(saved)
    return new_states, {name: values[name] for name in RECORDED_GATES if name in values}


class GradientRecorder:
    """``GradientRecorder(steps, tensorboard_dir=None)``: records at the training ``steps``.

    ``wants(step)`` says whether ``step`` is a checkpoint; ``record(step, layer, x,
    loss_fn)`` measures the layer (a lowlevel ``SimpleRNN``, ``LSTM`` or ``GRU``) on
    ``x [batch, time, features]`` with ``L = loss_fn(layer(x))``. The step Jacobians
    are computed by one compiled function per cell, kept by this recorder.
    """

    def __init__(self, steps, tensorboard_dir=None):
        self.steps = tuple(sorted({int(s) for s in steps}))
        self.records = []
        self._compiled = {}
        self._writer = (tf.summary.create_file_writer(str(tensorboard_dir))
                        if tensorboard_dir is not None else None)

    def wants(self, step) -> bool:
        """Whether ``step`` is a checkpoint not recorded yet."""
        return int(step) in self.steps and int(step) not in self.recorded_steps

    @property
    def recorded_steps(self) -> set:
        return {r["step"] for r in self.records}

    def _trajectory_step(self, cell):
        if id(cell) not in self._compiled:
            @tf.function
            def step(x_t, states):
                new_states, gates = _step_with_gates(cell, x_t, states)
                return gradients.step_jacobians(cell, x_t, states), new_states, gates

            self._compiled[id(cell)] = (cell, step)  # the cell kept alive with its id
        return self._compiled[id(cell)][1]

    def trajectory(self, cell, x) -> dict:
        """Step Jacobians' singular values and gate statistics along ``x`` from zero state."""
        step = self._trajectory_step(cell)
        x = tf.convert_to_tensor(x, cell.dtype)  # [batch, time, features]
        states = cell.get_initial_state(x.shape[0])
        singular, gates = [], []
        for t in range(x.shape[1]):
            j, states, step_gates = step(x[:, t], states)
            singular.append(np.linalg.svd(j.numpy(), compute_uv=False))  # [batch, S]
            gates.append({name: g.numpy() for name, g in step_gates.items()})
        singular = np.stack(singular)  # [time, batch, S], each row sorted descending
        stacked = {name: np.stack([g[name] for g in gates])  # [time, batch, units]
                   for name in gates[0]}
        nan = float("nan")
        tanh = getattr(cell.activation, "__name__", "") == "tanh"  # saturation: a tanh property
        a = stacked.get("candidate") if tanh else None
        f, z = stacked.get("forget"), stacked.get("update")
        return {"jacobian_norm": singular[..., 0].mean(axis=1),  # [time]
                "jacobian_singular_values": singular.mean(axis=(0, 1)),  # [S]
                "saturated_fraction": nan if a is None else float(np.mean(np.abs(a) > SATURATED)),
                "forget_mean": nan if f is None else float(f.mean()),
                "forget_open_fraction": nan if f is None else float(np.mean(f > FORGET_OPEN)),
                "update_mean": nan if z is None else float(z.mean())}

    def measure(self, layer, x, loss_fn) -> dict:
        """All quantities for one checkpoint (no step number), as NumPy arrays and floats."""
        _, grads = gradients.all_state_gradients(layer, x, loss_fn)
        norms = [np.sqrt(np.sum(np.square(g.numpy()), axis=(0, 2))) for g in grads]  # [time]
        grad_c = norms[1] if len(norms) > 1 else np.full_like(norms[0], np.nan)
        spectrum = gradients.recurrent_spectrum(layer.cell)
        gates = spectrum["gates"]
        return {"grad_h": norms[0], "grad_c": grad_c,
                "grad_state": np.sqrt(sum(n ** 2 for n in norms)),
                "grad_ratio": float(norms[0][0] / norms[0][-1]),
                "gates": tuple(gates),
                "spectral_radius": np.array([g["spectral_radius"] for g in gates.values()]),
                "sigma_max": np.array([g["singular_values"][0] for g in gates.values()]),
                **self.trajectory(layer.cell, x)}

    def record(self, step, layer, x, loss_fn) -> dict:
        """Measure at ``step`` and keep it (see :meth:`measure`); returns the record."""
        record = {"step": int(step), **self.measure(layer, x, loss_fn)}
        self.records.append(record)
        if self._writer is not None:
            with self._writer.as_default(step=record["step"]):
                self.summarise(record)
        return record

    @staticmethod
    def summarise(record, prefix="record") -> None:
        """TensorBoard scalars of ``record`` under the default writer and step:
        ``{prefix}/grad_ratio`` (``‖∂L/∂h_0‖ / ‖∂L/∂h_T‖``), the gate statistics that
        the cell has, ``{prefix}/spectral_radius/{gate}`` and ``sigma_max/{gate}``, and
        the mean step-Jacobian norm."""
        for key in ("grad_ratio", "saturated_fraction", "forget_mean",
                    "forget_open_fraction", "update_mean"):
            if np.isfinite(record[key]):
                scalar(f"{prefix}/{key}", record[key])
        for gate, rho, sigma in zip(record["gates"], record["spectral_radius"],
                                    record["sigma_max"]):
            scalar(f"{prefix}/spectral_radius/{gate}", rho)
            scalar(f"{prefix}/sigma_max/{gate}", sigma)
        scalar(f"{prefix}/jacobian_norm_mean", float(np.mean(record["jacobian_norm"])))

    def arrays(self) -> dict:
        """``{name: array}`` with a leading checkpoint axis: ``step [checkpoint]``,
        ``grad_h/grad_c/grad_state/jacobian_norm [checkpoint, time]``,
        ``jacobian_singular_values [checkpoint, unit]``, ``spectral_radius/sigma_max
        [checkpoint, gate]`` (names in ``gates``), gate statistics ``[checkpoint]``."""
        if not self.records:
            raise ValueError("GradientRecorder.arrays: nothing recorded yet; call record().")
        out = {"gates": np.array(self.records[0]["gates"])}
        for key in self.records[0]:
            if key != "gates":
                out[key] = np.stack([np.asarray(r[key]) for r in self.records])
        return out

    def save(self, path) -> None:
        """Write :meth:`arrays` to ``path`` (``.npz``), whole or not at all (a temporary
        file renamed over the old one)."""
        with atomic_write(path, "wb") as f:
            np.savez(f, **self.arrays())

    def restore(self, arrays, through=None) -> None:
        """Take back the rows of an earlier :meth:`arrays` (e.g. ``numpy.load`` of a
        saved file) at steps ``<= through`` (all when ``None``), before any recorded
        here; a step already recorded is not taken twice."""
        gates = tuple(str(g) for g in arrays["gates"])
        keys = [key for key in arrays.keys() if key not in ("step", "gates")]
        taken = [{"step": int(step), **{key: arrays[key][k] for key in keys}, "gates": gates}
                 for k, step in enumerate(np.asarray(arrays["step"]))
                 if (through is None or step <= through) and int(step) not in self.recorded_steps]
        self.records = sorted(taken + self.records, key=lambda r: r["step"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
