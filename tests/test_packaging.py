"""The package's shape: the library never imports its applications, and every folder ships."""

import pathlib
import re
import tomllib

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
