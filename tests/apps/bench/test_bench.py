"""``lowlevel bench`` and ``benchmarks/epoch_time.py`` at tiny sizes: what they report is what they measured."""

import json
import os
import sys

import numpy as np
import pytest

from lowlevel.apps import cli
from lowlevel.apps.bench import measure, report, speed
from lowlevel.apps.experiment import run as experiment

sys.path.insert(0, os.path.join(os.path.dirname(__file__), *[os.pardir] * 3, "benchmarks"))
import epoch_time  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = cli.main(["bench", "--quick", "--size", "quick", "--cells", "lstm",
                     "--implementations", "lowlevel,lowlevel_stacked", "--repeats", "3",
                     "--own-process", "lowlevel_stacked", "--out", str(out)])
    assert code == 0
    with open(out / "bench.json") as f:
        return out, json.load(f)


def test_bench_rows_cover_every_selected_kind_phase_and_implementation(quick_run):
    _, result = quick_run
    got = {(r["kind"], r["phase"], r["implementation"]) for r in result["rows"]}
    assert got == {("lstm", p, i) for p in speed.PHASES
                   for i in ("keras_layer", "lowlevel", "lowlevel_stacked")}
    for row in result["rows"]:
        assert len(row["seconds"]) == 3 and all(s > 0 for s in row["seconds"])


def test_bench_ratio_is_baseline_median_over_median_and_baseline_is_one(quick_run):
    _, result = quick_run
    medians = {(r["kind"], r["phase"], r["implementation"]): r["median"]
               for r in result["rows"]}
    for row in result["rows"]:
        assert row["median"] == pytest.approx(float(np.median(row["seconds"])))
        base = medians[row["kind"], row["phase"], "keras_layer"]
        assert row["ratio"] == pytest.approx(base / row["median"])
        if row["implementation"] == "keras_layer":
            assert row["ratio"] == 1.0 and row["error"] == 0.0


def test_bench_gflops_is_matmul_flops_over_median_and_peak_fraction_uses_measured_peak(quick_run):
    _, result = quick_run
    assert result["peak_gflops"] > 0
    for row in result["rows"]:
        flops = speed.matmul_flops(row["kind"], row["shape"], row["phase"])
        assert row["gflops"] == pytest.approx(flops / row["median"] / 1e9)
        assert row["peak_fraction"] == pytest.approx(row["gflops"] / result["peak_gflops"])


def test_bench_first_results_agree_with_keras_within_float32_tolerance(quick_run):
    _, result = quick_run
    for row in result["rows"]:
        assert row["error"] < 1e-5, row


def test_bench_writes_json_with_environment_and_a_png(quick_run):
    out, result = quick_run
    env = result["environment"]
    for key in ("tensorflow", "keras", "numpy", "cpu", "cpu_count", "cpu_features",
                "tf_enable_onednn_opts", "inter_op_threads", "intra_op_threads"):
        assert key in env
    assert result["device"] in ("CPU", "GPU")
    assert (out / "bench.png").stat().st_size > 10_000


def test_bench_skips_what_this_machine_lacks_with_the_reason(quick_run):
    _, result = quick_run
    skipped = {(s["kind"], s["implementation"]): s["reason"] for s in result["skipped"]}
    assert all(impl != "lowlevel" for _, impl in skipped)
    table = report.format_table(result)
    assert "lstm   train_step lowlevel_stacked" in table


