"""The step-speed cases, run once at the tiny ``quick`` size without timing.

``lowlevel bench`` and ``benchmarks/test_step_speed.py`` time the cases of
:mod:`lowlevel.apps.bench.speed`; a case that computes something else than its baseline (or
crashes) fails here first. Tolerances: float32 1e-5 against ``keras_layer``; the
bfloat16 path 5e-2 against ``keras_mixed_bfloat16`` (``lowlevel.tolerances``).
"""

import math

import numpy as np
import pytest
import tensorflow as tf

import lowlevel.compiled
from lowlevel.apps.bench import other_kernels
from lowlevel.apps.bench import speed
from lowlevel.apps.bench.names import baseline_of
from lowlevel.tolerances import assert_close

SIZE = "quick"


def _cases(phase):
    """Every non-baseline case; those this machine cannot run skip with the reason."""
    params = []
    for kind in speed.KINDS:
        for impl in speed.IMPLEMENTATIONS:
            if impl in (speed.BASELINE, "keras_mixed_bfloat16"):
                continue
            if speed.applies(kind, impl, phase, SIZE) is not None:
                continue
            reason = speed.unavailable(impl)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            params.append(pytest.param(kind, impl, marks=marks, id=f"{kind}-{impl}"))
    return params


def _tolerance_dtype(implementation):
    return tf.bfloat16 if "bfloat16" in implementation else tf.float32


_baseline_cache = {}


def _baseline(kind, implementation):
    """Forward output and first-step loss of the implementation's baseline."""
    base = baseline_of(implementation)
    if (kind, base) not in _baseline_cache:
        case = speed.build_case(kind, base, SIZE)
        _baseline_cache[kind, base] = (case.run("forward"), case.run("train_step"))
    return _baseline_cache[kind, base]


@pytest.mark.parametrize("kind, implementation", _cases("forward"))
def test_benchmark_forward_equals_its_baseline_output(kind, implementation):
    case = speed.build_case(kind, implementation, SIZE)
    out = case.run("forward")
    size = speed.SIZES[SIZE]
    assert out.shape == (size["batch"], size["units"])
    expected, _ = _baseline(kind, implementation)
    assert_close(out, expected, _tolerance_dtype(implementation),
                 f"{kind} {implementation} forward")


@pytest.mark.parametrize("kind, implementation", _cases("train_step"))
def test_benchmark_train_step_returns_finite_baseline_loss(kind, implementation):
    case = speed.build_case(kind, implementation, SIZE)
    loss = float(case.run("train_step"))
    assert math.isfinite(loss)
    # The loss is taken before the update: same weights and data give the same loss.
    _, expected = _baseline(kind, implementation)
    assert_close(np.float64(loss), np.float64(expected), _tolerance_dtype(implementation),
                 f"{kind} {implementation} first train-step loss")
    second = float(case.run("train_step"))
    assert math.isfinite(second) and second != loss  # the update changed the weights


def test_keras_lstm_to_block_lstm_v2_stacks_kernels_and_keeps_gate_order_i_f_c_o():
    units, input_dim = 2, 3
    gate_of_column = np.repeat(np.arange(4.0), units)  # i, f, c, o as Keras fuses them
    kernel = np.tile(gate_of_column, (input_dim, 1))
    recurrent = np.tile(gate_of_column, (units, 1)) + 10.0
    w, b = other_kernels.keras_lstm_to_block_lstm(kernel, recurrent, gate_of_column)
    assert w.shape == (input_dim + units, 4 * units)
    np.testing.assert_array_equal(w[:input_dim], kernel)
    np.testing.assert_array_equal(w[input_dim:], recurrent)
    np.testing.assert_array_equal(b, gate_of_column)


def test_keras_to_torch_gru_reorders_gates_z_r_h_to_r_z_n_and_splits_biases():
    units, input_dim = 2, 3
    gate_of_column = np.repeat(np.arange(3.0), units)  # z, r, h
    kernel = np.tile(gate_of_column, (input_dim, 1))
    bias = np.stack([gate_of_column, gate_of_column + 10.0])  # [input bias, recurrent bias]
    w_ih, w_hh, b_ih, b_hh = other_kernels.keras_to_torch("gru", kernel, kernel[:units], bias)
    r_z_n = np.repeat([1.0, 0.0, 2.0], units)
    np.testing.assert_array_equal(w_ih, np.tile(r_z_n, (input_dim, 1)).T)
    np.testing.assert_array_equal(w_hh, np.tile(r_z_n, (units, 1)).T)
    np.testing.assert_array_equal(b_ih, r_z_n)
    np.testing.assert_array_equal(b_hh, r_z_n + 10.0)


@pytest.mark.parametrize("phase", speed.PHASES)
@pytest.mark.parametrize("kind", speed.KINDS)
def test_matmul_flops_counts_each_layers_fused_products(kind, phase):
    size = speed.SIZES["tutorial"]  # batch 128, time 80, input 100, units 64, 2 layers
    gates = {"simple": 1, "lstm": 4, "gru": 3}[kind]
    per_step = 2 * 128 * gates * 64 * ((100 + 64) + (64 + 64))  # both layers' [x, h] @ W
    expected = per_step * 80 * (1 if phase == "forward" else 3)
    assert speed.matmul_flops(kind, size, phase) == expected


