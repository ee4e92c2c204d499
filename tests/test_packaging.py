"""The package's shape: the library never imports its applications, and every folder ships."""

import pathlib
import re
import subprocess
import sys

import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "lowlevel"


def test_the_library_never_imports_the_applications():
    offenders = []
    for path in LIBRARY.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[1] == "apps" or relative.name == "__main__.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(from|import) lowlevel\.apps\b|from lowlevel import .*\bapps\b", line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in LIBRARY.rglob("__init__.py")}
    found.add("lowlevel_reference")
    assert listed == found
    assert config["package-dir"] == {"lowlevel_reference": "reference"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("minor", [11, 12, 13])
def test_requires_python_admits_from_3_11_every_cpython_tensorflow_2_21_ships_wheels_for(minor):
    specifier = _pyproject()["project"]["requires-python"]
    assert specifier == ">=3.11,<3.14", specifier
    low, high = (int(part.split(".")[1]) for part in re.findall(r"3\.\d+", specifier))
    assert low <= minor < high


def test_licence_is_an_spdx_string_with_a_setuptools_that_reads_it():
    config = _pyproject()
    assert config["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in config["build-system"]["requires"]


def test_py_typed_marks_the_package_as_typed_and_ships_with_it():
    assert (LIBRARY / "py.typed").is_file()
    assert "py.typed" in _pyproject()["tool"]["setuptools"]["package-data"]["lowlevel"]


def test_importing_lowlevel_loads_no_tensorflow_until_a_name_is_used():
    code = ("import sys, lowlevel; before = 'tensorflow' in sys.modules; "
            "names = [getattr(lowlevel, n) for n in lowlevel.__all__]; "
            "print(before, 'tensorflow' in sys.modules, len(names))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr
    import lowlevel
    assert done.stdout.split() == ["False", "True", str(len(lowlevel.__all__))]


def test_an_unknown_name_is_an_attribute_error_naming_it():
    import lowlevel
    with pytest.raises(AttributeError, match="no attribute 'LSTMM'"):
        lowlevel.LSTMM  # noqa: B018
