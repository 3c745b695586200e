"""Generic sources: a user's own ``.npy`` / ``.npz`` / ``.csv`` file, or a folder or tar of class folders.

Conventions, so that a file loads without options in the common cases:

* arrays are examples along the first axis; ``(N, H, W)`` is read as gray images ``(N, 1, H, W)`` and
  ``(N, H, W, C)`` with C in 1/3/4 as channels-last images (transposed to ``(N, C, H, W)``);
* ``.npz``: ``x_train``/``y_train`` and ``x_test``/``y_test`` pick the split (the Keras layout); otherwise
  ``x`` or ``X`` (else the first array) with optional labels ``y``/``Y``/``labels``, the same for both splits;
* ``.csv``: numbers only, an optional header row, an optional label column (``label_column`` = name or index;
  by default a column named ``label``, if the header has one: a label read as a feature would be learned
  and reconstructed like any other value);
* labels are class indices 0..K-1;
* the value range is inferred: uint8 (or whole numbers within 0..255) are 8-bit pixels, values within
  [0, 1] stay; anything else can only be loaded with scale "raw", because silently min-max scaling a user's
  data would change what their numbers mean.

A file without splits gives the same data for "train" and "test".
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from aekit.data.dataset import RawData, check_finite
from aekit.data.images import read_image_tree
from aekit.data.npyfile import NpzArchive, load_npy
from aekit.errors import AekitError

ARRAY_SUFFIXES = (".npy", ".npz", ".csv", ".tsv")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
LABEL_AUTO, LABEL_NAME = "auto", "label"  # a CSV read with label_column="auto" takes a column named "label"


@dataclass(frozen=True)
class Reader:
    """How to read one kind of path: ``accepts(path)`` says whether it can, ``read(path, split, seed, **options)``
    returns :class:`RawData`; ``options`` are the keyword options it takes (``label_column``, ``cache``, ...)."""

    name: str
    accepts: Callable[[Path], bool]
    read: Callable[..., RawData]
    options: frozenset[str]
    priority: int  # lower is asked first (a folder of text files before the image reader that takes any folder)
    # Small valid inputs, relative path -> bytes: the fuzz harness (aekit.fuzzing) writes a damaged copy of
    # one at its path in an empty folder and reads the path's first part (a file, or a folder it makes).
    samples: Callable[[], dict[str, bytes]] | None = None


READERS: dict[str, Reader] = {}


def register_reader(name: str, accepts: Callable[[Path], bool], options: tuple[str, ...] = (), priority: int = 10,
                    samples: Callable[[], dict[str, bytes]] | None = None):
    """Decorator on ``read(path, split, seed, **options) -> RawData``: paths it ``accepts`` load through it.
    ``samples`` (see :class:`Reader`) puts the reader under the fuzz harness's test."""

    def wrap(read: Callable[..., RawData]) -> Callable[..., RawData]:
        READERS[name] = Reader(name, accepts, read, frozenset(options), priority, samples)
        return read

    return wrap


def reader_for(path: str | os.PathLike[str]) -> Reader:
    """The registered reader of ``path`` (a user's file or folder), or one line saying what is readable."""
    import aekit.data.text  # noqa: F401  (registers the text-folder reader)

    path = Path(path).expanduser()
    if not path.exists():
        raise AekitError(f"{path} does not exist; pass an existing .npy/.npz/.csv file, image folder or tar")
    for reader in sorted(READERS.values(), key=lambda r: r.priority):
        if reader.accepts(path):
            return reader
    raise AekitError(
        f"cannot tell how to read {path}; use a .npy, .npz or .csv file, an image folder or a tar of images"
    )


def _suffix(*suffixes: str) -> Callable[[Path], bool]:
    return lambda path: path.is_file() and path.name.lower().endswith(suffixes)