def test_torch_runs_with_subnormals_flushed_to_zero_as_tensorflow_does():
    """A subnormal input through a one-unit RNN (tanh(x k) = x k for tiny x): zero in
    TensorFlow's kernels and in the bench's PyTorch case, kept by PyTorch's default."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional)")
    size = {"input": 1, "units": 1, "layers": 1}
    weights = [[np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32),
                np.zeros(1, np.float32)]]
    try:
        # Off first: an earlier PyTorch case in this process turned it on, and it
        # flushes NumPy's float32 conversion on this thread too.
        torch.set_flush_denormal(False)
        x = np.full((1, 1, 1), 1e-39, np.float32)  # subnormal: below float32's 1.18e-38
        assert torch.nn.functional.linear(torch.from_numpy(x[0]), torch.ones(1, 1)).item() > 0
        forward, _ = other_kernels.torch_stack("simple", size, weights, learning_rate=1e-3)
        assert forward(x).item() == 0.0
        assert tf.matmul(x[0], tf.ones([1, 1])).numpy().item() == 0.0
    finally:
        torch.set_flush_denormal(False)


def _script(name):
    import importlib.util  # noqa: PLC0415
    import os  # noqa: PLC0415

    root = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir)
    path = os.path.join(root, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("compilation", ["lowlevel", "grappler", "eager"],
                         ids=["lowlevel-compiled", "tf-function", "eager"])
def test_loop_choice_times_loops_that_compute_what_keras_computes(compilation):
    """``benchmarks/loop_choice.py``: every loop it times, compiled as lowlevel compiles,
    by plain ``tf.function`` (``--grappler``) or not at all (``--eager``), starts from
    Keras's first loss."""
    loop_choice = _script("loop_choice")
    losses = {}
    for loop in ("keras", *loop_choice.LOOPS, "cells"):
        forward, train_step, x, target = loop_choice.build(
            "lstm", loop, SIZE, "sgd", grappler=compilation == "grappler",
            eager=compilation == "eager")
        by_lowlevel = compilation == "lowlevel" and loop != "keras"
        by_tf_function = compilation == "grappler" or (compilation == "lowlevel"
                                                       and loop == "keras")
        assert isinstance(train_step, lowlevel.compiled.Function) is by_lowlevel
        assert isinstance(train_step, tf.types.experimental.PolymorphicFunction) is \
            by_tf_function
        losses[loop] = train_step(x, target).numpy()
    for loop in (*loop_choice.LOOPS, "cells"):
        assert_close(losses[loop], losses["keras"], tf.float32, f"{loop} first loss")


def test_first_step_times_the_experiments_step_on_a_batch_of_the_model():
    """``benchmarks/first_step.py``: the step it times is the experiment's, on the
    seeded model: its loss is that model's loss on the batch (dropout off)."""
    import keras  # noqa: PLC0415

    from lowlevel.apps.experiment import run as experiment  # noqa: PLC0415
    from lowlevel.apps.experiment.config import ExperimentConfig  # noqa: PLC0415
    from lowlevel.train import binary_cross_entropy  # noqa: PLC0415

    changes = dict(num_words=50, maxlen=5, batch_size=8, units=4, embedding_dim=4,
                   dropout=0.0)
    result = _script("first_step").measure("gru", "cell", **changes)
    assert result["seconds"] > 0
    config = ExperimentConfig(cell="gru", style="cell", out="unused", **changes)
    keras.utils.set_random_seed(config.seed)
    model = experiment.build_model(config)
    rng = np.random.default_rng(config.seed)
    ids = rng.integers(1, 50, (8, 5)).astype(np.int32)
    labels = rng.integers(0, 2, 8).astype(np.int32)
    expected = binary_cross_entropy(model(ids), labels)
    assert_close(result["loss"], expected, tf.float32, "the timed step's loss")


def test_loop_choice_xla_twins_compute_what_their_uncompiled_cases_compute():
    """``loop_choice.py --xla``: a case compiled whole by XLA gives its own first loss."""
    loop_choice = _script("loop_choice")
    for loop in ("keras", "fast"):
        case = loop_choice.build("lstm", loop, SIZE, "sgd")
        expected = case[1](case[2], case[3]).numpy()
        twin = loop_choice._jit_compiled(loop_choice.build("lstm", loop, SIZE, "sgd"))
        assert_close(twin[1](twin[2], twin[3]).numpy(), expected, tf.float32,
                     f"{loop} under XLA, first loss")


