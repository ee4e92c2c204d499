"""What every study writes: CSV rows, small PNGs (matplotlib, Agg), markdown tables."""

from __future__ import annotations

import csv
import math
import pathlib

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

DPI = 80  # keeps each PNG well under 200 KB


def out_dir(path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(path, rows, columns=None) -> None:
    """``rows``: a list of dicts with the same keys; ``columns`` fixes their order."""
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path) -> list:
    """Rows as dicts of strings (what :func:`write_csv` wrote)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def figure(rows, cols, width=4.0, height=3.0):
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows),
                             squeeze=False)
    return fig, axes


def save(fig, path, tight=True) -> None:
    if tight:  # a figure with a legend below its panels lays itself out first
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def fmt(value, digits=3) -> str:
    """A number for a markdown table: ``0.0123``, ``1.2e-07``, ``nan``, ``yes``, ``—``
    (``None``: not applicable)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(rows, columns, headers=None) -> str:
    """A markdown table of ``rows`` (dicts) restricted to ``columns``."""
    headers = headers or columns
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row[c]) for c in columns) + " |")
    return "\n".join(lines)