def _is_image_source(path: Path) -> bool:
    name = path.name.lower()
    return path.is_dir() or name.endswith(TAR_SUFFIXES) or (
        path.is_file() and not name.endswith(ARRAY_SUFFIXES) and tarfile.is_tarfile(path))


def _array_bytes(save: Callable[..., None], *args: Any, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    save(buffer, *args, **kwargs)
    return buffer.getvalue()


def _npy_samples() -> dict[str, bytes]:
    return {"x.npy": _array_bytes(np.save, np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 24)}


def _npz_samples() -> dict[str, bytes]:
    x, y = np.arange(48, dtype=np.uint8).reshape(4, 12), np.array([0, 1, 0, 1])
    return {"xy.npz": _array_bytes(np.savez, x=x, y=y),
            "split.npz": _array_bytes(np.savez_compressed, x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])}


def _csv_samples() -> dict[str, bytes]:
    return {"table.csv": b"a,b,label\n0.1,0.2,0\n0.3,0.4,1\n", "plain.tsv": b"1\t2\t3\n4\t5\t6\n"}


def _image_samples() -> dict[str, bytes]:
    from PIL import Image

    def png(value: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (4, 3), (value, 0, 255 - value)).save(buffer, format="PNG")
        return buffer.getvalue()

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tf:
        for name, value in (("a/1.png", 10), ("b/2.png", 200)):
            info = tarfile.TarInfo(name)
            blob = png(value)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return {"images.tar": archive.getvalue(), "images.tar.gz": gzip.compress(archive.getvalue()),
            "folder/cat/1.png": png(30)}


@register_reader("npy", _suffix(".npy"), samples=_npy_samples)
def _read_npy_file(path: Path, split: str, seed: int = 0) -> RawData:
    return _finish(path, load_npy(path), None, split="all")


@register_reader("npz", _suffix(".npz"), samples=_npz_samples)
def _read_npz_file(path: Path, split: str, seed: int = 0) -> RawData:
    return _read_npz(path, split)


@register_reader("csv", _suffix(".csv", ".tsv"), options=("label_column",), samples=_csv_samples)
def _read_csv_file(path: Path, split: str, seed: int = 0, label_column: int | str | None = LABEL_AUTO) -> RawData:
    x, y = read_csv(path, label_column)
    raw = _finish(path, x, y, split="all")
    raw.extra["label_column"] = LABEL_NAME if label_column == LABEL_AUTO and y is not None else label_column
    return raw


@register_reader("images", _is_image_source, options=("cache",), samples=_image_samples)
def _read_image_source(path: Path, split: str, seed: int = 0, cache: bool = True) -> RawData:
    return read_images(path, split, cache)


def read_images(path: Path, split: str, cache: bool = True) -> RawData:
    """An image folder or tar (see :mod:`aekit.data.images`) as 8-bit pixels."""
    tree = read_image_tree(path, cache=cache)
    x, y = tree.select(split, str(path))
    return RawData(x, y, tree.classes or None, 0.0, 255.0, str(path), split if tree.has_splits else "all")


def _read_npz(path: Path, split: str) -> RawData:
    with NpzArchive(path) as z:
        keys = list(z.files)
        if not keys:
            raise AekitError(f"{path} contains no arrays; save at least an array named x")
        if any(k in keys for k in ("x_train", "x_test")):
            if f"x_{split}" not in keys:
                have = [k[2:] for k in keys if k.startswith("x_")]
                raise AekitError(f"{path} has no x_{split} array (splits found: {', '.join(have)}); pick one of those")
            x = z[f"x_{split}"]
            y = z[f"y_{split}"] if f"y_{split}" in keys else None
            return _finish(path, x, y, split=split)
        xkey = next((k for k in ("x", "X") if k in keys), keys[0])
        ykey = next((k for k in ("y", "Y", "labels") if k in keys and k != xkey), None)
        return _finish(path, z[xkey], z[ykey] if ykey else None, split="all")


