"""A run folder as a place one process trains into at a time: its lock, its state, its leftover temp files.

The lock is an OS file lock (``filelock``: ``flock`` on POSIX) on ``.aekit.lock`` inside the folder, held
for the whole of a training call. The OS releases it when the process ends, however it ends (an error,
Ctrl-C, SIGKILL), so a lock never outlives its holder and there is nothing stale to break. The lock file
itself stays (deleting a lock file while others may have it open lets two processes hold "the" lock).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import filelock

from aekit import io
from aekit.errors import AekitError

LOCK = ".aekit.lock"
# Names of temporary files: our atomic writes (`.NAME.XXXX.part`, aekit.atomic) and tempfile's `.tmpXXXX`.
# A process killed mid-write leaves them; no reader ever looks at them, so they are only lost space.
TEMP_PATTERNS = (".*.part", ".tmp*")


def contents(path: Path) -> str:
    """What a training ``--out`` holds: "nothing" (absent, empty, or only the user's other files), "unstarted"
    (an aekit run killed before its first checkpoint: a config and nothing to continue from, neither
    resumable nor worth keeping, so it is trained again in place) or "run" (a checkpoint or final weights).
    Anything else of aekit's (an index, a classifier) or a config.json that is not a run's is refused in one
    line: training into the folder would overwrite it or mix with it."""
    found = next((m for m in (io.CONFIG, io.INDEX_META) if (path / m).is_file()), None)
    if found is None:
        return "nothing"
    config = io.read_json(path / found)
    kind = io.kind_of(config, found)
    if kind != "run" or not {"model", "hparams"} <= set(config):
        what = io.KINDS[kind] if kind and kind != "run" else f"a {found} that is not an aekit run's"
        raise AekitError(f"{path} holds {what}, not a run of `aekit train`: choose another --out")
    return "run" if (path / io.CHECKPOINT).is_file() or (path / io.WEIGHTS).is_file() else "unstarted"


def temp_files(path: Path) -> list[Path]:
    """The temporary files under ``path`` that writes interrupted by a crash left behind."""
    return sorted({p for pattern in TEMP_PATTERNS for p in path.rglob(pattern) if p.is_file()})


def remove_temp_files(path: Path) -> None:
    for p in temp_files(path):
        p.unlink(missing_ok=True)  # another cleaner (a process we share a parent with) may be first


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock for the ``with`` block (creating the folder if needed), with the temp files that
    crashed writes left removed on entry and on exit. A folder another process holds is refused at once in
    one line: waiting would hide that two trainings were started into one folder."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file in the way, a read-only or full file system
        raise AekitError(f"cannot create the run folder {path}: {e.strerror or e}; choose another --out") from None
    lock = filelock.FileLock(str(path / LOCK))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise AekitError(f"{path} is in use by another aekit process (training into it now): wait for it to "
                         f"finish, or choose another --out") from None
    try:
        remove_temp_files(path)
        yield
    finally:
        if path.is_dir():  # a run that failed before its first checkpoint removed its own folder
            remove_temp_files(path)
        lock.release()
