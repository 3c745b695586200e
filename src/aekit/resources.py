"""This machine's memory, and refusing work that could not fit in it before anything is allocated.

A size a user or a file gives (a model's ``latent_dim``, a pad size) is checked here against the machine's
physical memory, so an impossible request is one line that names the setting instead of torch's allocator
error (or swapping a shared machine to a halt).
"""
from __future__ import annotations

import os

from aekit.errors import AekitError


def memory_bytes() -> int | None:
    """The machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(what: str, size: int, fix: str) -> None:
    """Refuse ``size`` bytes of ``what`` when they exceed this machine's memory; ``fix`` says what to lower."""
    memory = memory_bytes()
    if memory is not None and size > memory:
        raise AekitError(f"{what} needs {size / 2**30:.1f} GiB, more than this machine's {memory / 2**30:.1f} GiB: "
                         f"{fix}")
