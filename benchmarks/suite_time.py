"""The test suite's time, old against new, over the tests both have.

A suite that grows takes longer whatever the code does, so two ``make test`` totals do not
say whether a change made the tests slower. This compares two JUnit XML reports test by
test: a test of the old suite is matched to the new one's test of the same module name and
test id (the module may have moved to another folder), and the time of the matched tests
(setup, call and teardown, as pytest reports it) is summed on each side::

    pytest -n auto --maxprocesses 4 --junitxml=old.xml      # at the old commit
    pytest -n auto --maxprocesses 4 --junitxml=new.xml      # at the new one
    python benchmarks/suite_time.py old.xml new.xml

Run both suites one after the other on the same quiet machine; docs/testing.md has a
measured pair.
"""

from __future__ import annotations

import argparse
import collections
import xml.etree.ElementTree as ET


def test_times(path: str) -> dict[tuple[str, str], float]:
    """``{(module name, test id): seconds}`` of a JUnit XML report; skipped tests count 0."""
    times = collections.defaultdict(float)
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        modules = [part for part in module if part.startswith("test_")] or module
        skipped = case.find("skipped") is not None
        times[(modules[-1], case.get("name", ""))] += 0.0 if skipped else float(case.get("time", 0))
    return dict(times)


def compare(old: dict, new: dict) -> dict:
    """Counts and summed seconds: both suites, the matched tests, each side's own."""
    matched = old.keys() & new.keys()
    by_module = collections.defaultdict(lambda: [0.0, 0.0])
    for key in matched:
        by_module[key[0]][0] += old[key]
        by_module[key[0]][1] += new[key]
    return {
        "old_tests": len(old), "new_tests": len(new), "matched": len(matched),
        "old_total": sum(old.values()), "new_total": sum(new.values()),
        "old_matched": sum(old[k] for k in matched), "new_matched": sum(new[k] for k in matched),
        "old_only": sum(t for k, t in old.items() if k not in matched),
        "new_only": sum(t for k, t in new.items() if k not in matched),
        "by_module": dict(by_module),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="JUnit XML report of the old suite")
    parser.add_argument("new", help="JUnit XML report of the new suite")
    parser.add_argument("--modules", type=int, default=10,
                        help="how many modules to list whose matched time grew most")
    args = parser.parse_args(argv)
    r = compare(test_times(args.old), test_times(args.new))
    print(f"tests: old {r['old_tests']}, new {r['new_tests']}, in both {r['matched']}")
    print(f"summed test time: old {r['old_total']:.0f} s, new {r['new_total']:.0f} s")
    print(f"the tests in both: old {r['old_matched']:.0f} s, new {r['new_matched']:.0f} s "
          f"(new / old = {r['new_matched'] / r['old_matched']:.3f})")
    print(f"only in old: {r['old_tests'] - r['matched']} tests, {r['old_only']:.0f} s; "
          f"only in new: {r['new_tests'] - r['matched']} tests, {r['new_only']:.0f} s")
    grew = sorted(r["by_module"].items(), key=lambda item: item[1][0] - item[1][1])
    print("modules whose tests in both grew most (old s -> new s):")
    for module, (old_s, new_s) in grew[:args.modules]:
        print(f"  {module:50s} {old_s:7.1f} -> {new_s:7.1f}")


if __name__ == "__main__":
    main()
