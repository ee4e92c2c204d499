"""Reading an ``.npz`` archive without ever running code from it.

NumPy stores an array of Python lists (IMDB's ragged reviews) as a pickle stream, and
``np.load(allow_pickle=True)`` lets that stream call any importable function -- a
crafted file can run a shell command. Here numeric members are read with pickling off,
and object members with an unpickler whose ``find_class`` resolves only the three
globals that rebuilding an object array needs (checked on IMDB files written by
NumPy 1 and 2)::

    numpy.ndarray, numpy.dtype, numpy[._]core.multiarray._reconstruct

The Python lists and ints inside are pickle opcodes, not globals, so they need no entry.
Any other global makes the file refused with a ``ValueError`` naming the file, the
member and the global; nothing is called.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    # NumPy 1 wrote numpy.core, NumPy 2 writes numpy._core: the same function.
    ("numpy.core.multiarray", "_reconstruct"): lambda: np.ndarray.__reduce__(
        np.zeros(0))[0],
    ("numpy._core.multiarray", "_reconstruct"): lambda: np.ndarray.__reduce__(
        np.zeros(0))[0],
}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle stream asked for a global outside the allowed list."""


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only the globals that rebuild a NumPy object array."""

    def find_class(self, module, name):
        resolve = _ALLOWED.get((module, name))
        if resolve is None:
            raise RefusedGlobal(f"{module}.{name}")
        return resolve()


def _read_member(raw: bytes):
    """One ``.npy`` member: numeric with pickling off, object through ``_ArrayUnpickler``."""
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only by a utf-8 header
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    return _ArrayUnpickler(stream).load()


def load_npz(path: str) -> dict:
    """``{member name without .npy: array}`` of the archive at ``path``, never unpickling
    anything but NumPy arrays.

    Raises:
        ValueError: not a zip archive, a damaged or truncated member, or a pickle that
            asks for anything else (``... refused: its pickle asks for os.system``),
            naming ``path`` and the member.
    """
    arrays = {}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path}: expected an .npz (zip) archive; could not open it "
                         f"({error}).") from None
    with archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            try:
                array = _read_member(archive.read(member))
            except RefusedGlobal as error:
                raise ValueError(
                    f"{path}: member {member!r} refused: its pickle asks for {error}, and "
                    "only NumPy arrays of lists of ints are read (the file may be "
                    "malicious).") from None
            except Exception as error:  # zlib, EOF, header, pickle errors: damaged data
                raise ValueError(
                    f"{path}: member {member!r} is damaged or not a NumPy array "
                    f"({type(error).__name__}: {error}).") from None
            arrays[member[:-len(".npy")]] = array
    return arrays
