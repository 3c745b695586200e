"""Atomic file writing for the picture functions.

A picture is written to a temporary file in the destination's directory and then moved over the
destination with :func:`os.replace`, so a reader never sees a half-written PNG and a failed write
leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temp file next to ``path``, then rename it to ``path``; returns the path.

    Missing parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a picture should be readable like any other
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
