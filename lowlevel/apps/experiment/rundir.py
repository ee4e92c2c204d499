"""The run directory's safety: one writer at a time, nothing read or deleted outside it,
and a resume that only ever starts from an intact checkpoint.

* ``RunLock``: ``<out>/train.lock`` holds the writer's host and PID, created with
  ``O_EXCL``. A second run on the same ``--out`` refuses, naming the lock; a lock whose
  process is gone (same host, PID not running) is stale and taken over, with a note.
* ``checked_state_paths``: the paths listed in ``checkpoints/checkpoint`` must lie inside
  ``checkpoints/`` -- TensorFlow's rotation deletes what that file lists, so a hand-edited
  ``../`` or absolute path is refused before any ``CheckpointManager`` reads it.
* ``newest_intact_checkpoint``: ``ckpt-N`` prefixes on disk, newest first, each read in
  full (TensorFlow checks every tensor's CRC); a truncated, zero-length or bit-flipped
  one is skipped with its error, and the state file is rewritten to list the intact ones.
"""

from __future__ import annotations

import os
import re
import socket

import tensorflow as tf

LOCK_NAME = "train.lock"
_CKPT = re.compile(r"^ckpt-(\d+)\.index$")


class LockedError(ValueError):
    """Another live process writes to this run directory."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunLock:
    """``with RunLock(out, log):`` -- exclusive use of ``out`` by this process."""

    def __init__(self, out: str, log):
        self.path, self.log, self.held = os.path.join(out, LOCK_NAME), log, False

    def __enter__(self):
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._remove_if_stale()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{socket.gethostname()} {os.getpid()}\n")
            self.held = True
            return self
        raise LockedError(f"`--out`: {self.path} is held by another run; wait for it or "
                          "choose another --out.")

    def _remove_if_stale(self):
        try:
            with open(self.path) as f:
                host, pid = f.read().split()
            pid = int(pid)
        except (OSError, ValueError):
            host, pid = None, None  # unreadable or torn: its writer died mid-write
        if host == socket.gethostname() and pid is not None and _process_alive(pid):
            raise LockedError(f"`--out`: another run (PID {pid}) is writing to this "
                              f"directory; its lock is {self.path}. Wait for it to finish "
                              "or choose another --out.")
        if host not in (None, socket.gethostname()):
            raise LockedError(f"`--out`: {self.path} is held by PID {pid} on host {host}; "
                              "if that run is gone, delete the lock file.")
        print(f"removing the stale lock {self.path} (PID {pid} is not running)", file=self.log)
        os.remove(self.path)

    def __exit__(self, *exc):
        if self.held:
            os.remove(self.path)
            self.held = False


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([path, directory]) == directory


def checked_state_paths(managed: str) -> list | None:
    """The checkpoint prefixes ``managed/checkpoint`` lists, each inside ``managed``;
    ``None`` if the file is absent or unreadable (then the files on disk decide).

    Raises:
        ValueError: a listed path lies outside ``managed`` (absolute or ``../``).
    """
    state_file = os.path.join(managed, "checkpoint")
    if not os.path.isfile(state_file):
        return None
    try:
        state = tf.train.get_checkpoint_state(managed)
    except Exception:  # a text-proto parse error: the file is garbage
        return None
    if state is None:
        return None
    listed = [state.model_checkpoint_path, *state.all_model_checkpoint_paths]
    for path in filter(None, listed):
        full = path if os.path.isabs(path) else os.path.join(managed, path)
        if not _inside(full, managed):
            raise ValueError(f"{state_file}: lists the checkpoint {path!r}, outside the run's "
                             f"checkpoints/ directory; refused (a resume reads and rotates "
                             "only files inside --out).")
    return listed


def checkpoints_on_disk(managed: str) -> list:
    """``[(step, prefix)]`` of the ``ckpt-N`` files in ``managed``, newest first."""
    if not os.path.isdir(managed):
        return []
    found = [(int(m.group(1)), os.path.join(managed, f"ckpt-{m.group(1)}"))
             for m in map(_CKPT.match, os.listdir(managed)) if m]
    return sorted(found, reverse=True)


def damage(prefix: str) -> str | None:
    """``None`` if every tensor of the checkpoint reads back (CRC-checked), else why not."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # DataLossError, OutOfRange, IndexError ...: all "damaged"
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return None


def newest_intact_checkpoint(managed: str, log) -> str | None:
    """The newest checkpoint of ``managed`` that reads back whole, or ``None``.

    Damaged newer ones are reported on ``log``; the state file is rewritten to list only
    intact checkpoints (relative paths), so TensorFlow never resumes from or rotates
    anything else.
    """
    checked_state_paths(managed)  # refuses outside paths before anything else
    intact = []
    for _, prefix in checkpoints_on_disk(managed):
        why = damage(prefix)
        if why is None:
            intact.append(prefix)
        elif not intact:
            print(f"checkpoint {prefix} is damaged ({why}); trying an older one", file=log)
    if not intact:
        return None
    newest = intact[0]
    _write_state(managed, [os.path.basename(p) for p in reversed(intact)])
    return newest


def _write_state(managed, names):
    """``managed/checkpoint`` (text proto) listing ``names``, oldest first, the last as
    the latest; through a temporary file renamed over the old one."""
    lines = [f'model_checkpoint_path: "{names[-1]}"'] + [
        f'all_model_checkpoint_paths: "{name}"' for name in names]
    path = os.path.join(managed, "checkpoint")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