@pytest.mark.parametrize("argv, named", [
    (["--cells", "lstm,rnn"], "--cells"),
    (["--implementations", "keras"], "--implementations"),
    (["--phases", "backward"], "--phases"),
    (["--optimizer", "adam"], "--optimizer"),
    (["--own-process", "keras"], "--own-process"),
])
def test_bench_rejects_unknown_names_naming_the_flag(argv, named, capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--size", "quick", *argv])
    assert named in capsys.readouterr().err


def test_bench_rejects_a_nonpositive_size_in_one_line_naming_the_dimension(tmp_path, capsys):
    code = cli.main(["bench", "--size", "quick", "--batch", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("lowlevel bench: error: `size['batch']`"), err


def test_epoch_time_measures_both_sides_over_the_same_steps(tmp_path):
    config = experiment.ExperimentConfig(
        data="synthetic", num_train=300, num_test=1, batch_size=64, units=4,
        embedding_dim=4, num_words=500, maxlen=12, cell="gru", style="layer", out=str(tmp_path))
    result = epoch_time.measure(config, repeats=2)
    assert result["steps"] == 270 // 64
    assert all(len(result["seconds"][side]) == 2 for side in ("lowlevel", "keras"))
    assert result["ratio"] == pytest.approx(result["keras"] / result["lowlevel"])


def test_epoch_time_implementation_applies_to_the_layer_style_only():
    args = epoch_time.parse(["--implementation", "unrolled"])
    assert epoch_time.config_for(args, "lstm", "layer").implementation == "unrolled"
    default = experiment.ExperimentConfig(cell="lstm", style="cell", out="unused")
    assert (epoch_time.config_for(args, "lstm", "cell").implementation
            == default.implementation)
    assert epoch_time.config_for(epoch_time.parse([]), "gru", "layer").implementation \
        == default.implementation


def test_accuracy_table_reports_the_kept_epoch_and_skips_unfinished_runs(tmp_path, capsys):
    import accuracy_table

    def run(name, cell, glove, freeze, kept, test_accuracy, **scale):
        (tmp_path / name).mkdir()
        epochs = [{"epoch": e, "val_accuracy": 0.5 + e / 100, "seconds": 10.0 + e}
                  for e in (1, 2, 3)]
        metrics = {"config": {"cell": cell, "style": "layer", "glove": glove,
                              "freeze_embedding": freeze, **scale},
                   "epochs": epochs, "kept_epoch": kept, "test_accuracy": test_accuracy}
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))

    run("b", "gru", None, False, 2, 0.8123)
    run("d", "lstm", "g.txt", False, 1, 0.8402, glove_scale=0.1)
    run("e", "lstm", "g.txt", False, 2, 0.8222)  # older than --glove-scale: 1
    run("a", "lstm", "g.txt", True, 3, 0.7001, glove_scale=1.0)
    run("c", "lstm", None, False, 1, None)  # still training
    accuracy_table.main([str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()[2:]
    assert lines == ["| lstm | layer | GloVe, frozen | 3 | 3 | 0.5300 | 0.7001 | 12 s |",
                     "| lstm | layer | GloVe, fine-tuned | 3 | 2 | 0.5200 | 0.8222 | 12 s |",
                     "| lstm | layer | GloVe x0.1, fine-tuned | 3 | 1 | 0.5100 | 0.8402 | 12 s |",
                     "| gru | layer | trainable | 3 | 2 | 0.5200 | 0.8123 | 12 s |"]


def test_bench_cases_each_traced_once_are_not_reported_as_retracing(caplog):
    """Six cases share their closures' code; TensorFlow's detector (5 traces in 10 calls
    of one code object) must not take their single traces for retracing."""
    cases = [speed.build_case("simple", implementation, "quick")
             for implementation in ("lowlevel", "lowlevel_stacked", "lowlevel_unrolled",
                                    "lowlevel_reference", "lowlevel_bptt",
                                    "keras_cell_loop_function")]
    with caplog.at_level("WARNING", logger="tensorflow"):
        for case in cases:
            for phase in speed.PHASES:
                case.run(phase)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


# ------------------------------------------------- what the bench output lets a reader trust
def _result(rows, skipped=()):
    env = dict(tensorflow="2.x", keras="3.x", cpu="cpu", cpu_count=2, inter_op_threads=0,
               intra_op_threads=0)
    return dict(environment=env, device="CPU", peak_gflops=100.0, unreliable_spread=0.2,
                load_average={"start": [1.5, 1.0, 0.5], "end": [2.5, 1.2, 0.6]},
                sizes={"quick": speed.SIZES["quick"]}, rows=list(rows), skipped=list(skipped))


def _synthetic_row(impl, seconds, peak_fraction=0.5):
    median = float(np.median(seconds))
    q1, q3 = (float(q) for q in np.percentile(seconds, [25, 75]))
    return dict(size="quick", kind="lstm", phase="forward", implementation=impl,
                baseline="keras_layer", median=median, q1=q1, q3=q3, seconds=seconds,
                spread=measure.spread(seconds),
                unreliable=measure.spread(seconds) > measure.UNRELIABLE_SPREAD,
                ratio=1.0, gflops=peak_fraction * 100.0, peak_fraction=peak_fraction,
                first_call=1.0, error=0.0)


def test_spread_is_interquartile_range_over_median():
    seconds = [1.0, 2.0, 3.0, 4.0, 5.0]  # q1 2, median 3, q3 4
    assert measure.spread(seconds) == pytest.approx((4.0 - 2.0) / 3.0)


def test_bench_rows_are_flagged_unreliable_exactly_when_spread_exceeds_a_fifth(quick_run):
    _, result = quick_run
    for row in result["rows"]:
        spread = (row["q3"] - row["q1"]) / row["median"]
        assert row["spread"] == pytest.approx(spread)
        assert row["unreliable"] == (spread > 0.2)


def test_bench_records_the_machines_load_at_start_and_end(quick_run):
    _, result = quick_run
    load = result["load_average"]
    assert len(load["start"]) == 3 and len(load["end"]) == 3
    assert all(x >= 0 for x in load["start"] + load["end"])
    assert "load average (1, 5, 15 min)" in report.format_table(result)


def test_table_says_unreliable_machine_busy_on_a_row_with_wide_spread_only():
    steady = _synthetic_row("keras_layer", [1.0, 1.01, 1.02, 0.99, 1.0])
    busy = _synthetic_row("lowlevel", [1.0, 2.0, 1.0, 3.0, 1.5])
    table = report.format_table(_result([steady, busy]))
    lines = {line.split()[2]: line for line in table.splitlines()
             if line.startswith("lstm ")}
    assert "unreliable: machine busy" in lines["lowlevel"]
    assert "unreliable" not in lines["keras_layer"]
    assert "1 of 2 rows unreliable" in table


def test_table_shows_a_share_above_the_measured_peak_as_over_100_percent_and_explains_it():
    row = _synthetic_row("keras_layer", [1.0, 1.0, 1.0], peak_fraction=1.2)
    table = report.format_table(_result([row]))
    assert ">100%" in table and "120%" not in table
    assert "(*) faster than the matmul peak measured in this run" in table


def test_table_lists_each_skipped_implementation_once_with_its_reason():
    row = _synthetic_row("keras_layer", [1.0, 1.0, 1.0])
    skipped = [dict(size="quick", kind=kind, phase="forward", implementation="torch",
                    reason="PyTorch is not installed") for kind in ("lstm", "gru")]
    table = report.format_table(_result([row], skipped))
    assert "not run:\n  torch: PyTorch is not installed (2 cases)" in table


def test_ratio_error_bar_spans_baseline_quartiles_over_this_rows_quartiles():
    base = dict(q1=0.9, q3=1.1)
    row = dict(q1=0.45, q3=0.55)
    low, high = report.ratio_range(row, base)
    assert low == pytest.approx(0.9 / 0.55) and high == pytest.approx(1.1 / 0.45)


def test_every_implementation_has_a_colour_of_its_own():
    assert set(report.COLOURS) == set(speed.IMPLEMENTATIONS)
    assert len(set(report.COLOURS.values())) == len(report.COLOURS)


@pytest.mark.parametrize("start, end, busy", [
    ([1.5, 1.0, 0.5], [1.9, 1.2, 0.6], False),   # under 2 runnable processes on 2 cores
    ([2.5, 1.0, 0.5], [1.0, 1.0, 0.5], True),
    ([1.0, 1.0, 0.5], [3.0, 1.0, 0.5], True),
])
def test_table_warns_machine_busy_when_the_load_average_exceeds_the_cores(start, end, busy):
    result = _result([_synthetic_row("keras_layer", [1.0, 1.0, 1.0])])
    result["load_average"] = {"start": start, "end": end}
    assert ("MACHINE BUSY" in report.format_table(result)) == busy


def test_bench_times_the_first_training_step_in_a_process_of_its_own_where_asked(quick_run):
    _, result = quick_run
    for row in result["rows"]:
        own = row["first_call_own_process"]
        if row["phase"] == "train_step" and row["implementation"] == "lowlevel_stacked":
            assert own > 0
        else:
            assert own is None
    assert result["optimizer"] == "rmsprop"
    assert "own s" in report.format_table(result)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_bench_cases_train_with_the_optimizer_named_and_agree_with_keras(optimizer):
    """One step of each library's update from the same weights: the same loss, then the
    same second loss (the update itself agrees), for SGD as for RMSprop."""
    losses = {}
    for impl in ("keras_layer", "lowlevel_sequential"):
        case = speed.build_case("gru", impl, "quick", optimizer=optimizer)
        losses[impl] = [case.run("train_step") for _ in range(2)]
    for a, b in zip(losses["lowlevel_sequential"], losses["keras_layer"]):
        assert measure.scaled_error(a, b) < 1e-5
    assert losses["keras_layer"][1] != losses["keras_layer"][0]
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        speed.build_case("gru", "keras_layer", "quick", optimizer="adam")


def test_rotating_rounds_call_each_once_a_round_and_rotate_the_first():
    order = []
    seconds = measure.rotating_rounds({name: (lambda name=name: order.append(name))
                                       for name in "abc"}, repeats=4)
    assert order == list("abc" "bca" "cab" "abc")
    assert {name: len(s) for name, s in seconds.items()} == {"a": 4, "b": 4, "c": 4}
