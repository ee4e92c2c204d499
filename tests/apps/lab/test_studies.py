"""The gradient lab's plumbing: the CLI writes its files, and they hold the instruments' numbers.

Tiny sizes throughout (4 units, T = 8, a few steps): these tests check the code path and
the bookkeeping; the studies' findings are asserted in ``test_gradient_targets.py``.
"""

import argparse
import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from lowlevel import clipping, gradients, optimizers
from lowlevel.apps.lab import cli as cli_gradients
from lowlevel.apps.data.tasks import adding_problem
from lowlevel.apps.lab.regression import SequenceRegressor
from lowlevel.apps.lab import _output, clipping as clip_study, flow
from lowlevel.apps.lab.training import (GradientLog, make_regression_step, train_regressor,
                                       variable_names)
from lowlevel.train import Clip

TINY = ["--quick", "--steps", "4", "--time-steps", "10", "--units", "4", "--batch", "4",
        "--cells", "simple", "gru", "--seeds", "2"]


def _parse(argv):
    parser = argparse.ArgumentParser(prog="lowlevel")
    cli_gradients.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``lowlevel gradients all`` at tiny sizes, run once for the module."""
    out = tmp_path_factory.mktemp("lab")
    assert cli_gradients.run(_parse(["gradients", "all", "--out", str(out), *TINY,
                                     "--tensorboard"])) == 0
    return out


def test_cli_all_writes_pngs_csvs_npz_and_markdown_reports(lab):
    for png in ("flow.png", "flow_rates.png", "clipping.png", "memory.png",
                "memory_dynamics.png", "cliff.png", "init.png"):
        assert (lab / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (lab / png).stat().st_size < 200_000
    for study in ("flow", "clipping", "memory", "cliff", "init"):
        assert _output.read_csv(lab / f"{study}.csv")
        assert f"]({study}.png)" in (lab / f"{study}.md").read_text()  # the plot, linked
    for npz in ("flow.npz", "clipping.npz", "memory_record.npz", "cliff.npz", "init.npz"):
        assert np.load(lab / npz).files
    report = (lab / "report.md").read_text()
    for title in ("## Gradient flow", "## Clipping", "## Which cell", "## The cliff",
                  "## Initialisations"):
        assert title in report
    assert (f"Made by `lowlevel gradients all --out {lab} --quick --tensorboard --steps 4 "
            "--time-steps 10 --cells simple gru --units 4 --batch 4 --seeds 2`") in report


def test_cli_size_flags_reach_every_study(lab):
    flow_rows = _output.read_csv(lab / "flow.csv")
    assert {r["cell"] for r in flow_rows} == {"simple", "gru"}
    assert {int(r["time_steps"]) for r in flow_rows} == {10}
    assert {r["seed"] for r in flow_rows} == {"0", "1"}
    assert len(flow_rows) == 2 * 3 * 2 * 2  # cells x quick radii x regimes x seeds
    memory_rows = _output.read_csv(lab / "memory.csv")
    assert {(r["task"], r["cell"], r["time_steps"], r["steps"]) for r in memory_rows} == \
        {(t, c, "10", "4") for t in ("adding", "copy", "order") for c in ("simple", "gru")}
    assert len(memory_rows) == 3 * 2 * 2
    clip_rows = _output.read_csv(lab / "clipping.csv")
    assert {r["setting"] for r in clip_rows} == {
        "none", "value 1×typ", "norm 1×typ", "global_norm 1×typ", "global_norm 1"}
    assert {float(r["learning_rate"]) for r in clip_rows} == {1e-3, 1e-2}
    init_rows = _output.read_csv(lab / "init.csv")  # --cells keeps simple and gru variants
    assert {(r["cell"], r["init"]) for r in init_rows} == {
        ("simple", "orthogonal"), ("simple", "glorot"), ("simple", "irnn"),
        ("gru", "update0"), ("gru", "update1"), ("gru", "chrono")}
    assert len(init_rows) == 6 * 2 and {r["time_steps"] for r in init_rows} == {"10"}


def test_cli_rejects_a_non_positive_size_with_its_value():
    with pytest.raises(SystemExit):
        _parse(["gradients", "flow", "--out", "x", "--steps", "0"])
    with pytest.raises(SystemExit):
        _parse(["gradients", "clipping", "--out", "x", "--learning-rates", "-1"])


def test_cli_rejects_a_bad_clip_naming_it(tmp_path):
    with pytest.raises(SystemExit, match="`--clip` must be 'none' or MODE:THRESHOLD"):
        cli_gradients.run(_parse(["gradients", "memory", "--out", str(tmp_path),
                                  "--clip", "global_norm:x"]))


def test_flow_csv_equals_state_gradient_norms_and_jacobian_product_norms(lab):
    config = flow.FlowConfig(cells=("simple", "gru"), units=4, time_steps=10, batch=4)
    curves = _output.read_csv(lab / "flow_norms.csv")
    rows = _output.read_csv(lab / "flow.csv")
    for cell, radius, regime, scale in [("simple", 0.5, "linear", 0.01),
                                        ("gru", 1.5, "saturated", 1.0)]:
        layer = flow.flow_layer(cell, radius, config)
        x = flow.flow_inputs(scale, config)
        direct = gradients.state_gradient_norms(layer, x, lambda y: tf.reduce_sum(y))
        written = [float(c["norm"]) for c in curves if c["cell"] == cell and c["seed"] == "0"
                   and c["regime"] == regime and float(c["radius"]) == radius]
        np.testing.assert_allclose(written, direct[::-1], rtol=1e-12)  # by distance
        products = gradients.jacobian_product_norms(layer.cell, x).mean(axis=1)  # [T]
        rate = np.exp(np.polyfit(np.arange(1, 11), np.log(products), 1)[0])
        row = next(r for r in rows if r["cell"] == cell and r["regime"] == regime
                   and float(r["radius"]) == radius and r["seed"] == "0")
        np.testing.assert_allclose(float(row["jacobian_product_rate"]), rate, rtol=1e-9)
        np.testing.assert_allclose(float(row["ratio"]), direct[0] / direct[-1], rtol=1e-12)
    saved = np.load(lab / "flow.npz")
    assert saved["norms_h"].shape == (len(rows), 10)
    assert np.all(np.isnan(saved["norms_c"]))  # no LSTM among the cells


def test_clipping_csv_first_global_norm_equals_the_tape_gradient_norm(lab):
    config = clip_study.ClipConfig(units=4, time_steps=10, batch=4, steps=4)
    model = clip_study.exploding_model(config)
    x, y = adding_problem(4, 10, seed=[0, 0])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    norm = clipping.global_norm(tape.gradient(loss, model.variables_in_order))
    steps = _output.read_csv(lab / "clipping_steps.csv")
    first = next(s for s in steps if s["setting"] == "none" and s["step"] == "0"
                 and s["seed"] == "0" and float(s["learning_rate"]) == 1e-3)
    np.testing.assert_allclose(float(first["global_norm"]), norm.numpy(), rtol=1e-5)
    np.testing.assert_allclose(float(first["loss"]), loss.numpy(), rtol=1e-5)
    saved = np.load(lab / "clipping.npz")
    assert saved["loss"].shape == (len(_output.read_csv(lab / "clipping.csv")), 4)


def test_comparable_clip_thresholds_scale_by_root_tensor_and_element_counts():
    model = clip_study.exploding_model(clip_study.ClipConfig(units=4))
    sizes = [int(np.prod(v.shape)) for v in model.variables_in_order]  # 5 tensors
    assert clip_study.comparable_clip("norm", 10.0, model).threshold == \
        pytest.approx(10.0 / np.sqrt(len(sizes)))
    assert clip_study.comparable_clip("value", 10.0, model).threshold == \
        pytest.approx(10.0 / np.sqrt(sum(sizes)))


def test_memory_record_npz_holds_checkpoint_by_time_arrays(lab):
    saved = np.load(lab / "memory_record.npz")
    grad_h = saved["memory_adding_gru_T10_s0/grad_h"]
    assert grad_h.shape == (3, 10)  # quick: 3 checkpoints, T = 10
    assert saved["memory_adding_gru_T10_s0/step"].tolist() == [0, 2, 3]


def test_tensorboard_event_files_hold_the_logged_scalars(lab):
    runs = sorted(p.name for p in (lab / "tensorboard").iterdir())
    assert "clipping_global_norm_1_lr0.01_s0" in runs and "memory_adding_gru_T10_s0" in runs
    tags = set()
    for run in ("clipping_global_norm_1_lr0.01_s0", "memory_adding_gru_T10_s0"):
        events = list((lab / "tensorboard" / run).glob("events.out.tfevents.*"))
        for record in tf.data.TFRecordDataset([str(e) for e in events]):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags |= {v.tag for v in event.summary.value}
    assert {"loss", "grad/global_norm", "grad/clipped", "grad/rnn",
            "grad/rnn/recurrent_kernel", "grad/head/kernel", "record/grad_ratio",
            "record/sigma_max/h", "record/update_mean"} <= tags


# ------------------------------------------------------------------ GradientLog, step
def _model():
    return SequenceRegressor("simple", units=4, input_dim=2, seed=3)


def test_regression_step_reports_pre_clip_norms_and_whether_clipping_acted():
    model = _model()
    x, y = adding_problem(4, 6, seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.variables_in_order)
    expected = [np.linalg.norm(g.numpy()) for g in grads]
    step = make_regression_step(model, optimizers.SGD(0.0), Clip("global_norm", 1e-3))
    out = step(tf.constant(x), tf.constant(y))
    np.testing.assert_allclose(out["norms"].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(out["global_norm"].numpy(), np.linalg.norm(expected), rtol=1e-5)
    assert bool(out["clipped"].numpy())


def test_gradient_log_csv_has_step_loss_norms_and_clipped_columns(tmp_path):
    model = _model()
    log = train_regressor(model, optimizers.SGD(0.01),
                          lambda i: adding_problem(4, 6, seed=i), steps=3,
                          clip=Clip("norm", 0.01))
    log.write_csv(tmp_path / "metrics.csv")
    with open(tmp_path / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["step", "loss", "global_norm", "clipped", "norm/rnn",
                                 "norm/head", "norm/rnn/kernel", "norm/rnn/recurrent_kernel",
                                 "norm/rnn/bias", "norm/head/kernel", "norm/head/bias"]
    assert [r["step"] for r in rows] == ["0", "1", "2"]
    row = log.rows[0]  # a layer's norm is the root of its variables' squared norms
    np.testing.assert_allclose(row["norm/rnn"] ** 2, sum(
        row[f"norm/rnn/{v}"] ** 2 for v in ("kernel", "recurrent_kernel", "bias")))
    np.testing.assert_allclose(row["global_norm"] ** 2,
                               row["norm/rnn"] ** 2 + row["norm/head"] ** 2, rtol=1e-5)
    log.write_json(tmp_path / "metrics.json")
    assert json.loads((tmp_path / "metrics.json").read_text())["columns"] == reader.fieldnames


def test_gradient_log_writes_tensorboard_events_and_refuses_wrong_norm_count(tmp_path):
    log = GradientLog(["rnn/kernel", "head/bias"], tensorboard_dir=tmp_path / "tb")
    log.record(0, 1.0, 5.0, [3.0, 4.0], True)
    log.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert log.rows[0]["norm/rnn"] == 3.0 and log.rows[0]["clipped"] is True
    with pytest.raises(ValueError, match="one norm per variable \\(2\\); received 3"):
        log.record(1, 1.0, 5.0, [1.0, 2.0, 3.0], False)


def test_variable_names_follow_the_step_order():
    assert variable_names(_model()) == ["rnn/kernel", "rnn/recurrent_kernel", "rnn/bias",
                                        "head/kernel", "head/bias"]
