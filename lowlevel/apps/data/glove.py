"""GloVe vectors (Pennington, Socher & Manning 2014) as an embedding matrix for IMDB ids.

File format, one word per line, values separated by single spaces::

    word v_1 v_2 ... v_D

read from ``.txt``, ``.txt.gz`` or ``.zip`` (``archive.zip::member.txt`` picks a member;
otherwise the first ``.txt`` member whose name contains ``{dim}d`` when ``dim`` is given,
else the first ``.txt`` member). The file is streamed line by line; only the vectors of
words in the vocabulary are kept.

Row convention -- the tutorial's ``embedding_matrix[i] = vector(word with index i)``,
with ``i`` the id that ``imdb.load`` emits for the word::

    i = word_index[word] + index_from      (kept when i < num_words)
    matrix[i] = GloVe vector of word        [num_words, dim] float32

Rows ``0 .. index_from`` hold no word (0 pad, 1 start, 2 oov, 3 unused: ranks start at
1) and stay zero, as do rows of words without a GloVe vector. With ``num_words=10000``
the matrix covers ranks 1..9996, the words ``imdb.load(num_words=10000)`` keeps.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zipfile
import zlib
from contextlib import contextmanager

import numpy as np

from lowlevel.apps.data.imdb import _int_at_least, check_word_index


@dataclasses.dataclass(frozen=True)
class CoverageReport:
    """How much of the vocabulary the GloVe file covers.

    ``words_in_vocab``: words with a row (``rank + index_from < num_words``);
    ``found`` of them have a vector, ``missing = words_in_vocab - found``;
    ``missing_examples``: the most frequent missing words (up to 10);
    ``coverage = found / words_in_vocab``; ``dim``: vector size; ``source``: file read;
    ``lines``: vector lines read.
    """

    words_in_vocab: int
    found: int
    missing: int
    missing_examples: tuple
    coverage: float
    dim: int
    source: str
    lines: int


def split_path(path) -> tuple:
    """``'a.zip::m.txt'`` -> ``('a.zip', 'm.txt')``; anything else -> ``(path, None)``."""
    path = os.fspath(path)
    if "::" in path:
        archive, member = path.split("::", 1)
        return archive, member
    return path, None


def choose_zip_member(names, archive: str, dim=None) -> str:
    """The member to read: the first ``.txt`` containing ``{dim}d`` if ``dim``, else the first ``.txt``."""
    texts = [n for n in names if n.endswith(".txt")]
    if dim is not None:
        texts = [n for n in texts if f"{dim}d" in os.path.basename(n)]
    if not texts:
        wanted = "a .txt member" + ("" if dim is None else f" with '{dim}d' in its name")
        raise ValueError(
            f"{archive}: expected {wanted}; received members {list(names)}. "
            f"Name one with '{archive}::member.txt'."
        )
    return texts[0]


@contextmanager
def open_lines(path, dim=None):
    """Yield ``(source_name, line iterator)`` for a .txt, .txt.gz or .zip GloVe file.

    Lines are ``bytes``: ``load`` decodes each as UTF-8 itself, so a bad byte is reported
    at its own line (a text wrapper would decode ahead, a buffer at a time).
    """
    filename, member = split_path(path)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"GloVe file not found: {filename!r}.")
    if filename.endswith(".zip"):
        with zipfile.ZipFile(filename) as archive:
            names = archive.namelist()
            if member is None:
                member = choose_zip_member(names, filename, dim)
            elif member not in names:
                raise ValueError(f"{filename}: no member {member!r}; received members {names}.")
            with archive.open(member) as raw:
                yield f"{filename}::{member}", raw
    elif filename.endswith(".gz"):
        with gzip.open(filename, "rb") as f:
            yield filename, f
    else:
        with open(filename, "rb") as f:
            yield filename, f


def parse_line(line: str, source: str, line_number: int, dim=None):
    """``'word v1 ... vD'`` -> ``(word, float32 [D])``; a malformed line is a ValueError.

    The error names ``source`` and the 1-based ``line_number``, what was expected and
    what was received.
    """
    word, *values = line.rstrip("\r\n ").split(" ")
    if not values or (dim is not None and len(values) != dim):
        expected = "at least one value" if dim is None else f"{dim} values"
        raise ValueError(
            f"{source}:{line_number}: expected a word then {expected}; received "
            f"{len(values)} value(s) after {word!r}."
        )
    try:
        vector = np.array(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not _is_float(v))
        raise ValueError(
            f"{source}:{line_number}: expected float values after {word!r}; received {bad!r}."
        ) from None
    return word, vector


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def vocabulary_rows(word_index: dict, num_words: int, index_from: int = 3) -> dict:
    """``{word: row}`` for the words that get a row: ``row = rank + index_from < num_words``."""
    return {word: rank + index_from for word, rank in word_index.items()
            if rank + index_from < num_words}


def load(path, word_index: dict, num_words=10000, dim=None, index_from=3):
    """The embedding matrix for ``imdb.load`` ids and a coverage report.

    Args:
        path: ``.txt``, ``.txt.gz``, ``.zip`` or ``archive.zip::member.txt``.
        word_index: ``{word: rank}`` (``imdb.get_word_index()``).
        num_words: rows of the matrix, as ``imdb.load(num_words)``; > ``index_from``.
        dim: expected vector size; ``None`` takes it from the first line. Every line must
            have exactly ``dim`` values.
        index_from: id offset of ``imdb.load`` (3).

    Returns:
        ``(matrix [num_words, dim] float32, CoverageReport)``; rows without a word or
        without a vector are zero. When a word occurs twice the first vector wins.

    Raises:
        ValueError: a malformed line, a dimension mismatch, bytes that are not UTF-8,
            or a damaged, truncated or mislabelled compressed file, naming the file and
            the 1-based line number; an empty file; a bad ``word_index``.
    """
    index_from = _int_at_least(index_from, "index_from", 0)
    num_words = _int_at_least(num_words, "num_words", index_from + 1)
    if dim is not None:
        dim = _int_at_least(dim, "dim", 1)
    check_word_index(word_index)
    rows = vocabulary_rows(word_index, num_words, index_from)
    vectors, dim, source, lines = read_vectors(path, rows, dim)
    matrix = np.zeros((num_words, dim), dtype=np.float32)  # [num_words, dim]
    for row, vector in vectors.items():
        matrix[row] = vector
    return matrix, coverage(rows, vectors, dim, source, lines)


def read_vectors(path, rows: dict, dim=None) -> tuple:
    """``(vectors, dim, source, lines)``: ``{row: float32 [dim]}`` for the words of
    ``rows`` (``{word: row}``; the first vector of a word wins), the vector size, the
    file read and the number of vector lines in it.

    Only vocabulary words are kept in memory. Errors as :func:`load` raises them.
    """
    vectors = {}
    lines = line_number = 0
    source = os.fspath(path)
    try:
        with open_lines(path, dim) as (source, text):
            for line_number, raw in enumerate(text, start=1):
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                word, vector = parse_line(line, source, line_number, dim)
                dim = len(vector) if dim is None else dim
                lines += 1
                row = rows.get(word)
                if row is not None and row not in vectors:
                    vectors[row] = vector
    except FileNotFoundError:
        raise
    except UnicodeDecodeError:
        raise ValueError(f"{source}:{line_number}: expected UTF-8 text; the line holds "
                         "bytes that are not UTF-8.") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        # gzip.BadGzipFile is an OSError; a truncated .gz ends in EOFError.
        raise ValueError(f"{source}:{line_number + 1}: expected a readable GloVe .txt, "
                         f".txt.gz or .zip; the file is damaged or truncated "
                         f"({type(error).__name__}: {error}).") from None
    if dim is None:
        raise ValueError(f"{source}: expected GloVe lines 'word v1 ... vD'; the file is empty.")
    return vectors, dim, source, lines


def coverage(rows: dict, vectors: dict, dim: int, source: str, lines: int) -> CoverageReport:
    """How many of the vocabulary's ``rows`` (``{word: row}``) got a vector; the most
    frequent missing words first (lowest row)."""
    missing = sorted((row, word) for word, row in rows.items() if row not in vectors)
    found = len(rows) - len(missing)
    return CoverageReport(
        words_in_vocab=len(rows),
        found=found,
        missing=len(missing),
        missing_examples=tuple(word for _, word in missing[:10]),
        coverage=found / len(rows) if rows else 0.0,
        dim=dim,
        source=source,
        lines=lines,
    )