def read_csv(path: str | os.PathLike[str], label_column: int | str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A numeric CSV (optional header) -> features (N, D) float64 and the label column (N,) or None.
    ``label_column="auto"``: the column named "label" if the header has one, else none."""
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline().strip()
    if not first:
        raise AekitError(f"{path} is empty; a CSV needs at least one row of numbers")
    delimiter = next((d for d in (",", "\t", ";") if d in first), None)
    cells = [c.strip().strip('"') for c in (first.split(delimiter) if delimiter else first.split())]
    header = not all(_is_number(c) for c in cells)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below instead
            table = np.loadtxt(path, delimiter=delimiter, skiprows=int(header), ndmin=2, dtype=np.float64)
    except ValueError as e:  # UnicodeDecodeError included
        reason = str(e).split(";")[0]  # numpy's advice after ";" names its own arguments (usecols), not ours
        raise AekitError(f"{path} is not a table of numbers ({reason}); a CSV needs numbers only, with the same "
                         "number of columns in every row") from None
    if table.shape[0] == 0:
        raise AekitError(f"dataset {path.name} is empty: {path} has a header but no rows of data")
    if header and len(cells) != table.shape[1]:  # the names must name the columns, or a label is taken wrongly
        raise AekitError(f"{path} has {len(cells)} names in its header row but {table.shape[1]} columns of "
                         f"numbers: give every column one name")
    if label_column == LABEL_AUTO:  # a column named "label" holds the labels, not a feature
        label_column = LABEL_NAME if header and LABEL_NAME in cells else None
    if label_column is None:
        return table, None
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if not header or label_column not in cells:
            have = ", ".join(cells) if header else "none (no header row)"
            raise AekitError(f"{path} has no column named {label_column!r}; columns: {have}")
        col = cells.index(label_column)
    else:
        col = int(label_column)
        if not -table.shape[1] <= col < table.shape[1]:
            raise AekitError(f"label_column {col} is out of range: {path} has {table.shape[1]} columns")
        col %= table.shape[1]
    y = table[:, col]
    check_finite(y, f"label column of {path}")
    return np.delete(table, col, axis=1), y


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _finish(path: Path, x: np.ndarray, y: np.ndarray | None, split: str) -> RawData:
    """Shape conventions, finiteness, labels and value range for array sources."""
    if x.dtype.kind not in "biuf":
        raise AekitError(f"{path} holds {x.dtype} data; it must be numeric")
    if x.ndim == 0 or x.shape[0] == 0 or x.size == 0:
        raise AekitError(f"dataset {path.name} is empty: {path} has an array of shape {x.shape}; it needs at least one example")
    check_finite(x, f"dataset {path.name}")
    x = as_items(x)
    labels = None
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if y.dtype.kind not in "biuf":
            raise AekitError(f"{path} has labels of dtype {y.dtype}; labels must be class indices 0..K-1")
        check_finite(y, f"labels of {path}")
        if len(y) != len(x):
            raise AekitError(f"{path} has {len(x)} examples but {len(y)} labels; give one label per example")
        if np.any(y != np.round(y)) or (len(y) and y.min() < 0):
            raise AekitError(f"{path} has labels that are not class indices 0..K-1 (min {y.min()}); re-encode them")
        labels = y.astype(np.int64)
    low, high = infer_range(x)
    return RawData(x, labels, None, low, high, str(path), split)


def as_items(x: np.ndarray) -> np.ndarray:
    """Apply the shape conventions: (N,) -> (N, 1); (N, H, W) -> (N, 1, H, W); (N, H, W, C) -> (N, C, H, W)."""
    if x.ndim == 1:
        return x[:, None]
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def infer_range(x: np.ndarray) -> tuple[float | None, float | None]:
    """(0, 255) for 8-bit pixels, (0, 1) for values within [0, 1], (None, None) for anything else."""
    if x.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 255.0 and (x.dtype.kind in "iu" or bool(np.all(x == np.round(x)))):
        return 0.0, 255.0
    return None, None