def test_profile_step_groups_ops_by_part_of_the_step_and_kind():
    profile_step = _script("profile_step")
    assert profile_step.kind_of("MatMul") == "matmul"
    assert profile_step.kind_of("_MklMatMul") == "matmul"  # oneDNN's, where it is on
    assert profile_step.kind_of("TensorListPushBack") == "loop"
    assert profile_step.kind_of("SigmoidGrad") == "elementwise"
    assert profile_step.kind_of("Transpose") == "other"
    assert profile_step.part_of("forward/PartitionedCall/MatMul") == "forward"
    # The gradient is named by the scope it was asked in, not by the update's.
    assert profile_step.part_of("backward/PartitionedCall_3/gradients/split_grad/concat") \
        == "backward"
    assert profile_step.part_of("gradient_tape/forward/lstm/while/while_grad/body/_1/mul") \
        == "backward"
    assert profile_step.part_of("update/rm_sprop/Sqrt") == "update"
    assert profile_step.part_of("ReadVariableOp") == "other"
    assert profile_step._is_op("while/MatMul:MatMul")
    assert not profile_step._is_op("ExecutorState::Process")
    assert not profile_step._is_op("Run: __inference_train_step_1")


def test_profile_step_shares_sum_to_one_by_part_and_by_kind():
    profile_step = _script("profile_step")
    times = {("forward/MatMul", "_MklMatMul"): 3.0, ("backward/concat", "ConcatV2"): 1.0,
             ("update/sub", "Sub"): 0.5, ("ReadVariableOp", "ReadVariableOp"): 0.5}
    summary = profile_step.summarise(times, steps=2)
    assert summary["op_seconds_per_step"] == pytest.approx(2.5)
    assert summary["parts"] == {"forward": 0.6, "backward": 0.2, "update": 0.1, "other": 0.1}
    assert summary["kinds"] == {"matmul": 0.6, "elementwise": 0.3, "other": 0.1}
    assert summary["parts_and_kinds"]["backward/elementwise"] == 0.2


def test_transposed_matmul_chains_compute_the_same_product_as_numpy():
    """``benchmarks/transposed_matmul.py`` times two forms of one computation."""
    transposed_matmul = _script("transposed_matmul")
    forms, (dz, u) = transposed_matmul.chains(batch=3, units=2, steps=3)
    expected = np.zeros([3, 2], np.float32)
    for _ in range(3):
        expected = (dz.numpy() + expected[:, :1]) @ u.numpy().T
    assert sorted(forms) == ["pretransposed", "transpose_b"]
    for name, form in forms.items():
        assert_close(form(dz, u).numpy(), expected, tf.float32, name)


def test_half_batch_chains_compute_the_same_steps_as_numpy():
    """``benchmarks/half_batches.py`` times two forms of one computation."""
    half_batches = _script("half_batches")
    forms, (h, u) = half_batches.chains(batch=4, units=2, steps=3)
    expected = h.numpy()
    for _ in range(3):
        expected = np.tanh(expected @ u.numpy())[:, :2]
    assert sorted(forms) == ["one_batch", "two_halves"]
    for name, form in forms.items():
        assert_close(form(h, u).numpy(), expected, tf.float32, name)


def test_loop_choice_batch_overrides_the_sizes_batch():
    """``loop_choice.py --batch``: the cases are built at that batch, the rest of the size
    kept."""
    loop_choice = _script("loop_choice")
    for loop in ("keras", "auto"):
        _, train_step, x, target = loop_choice.build("gru", loop, SIZE, "sgd", batch=3)
        size = speed.SIZES[SIZE]
        assert x.shape == (3, size["time"], size["input"]) and target.shape[0] == 3
        assert np.isfinite(train_step(x, target).numpy())


@pytest.mark.parametrize("kind", speed.KINDS)
@pytest.mark.parametrize("size", ["quick", "tutorial", "large"])
def test_matmul_floor_forms_the_flops_the_bench_counts_for_a_training_step(kind, size):
    """``benchmarks/matmul_floor.py``: its products are three times the forward's work,
    as ``speed.matmul_flops`` counts a training step, six per layer and time step."""
    matmul_floor = _script("matmul_floor")
    resolved = speed.resolve_size(size)
    operands, listed = matmul_floor.products(kind, resolved)
    assert len(listed) == 6 * resolved["layers"] * resolved["time"]
    assert matmul_floor.flops(operands, listed) == pytest.approx(
        speed.matmul_flops(kind, resolved, "train_step"), rel=1e-12)


def test_matmul_floor_traces_every_product_apart():
    """No two products on the same pair of operands (the runtime would merge them), none
    left out of the traced function."""
    from traced_graphs import count, nodes  # noqa: PLC0415

    matmul_floor = _script("matmul_floor")
    operands, listed = matmul_floor.products("lstm", speed.resolve_size(SIZE))
    assert len(set(listed)) == len(listed)
    fn, tensors = matmul_floor.floor_case(operands, listed)
    assert fn(tensors).numpy() == 0.0
    graph = nodes(fn.get_concrete_function(tensors))
    weight_gradients = sum(t for _, _, t in listed)
    assert count(graph, "MatMul", transpose_a=True) == weight_gradients
    assert count(graph, "MatMul", transpose_a=False) == len(listed) - weight_gradients
