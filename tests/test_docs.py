"""Every ```python block of README.md and docs/*.md runs, so a block that stops working fails.

Each file's blocks run in order in one namespace (a later block may use an earlier
block's names), in a fresh Python process whose working directory is a temporary
folder. Fences other than ```python (```sh, ```text, ...) are shown, not run. A failing
block reports its own file and line: the code is compiled with the Markdown's line
numbers.
"""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(markdown: str) -> list[tuple[int, str]]:
    """``[(first code line, code)]`` of the fenced blocks whose info string is ``python``."""
    blocks, fence, language, start, lines = [], None, None, 0, []
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if fence is None:
            if stripped.startswith(("```", "~~~")):
                fence = stripped[:3]
                language, start, lines = stripped[3:].strip().split(" ")[0], number + 1, []
        elif stripped.startswith(fence) and stripped.strip(fence[0]) == "":
            if language == "python":
                blocks.append((start, "\n".join(lines)))
            fence = None
        else:
            lines.append(line)
    return blocks


def _program(path: pathlib.Path) -> str:
    """One script: the blocks in order, each at its Markdown line numbers."""
    parts = []
    for start, code in python_blocks(path.read_text(encoding="utf-8")):
        parts.append(f"exec(compile({chr(10) * (start - 1) + code!r}, {str(path)!r}, 'exec'))")
    return "\n".join(parts) + "\n"


def test_python_blocks_are_fenced_python_and_nothing_else():
    markdown = "\n".join([
        "text", "```python", "a = 1", "```", "```sh", "make test", "```",
        "```", "plain", "```", "```python", "b = a + 1", "", "c = b", "```"])
    assert python_blocks(markdown) == [(3, "a = 1"), (12, "b = a + 1\n\nc = b")]


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if python_blocks(d.read_text())],
                         ids=lambda d: str(d.relative_to(ROOT)))
def test_every_python_block_of_the_document_runs_in_order(document, tmp_path):
    script = tmp_path / "blocks.py"
    script.write_text(_program(document), encoding="utf-8")
    env = {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    tail = "\n".join(done.stderr.strip().splitlines()[-15:])
    assert done.returncode == 0, f"{document.relative_to(ROOT)}:\n{tail}"


def test_the_front_door_and_the_tutorials_have_blocks_to_run():
    for name in ("README.md", "docs/tutorial.md", "docs/tutorial.zh.md"):
        assert python_blocks((ROOT / name).read_text(encoding="utf-8")), name


def test_every_relative_link_of_the_documents_points_to_a_file_that_exists():
    broken = []
    for document in DOCUMENTS:
        # Code is not prose: `signatures["x"](ids=ids)` in a block is a call, not a link.
        prose = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", prose):
            if not target.startswith(("http://", "https://", "mailto:")) \
                    and not (document.parent / target).exists():
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert not broken, broken


# A file of this repository named in a document or a docstring, e.g. `tests/layers/x.py`
# or `lowlevel/update_rules.py::sgd_step`: a reader follows it, so it must exist.
_REPO_PATH = re.compile(
    r"\b((?:tests|lowlevel|docs|benchmarks|reference)/[\w./-]*\w\.(?:py|md|png))(?:::(\w+))?")


def _texts_naming_files():
    yield from DOCUMENTS
    yield ROOT / "benchmarks" / "README.md"
    for package in ("lowlevel", "reference", "benchmarks"):
        yield from sorted((ROOT / package).rglob("*.py"))


def test_every_repository_file_the_documents_and_docstrings_name_exists():
    missing = []
    for text in _texts_naming_files():
        for number, line in enumerate(text.read_text(encoding="utf-8").splitlines(), 1):
            for path, name in _REPO_PATH.findall(line):
                target = ROOT / path
                if not target.exists() or (name and not re.search(
                        rf"^\s*(?:def|class) {name}\b", target.read_text(encoding="utf-8"),
                        flags=re.M)):
                    missing.append(f"{text.relative_to(ROOT)}:{number}: {path}"
                                   + (f"::{name}" if name else ""))
    assert not missing, "\n".join(missing)
