"""``lowlevel bench`` and ``benchmarks/epoch_time.py`` at tiny sizes: what they report is what they measured."""

import json
import os
import sys

import numpy as np
import pytest

from lowlevel.apps.bench import cli as bench
from lowlevel.apps import cli
from lowlevel.apps.experiment import run as experiment
from lowlevel.apps.bench import speed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
import epoch_time  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = cli.main(["bench", "--quick", "--size", "quick", "--cells", "lstm",
                     "--implementations", "lowlevel,lowlevel_stacked", "--repeats", "3",
                     "--out", str(out)])
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
    for key in ("tensorflow", "keras", "numpy", "cpu", "cpu_count", "inter_op_threads",
                "intra_op_threads"):
        assert key in env
    assert result["device"] in ("CPU", "GPU")
    assert (out / "bench.png").stat().st_size > 10_000


def test_bench_skips_what_this_machine_lacks_with_the_reason(quick_run):
    _, result = quick_run
    skipped = {(s["kind"], s["implementation"]): s["reason"] for s in result["skipped"]}
    assert all(impl != "lowlevel" for _, impl in skipped)
    table = bench.format_table(result)
    assert "lstm   train_step lowlevel_stacked" in table


@pytest.mark.parametrize("argv, named", [
    (["--cells", "lstm,rnn"], "--cells"),
    (["--implementations", "keras"], "--implementations"),
    (["--phases", "backward"], "--phases"),
])
def test_bench_rejects_unknown_names_naming_the_flag(argv, named, capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--size", "quick", *argv])
    assert named in capsys.readouterr().err


def test_bench_rejects_a_nonpositive_size_naming_the_dimension(tmp_path):
    with pytest.raises(ValueError, match=r"size\['batch'\]"):
        cli.main(["bench", "--size", "quick", "--batch", "0", "--out", str(tmp_path)])


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
