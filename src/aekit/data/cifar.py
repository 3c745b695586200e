"""CIFAR-10 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009) in its two layouts.

* The official "python version" batches ``data_batch_1..5`` / ``test_batch``: pickled dicts with ``data``
  (N x 3072 uint8, rows are the R, G and B planes of a 32x32 image, i.e. already (C, H, W) order) and
  ``labels``. They are read with :mod:`aekit.data.safe_pickle`, which cannot execute code. Any subset of
  the training batches loads (e.g. only data_batch_1 for a quick run).
* PNG files ``train|test/<class>/*.png``, as a folder or a tar (the shared ``cifar10-images.tar``), read by
  :mod:`aekit.data.images`; class indices follow ``batches.meta`` order (airplane=0 .. truck=9).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.images import read_image_tree
from aekit.data.safe_pickle import load_array_pickle
from aekit.errors import AekitError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCH_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
META_FILE = "batches.meta"


def _text_keys(d: dict[Any, Any]) -> dict[str, Any]:
    # Python 2 pickles read with encoding="bytes" have bytes keys, with "latin1" str keys: accept both.
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}


def read_cifar_batch(path: str | os.PathLike[str], fix: str = "download it again") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One batch file -> images (N, 3, 32, 32) uint8, labels (N,) int64, file names (may be empty)."""
    path = Path(path)
    obj = load_array_pickle(path.read_bytes(), str(path), fix=fix)
    if not isinstance(obj, dict):
        raise AekitError(f"{path} is not a CIFAR batch (a pickled {type(obj).__name__}, not a dict); {fix}")
    d = _text_keys(obj)
    data, labels = d.get("data"), d.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise AekitError(f"{path} is not a CIFAR-10 batch: 'data' should be uint8 (N, 3072), got {desc}; {fix}")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise AekitError(f"{path} is not a CIFAR-10 batch: 'labels' is not a list of integers; {fix}") from None
    if len(y) != len(data):
        raise AekitError(f"{path} has {len(data)} images but {len(y)} labels; {fix}")
    if len(y) and (y.min() < 0 or y.max() >= len(CIFAR10_CLASSES)):
        raise AekitError(f"{path} has labels outside 0..9 (min {y.min()}, max {y.max()}); {fix}")
    raw_names = d.get("filenames")
    names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in (raw_names if raw_names is not None else [])]
    return data.reshape(-1, 3, 32, 32), y, names  # rows are R, G, B planes: already (C, H, W)


def read_cifar_meta(path: str | os.PathLike[str]) -> list[str]:
    """Class names from ``batches.meta`` (``label_names``)."""
    d = load_array_pickle(Path(path).read_bytes(), str(path))
    names = _text_keys(d).get("label_names") if isinstance(d, dict) else None
    if not isinstance(names, list) or not names:
        raise AekitError(f"{path} has no 'label_names' list; it is not CIFAR-10's batches.meta, remove or replace it")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def batch_files(folder: Path, split: str) -> list[Path]:
    """The batch files of ``split`` present in ``folder`` (any subset of data_batch_1..5 for train)."""
    return [folder / n for n in BATCH_FILES[split] if (folder / n).is_file()]


def read_cifar_batches(folder: str | os.PathLike[str], split: str, fix: str = "download it again") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All batches of ``split`` in ``folder`` concatenated -> (x uint8 (N,3,32,32), y int64, class names)."""
    folder = Path(folder)
    files = batch_files(folder, split)
    if not files:
        raise AekitError(f"no CIFAR-10 {split} batches ({', '.join(BATCH_FILES[split])}) in {folder}; {fix}")
    parts = [read_cifar_batch(f, fix) for f in files]
    meta = folder / META_FILE
    classes = read_cifar_meta(meta) if meta.is_file() else list(CIFAR10_CLASSES)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes


def read_cifar_images(path: str | os.PathLike[str], split: str, cache: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CIFAR-10 PNGs (a folder or tar with ``train|test/<class>/*.png``) -> (x uint8 (N,3,32,32), y, classes)."""
    tree = read_image_tree(path, classes=CIFAR10_CLASSES, cache=cache)
    x, y = tree.select(split, str(path))
    if y is None or x.shape[1:] != (3, 32, 32):
        raise AekitError(
            f"{path} does not look like CIFAR-10 PNGs (got images of shape {x.shape[1:]}, labelled={y is not None}); "
            "expected train|test/<class>/*.png with 32x32 RGB images"
        )
    return x, y, list(CIFAR10_CLASSES)
