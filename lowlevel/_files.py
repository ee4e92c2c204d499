"""Files rewritten whole go through a temporary file renamed over the old one, so that a
kill leaves either the old or the new file, never half of one."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Write ``path`` through ``path.tmp``, renamed over it once written and synced."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, mode, **({} if "b" in mode else {"newline": ""})) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
