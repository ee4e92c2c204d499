"""The parity harness: one lowlevel component against its Keras twin, number by number.

``run_case(case)`` builds both with the same random (non-default) weights and non-zero
biases (:mod:`lowlevel.parity_twins`), runs them on the same inputs, and returns the
scaled errors of the outputs and returned states, and of the gradients with respect to
the inputs, the initial states and every weight. ``lowlevel verify`` and
``tests/parity/test_parity.py`` both use it.

The returned *structures* are compared too, before any flattening: the Python types
(``tuple`` or ``list`` or tensor), the nesting and the lengths, as :func:`structure`
describes them. A difference that is known and awaiting its fix would be named by
:func:`known_structure_difference` (the tests expect it to fail until then); none is.

The scalar differentiated is ``L = Σ_k Σ w_k ⊙ y_k`` over every returned tensor
``y_k``, with fixed, distinct weights ``w_k``: every output element reaches the gradient with a
different weight, so an error in any one of them shows.
"""

from __future__ import annotations

import dataclasses
import time

import tensorflow as tf

from lowlevel.parity_twins import CELLS, LAYERS, build_pair, make_inputs  # noqa: F401
from lowlevel.tolerances import scaled_error, tolerance

COMPONENTS = CELLS + LAYERS + ("StackedCells", "Bidirectional", "Embedding")


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the parity matrix.

    ``options`` (a tuple of ``(name, value)`` pairs) holds constructor arguments
    (cell and layer ones), plus ``mask`` (``'right'``, ``'left'``, ``'random'``),
    ``initial_state`` (True: random initial states), ``merge_mode`` and ``stack``
    (the cell kinds of a :class:`StackedCells`) and ``implementation`` (our layers'
    time loop; Keras's twin has none).
    """

    component: str
    options: tuple = ()
    dtype: str = "float32"
    device: str = "/CPU:0"
    mode: str = "eager"  # or "function"

    @property
    def opts(self) -> dict:
        return dict(self.options)

    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.options) or "-"


@dataclasses.dataclass
class Result:
    case: Case
    output_error: float
    gradient_error: float
    tolerance: float
    seconds: float
    our_structure: str = ""
    their_structure: str = ""

    @property
    def values_ok(self) -> bool:
        return bool(self.output_error <= self.tolerance
                    and self.gradient_error <= self.tolerance)

    @property
    def structure_ok(self) -> bool:
        return self.our_structure == self.their_structure

    @property
    def ok(self) -> bool:
        """Values within tolerance and the same structure (or a known, listed difference)."""
        return self.values_ok and (self.structure_ok
                                   or known_structure_difference(self.case) is not None)

    def structure_message(self) -> str:
        return f"lowlevel returned {self.our_structure}, Keras {self.their_structure}"

    def row(self) -> dict:
        c = self.case
        structure = "same" if self.structure_ok else (
            "known difference" if known_structure_difference(c) else "DIFFERS")
        return {"component": c.component, "options": c.label(), "dtype": c.dtype,
                "device": c.device, "mode": c.mode, "output_error": self.output_error,
                "gradient_error": self.gradient_error, "tolerance": self.tolerance,
                "structure": structure, "ok": self.ok, "seconds": round(self.seconds, 3)}


def known_structure_difference(c: Case) -> str | None:
    """Why ``c``'s returned structure differs from Keras's, or ``None``.

    None differs today: ``(output, *states)`` is a tuple with a stack's states nested per
    cell, and ``Bidirectional``'s ``merge_mode=None`` halves a tuple, as Keras 3 returns
    them. A difference found later is listed here, with its reason, until fixed.
    """
    return None


def structure(nest) -> str:
    """``nest``'s shape as a string: ``'tuple[T, list[T, T]]'`` (``T``: one tensor)."""
    if isinstance(nest, (list, tuple)):
        return f"{type(nest).__name__}[{', '.join(structure(n) for n in nest)}]"
    if isinstance(nest, dict):
        return "dict{" + ", ".join(f"{k}: {structure(v)}" for k, v in sorted(nest.items())) + "}"
    return "T"


def case(component, dtype="float32", device="/CPU:0", mode="eager", **options) -> Case:
    if component not in COMPONENTS:
        raise ValueError(f"`component` must be one of {COMPONENTS}; received {component!r}.")
    return Case(component, tuple(sorted(options.items())), dtype, device, mode)


# -------------------------------------------------------------------- running
def _forward(component, model, inputs, keras_side):
    """What ``model`` returns on ``inputs``, in its own structure (not flattened)."""
    if component == "Embedding":
        return model(inputs["ids"])
    if component in CELLS:
        return model(inputs["x"], list(inputs["states"]))
    kwargs = {}
    if "states" in inputs:
        kwargs["initial_state"] = list(inputs["states"])
        if component == "StackedCells" and keras_side:
            # Keras wants one list per cell; lowlevel accepts that or the flat list.
            kwargs["initial_state"] = tf.nest.pack_sequence_as(
                model.cell.get_initial_state(batch_size=1), kwargs["initial_state"])
    if "mask" in inputs:
        kwargs["mask"] = inputs["mask"]
    return model(inputs["x"], **kwargs)


def _weighted_sum(output):
    """``Σ w ⊙ output`` with ``w = cos(1 + 0.37 k)`` for the k-th element: fixed,
    distinct weights, computed from the tensor alone (its shape may be unknown
    while tracing)."""
    output = tf.cast(output, tf.float64)
    k = tf.reshape(tf.range(tf.size(output, out_type=tf.int64)), tf.shape(output, tf.int64))
    return tf.reduce_sum(output * tf.cos(1.0 + 0.37 * tf.cast(k, tf.float64)))


def _loss_and_grads(c, model, inputs, keras_side):
    sources = [v for k, v in inputs.items() if k in ("x", "states")]
    sources = [s for s in tf.nest.flatten(sources)]
    variables = list(model.trainable_weights if keras_side else model.trainable_variables)

    shape = []  # the structure, recorded in Python (a tf.function returns its own nests)

    def compute():
        with tf.GradientTape() as tape:
            tape.watch(sources)
            returned = _forward(c.component, model, inputs, keras_side)
            shape.append(structure(returned))
            outputs = tf.nest.flatten(returned)
            loss = tf.add_n([_weighted_sum(o) for o in outputs])
        grads = tape.gradient(loss, sources + variables)
        grads = [tf.convert_to_tensor(g) if g is not None else None for g in grads]
        return outputs, grads

    if c.mode == "function":
        compute = tf.function(compute)
    outputs, grads = compute()
    return outputs, grads, shape[-1]


def run_case(c: Case) -> Result:
    """Build, run and compare one case; errors are ``scaled_error`` maxima, structures
    as :func:`structure` writes them (the values are compared flattened, in order)."""
    start = time.perf_counter()
    with tf.device(c.device):
        ours, theirs = build_pair(c)
        output_error, gradient_error, our_structure, their_structure = _compare(
            c, ours, theirs, make_inputs(c))
    return Result(c, output_error, gradient_error, tolerance(c.dtype),
                  time.perf_counter() - start, our_structure, their_structure)


def compare(c: Case, ours, twin, inputs, twin_is_keras=True):
    """``(output_error, gradient_error)`` of ``ours`` against ``twin`` on ``inputs``; the
    two must return the same structure (types, nesting, lengths).

    ``c`` gives the component's kind (how to call it) and the mode; ``twin`` may be
    Keras's (``twin_is_keras``) or a lowlevel model, e.g. a cell's own forward under
    autodiff (``implementation='reference'``) against its hand-written backward.
    """
    output_error, gradient_error, ours_returned, twin_returned = _compare(
        c, ours, twin, inputs, twin_is_keras)
    if ours_returned != twin_returned:
        raise AssertionError(f"{c}: lowlevel returned {ours_returned}, the twin {twin_returned}")
    return output_error, gradient_error


def _compare(c: Case, ours, twin, inputs, twin_is_keras=True):
    """``(output_error, gradient_error, our_structure, twin_structure)``."""
    their_out, their_grads, their_structure = _loss_and_grads(c, twin, inputs, twin_is_keras)
    our_out, our_grads, our_structure = _loss_and_grads(c, ours, inputs, False)
    if len(our_out) != len(their_out):
        raise AssertionError(f"{c}: lowlevel returned {len(our_out)} tensors, the twin "
                             f"{len(their_out)}")
    output_error = max(scaled_error(a, b) for a, b in zip(our_out, their_out))
    pairs = [(a, b) for a, b in zip(our_grads, their_grads)]
    for a, b in pairs:
        if (a is None) != (b is None):
            raise AssertionError(f"{c}: a gradient is None on one side only")
    gradient_error = max(scaled_error(a, b) for a, b in pairs if a is not None)
    return output_error, gradient_error, our_structure, their_structure


def verify_matrix(devices=None, dtypes=("float32", "float64"), modes=("eager", "function")):
    """The cases ``lowlevel verify`` runs: every component and main option."""
    if devices is None:
        devices = ["/CPU:0"] + [d.name for d in tf.config.list_logical_devices("GPU")]
    options = [
        ("SimpleRNNCell", {}), ("LSTMCell", {}), ("GRUCell", {"reset_after": True}),
        ("GRUCell", {"reset_after": False}),
        ("SimpleRNN", {"return_sequences": True, "return_state": True, "initial_state": True}),
        ("LSTM", {"return_sequences": True, "return_state": True, "initial_state": True}),
        ("GRU", {"return_sequences": True, "return_state": True, "initial_state": True}),
        ("GRU", {"reset_after": False, "return_sequences": True}),
        ("SimpleRNN", {"mask": "random", "go_backwards": True}),
        ("LSTM", {"mask": "right", "go_backwards": True, "return_sequences": True}),
        ("GRU", {"mask": "left", "return_state": True}),
        ("StackedCells", {"stack": ("LSTM", "GRU"), "return_sequences": True}),
        ("Bidirectional", {"layer": "LSTM", "merge_mode": "concat", "return_sequences": True}),
        ("Bidirectional", {"layer": "GRU", "merge_mode": "sum"}),
        ("Embedding", {}),
    ]
    return [case(component, dtype, device, mode, **opts)
            for device in devices for dtype in dtypes for mode in modes
            for component, opts in options]
