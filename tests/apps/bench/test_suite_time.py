"""``benchmarks/suite_time.py``: the suite's time over the tests both reports hold, matched
by module name and test id, wherever the module moved."""

import importlib.util
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir)


@pytest.fixture(scope="module")
def suite_time():
    spec = importlib.util.spec_from_file_location(
        "suite_time", os.path.join(ROOT, "benchmarks", "suite_time.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(path, cases):
    """A JUnit XML report of ``[(classname, name, seconds, skipped)]``."""
    rows = "".join(
        f'<testcase classname="{c}" name="{n}" time="{t}">'
        + ("<skipped/>" if s else "") + "</testcase>" for c, n, t, s in cases)
    path.write_text(f'<testsuites><testsuite name="pytest">{rows}</testsuite></testsuites>')
    return str(path)


def test_tests_in_both_are_matched_across_moved_modules_and_summed(suite_time, tmp_path):
    old = _report(tmp_path / "old.xml", [
        ("tests.test_parity", "test_a[cpu]", 2.0, False),
        ("tests.test_parity", "test_b", 1.0, False),
        ("tests.test_gone", "test_c", 4.0, False),
        ("tests.test_parity", "test_skipped", 9.0, True)])
    new = _report(tmp_path / "new.xml", [
        ("tests.parity.test_parity", "test_a[cpu]", 1.5, False),   # moved to a package
        ("tests.parity.test_parity", "test_b", 1.5, False),
        ("tests.parity.test_parity", "test_skipped", 9.0, True),
        ("tests.loops.test_new", "test_d", 7.0, False)])
    result = suite_time.compare(suite_time.test_times(old), suite_time.test_times(new))
    assert (result["old_tests"], result["new_tests"], result["matched"]) == (4, 4, 3)
    assert result["old_matched"] == pytest.approx(3.0)    # skipped tests count 0
    assert result["new_matched"] == pytest.approx(3.0)
    assert (result["old_only"], result["new_only"]) == (pytest.approx(4.0), pytest.approx(7.0))
    assert result["by_module"]["test_parity"] == [pytest.approx(3.0), pytest.approx(3.0)]


def test_the_report_prints_the_ratio_of_the_tests_in_both(suite_time, tmp_path, capsys):
    old = _report(tmp_path / "old.xml", [("tests.test_x", "test_a", 4.0, False)])
    new = _report(tmp_path / "new.xml", [("tests.x.test_x", "test_a", 3.0, False),
                                         ("tests.x.test_x", "test_b", 5.0, False)])
    suite_time.main([old, new])
    out = capsys.readouterr().out
    assert "the tests in both: old 4 s, new 3 s (new / old = 0.750)" in out
    assert "only in new: 1 tests, 5 s" in out
