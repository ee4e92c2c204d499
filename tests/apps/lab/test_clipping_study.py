"""The clipping figure's per-step norm panels draw the logged pre-clip global norms and
each run's threshold, and a diverged run ends where the CSV's log ends."""

import numpy as np
import pytest

from lowlevel.apps.lab import _output, clipping, clipping_plots

# lr 10 diverges unclipped within a few steps; lr 1e-3 does not.
CONFIG = clipping.ClipConfig(units=4, time_steps=10, batch=4, steps=6, seeds=1,
                             learning_rates=(1e-3, 10.0), modes=("global_norm",),
                             relative=(1.0,), absolute=(1.0,), calibration_steps=3)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("clipping")
    return out, clipping.run(out, CONFIG)


def test_norm_panels_draw_the_csv_pre_clip_norms_and_the_thresholds(study):
    out, result = study
    csv_steps = _output.read_csv(out / "clipping_steps.csv")
    csv_runs = _output.read_csv(out / "clipping.csv")
    settings = ["none", "global_norm 1×typ", "global_norm 1"]
    for lr in CONFIG.learning_rates:
        series = clipping_plots.norm_series(result["rows"], result["steps"], settings, lr,
                                            CONFIG.seed)
        assert [s["setting"] for s in series] == settings
        for s in series:
            logged = [float(r["global_norm"]) for r in csv_steps if r["setting"] == s["setting"]
                      and float(r["learning_rate"]) == lr]
            np.testing.assert_array_equal(s["global_norm"], logged)
            np.testing.assert_array_equal(s["step"], np.arange(len(logged)))
            run = next(r for r in csv_runs if r["setting"] == s["setting"]
                       and float(r["learning_rate"]) == lr)
            assert s["diverged"] == (run["diverged"] == "True")
            assert int(run["steps_run"]) == len(logged)
            if s["setting"] == "none":
                assert s["threshold"] is None and run["global_threshold"] == ""
            else:
                assert s["threshold"] == pytest.approx(float(run["global_threshold"]))
    typical = result["rows"][0]["typical_norm"]
    thresholds = {s["setting"]: s["threshold"] for s in series}
    assert thresholds["global_norm 1×typ"] == pytest.approx(typical)
    assert thresholds["global_norm 1"] == 1.0


def test_unclipped_run_at_a_huge_rate_diverges_and_its_norms_stop_there(study):
    _, result = study
    none = clipping_plots.norm_series(result["rows"], result["steps"], ["none"], 10.0,
                                      CONFIG.seed)[0]
    assert none["diverged"] and len(none["step"]) <= CONFIG.steps
    clipped = clipping_plots.norm_series(result["rows"], result["steps"], ["global_norm 1"],
                                         10.0, CONFIG.seed)[0]
    # the pre-clip norm is logged, not the clipped one: it exceeds the threshold
    assert np.nanmax(clipped["global_norm"]) > clipped["threshold"]


def test_npz_holds_the_same_per_step_norms_as_run_by_step_arrays(study):
    out, result = study
    saved = np.load(out / "clipping.npz")
    for i, row in enumerate(result["rows"]):
        series = clipping_plots.norm_series(result["rows"], result["steps"], [row["setting"]],
                                            row["learning_rate"], row["seed"])[0]
        n = len(series["global_norm"])
        np.testing.assert_array_equal(saved["global_norm"][i, :n], series["global_norm"])
        assert np.all(np.isnan(saved["global_norm"][i, n:]))
    assert (out / "clipping.png").read_bytes()[:4] == b"\x89PNG"
