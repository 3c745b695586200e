"""Atomic file writes: everything aekit writes appears whole or not at all.

A file is written to a temporary name in the destination's folder and renamed into place only when
complete (and, for downloads, verified): a reader never sees half a file, and an interrupted or failed
write leaves nothing behind under the final name.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from aekit.errors import AekitError


# What the system says when it will not store what we write (as opposed to a read or a download failing).
WRITE_REFUSED = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM}


class WriteFailed(AekitError):
    """The system refused a write (disk full, read-only, no permission); the file's previous version is kept.
    ``then`` is what the user does once the write can succeed (a caller that knows more may say it better)."""

    def __init__(self, path: Path, reason: str, then: str = "then try again (what was there before is kept)"):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot write {self.path}: {reason}: free disk space or make {self.path.parent} "
                         f"writable, {then}")

    @classmethod
    def of(cls, path: Path, error: OSError) -> WriteFailed:
        return cls(path, error.strerror or str(error))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error deleted.

    Missing parent folders are created. The caller may raise inside the block (for instance after a
    checksum mismatch) to discard the temporary file. A write the system refuses (``OSError``: disk full,
    read-only file system) is the user's to fix: it becomes :class:`WriteFailed`, in one line.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise WriteFailed.of(path, e) from None
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as e:  # the caller's block may also read or download: only a refused write is ours
            if e.errno in WRITE_REFUSED:
                raise WriteFailed.of(path, e) from None
            raise
        try:
            os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; what we write should be readable like any other
            os.replace(tmp, path)
        except OSError as e:
            raise WriteFailed.of(path, e) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
