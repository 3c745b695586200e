"""Where aekit looks for datasets and keeps decoded caches.

One rule, so that a "file not found" message can say exactly where it looked: an explicit ``data_dir``
wins, then the ``AEKIT_DATA`` environment variable, then ``~/.cache/aekit``. Decoded caches (for image
archives that are slow to decode) live apart from the data, because the data folder may be read-only
(a shared mount): ``AEKIT_CACHE`` or ``~/.cache/aekit/decoded``.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "AEKIT_DATA"
CACHE_ENV = "AEKIT_CACHE"
DEFAULT_ROOT = Path("~/.cache/aekit")


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds ``<root>/<dataset name>/...``: ``data_dir``, else ``$AEKIT_DATA``, else ``~/.cache/aekit``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV, "")
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser()


def cache_dir() -> Path:
    """Folder for decoded-array caches: ``$AEKIT_CACHE``, else ``~/.cache/aekit/decoded`` (created lazily by writers)."""
    env = os.environ.get(CACHE_ENV, "")
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser() / "decoded"


def write_cache(file: Path, arrays: dict) -> None:
    """Best effort: save ``arrays`` as the cache ``file`` (``<kind>-<tag>-<size>-<mtime>-v<N>.npz``) and remove
    the entries of older versions of the same source. An unwritable cache folder only costs a decode next time."""
    import numpy as np

    from aekit.atomic import atomic_path

    try:
        with atomic_path(file) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        prefix = file.name.rsplit("-", 3)[0]  # <kind>-<tag>: the same source, any size/mtime/version
        for old in file.parent.glob(f"{prefix}-*.npz"):
            if old != file:
                old.unlink(missing_ok=True)
    except OSError:
        pass
