"""Named datasets and the one entry point ``load(name_or_path, ...)``.

``load`` takes a registered name (``mnist``, ``fashion-mnist``, ``cifar10``, ``digits``, ``lines``,
``20newsgroups``) or a path to a generic source (see :mod:`aekit.data.sources`; a folder of text files with
one subfolder per class is a text corpus, :mod:`aekit.data.text`), and always returns an
:class:`ArrayDataset` of float32 ``(N, C, H, W)`` images (or ``(N, D)`` vectors) in the requested scale.
Text comes as ``(N, V)`` word counts over the training split's vocabulary; counts are not pixels, so they
are kept as counts and recorded as scale "raw" whatever pixel scale ("01" by default) was asked for. Named datasets are looked up under
one data root (``data_dir``, else ``$AEKIT_DATA``, else ``~/.cache/aekit``) as ``<root>/<name>/...``, the
layout ``aekit download`` writes, so pointing ``data_dir`` at a folder that already holds ``mnist/`` works.
A name always wins over a path of the same spelling; write ``./mnist`` for a folder called mnist.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data import catalog, cifar, digits, text
from aekit.data.dataset import ArrayDataset, RawData
from aekit.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from aekit.data.lines import lines as make_lines
from aekit.data.location import data_root
from aekit.data.sources import reader_for
from aekit.data.transforms import background, check_scale, pad_to, rescale
from aekit.errors import AekitError

SPLITS = ("train", "test")
LINES_DEFAULT_N = {"train": 20000, "test": 5000}  # ACAI's test set has 5000 lines; train on LinesStream for more


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: a one-line description, its reader, and the extra options ``load`` accepts for it."""

    name: str
    description: str
    read: Callable[..., RawData]  # (root, split, limit, seed, **options) -> RawData
    options: frozenset[str] = frozenset()
    needs_download: bool = True


def _missing(name: str, split: str, where: str, looked_for: str) -> AekitError:
    return AekitError(
        f"{name} {split} data not found in {where} (looked for {looked_for}); run `aekit download {name}`, "
        f"or pass --data-dir / set AEKIT_DATA to the folder that holds {catalog.REMOTES[name].folder}/"
    )


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _idx_reader(name: str, classes: list[str]) -> Callable[..., RawData]:
    def read(root: Path, split: str, limit: int | None, seed: int) -> RawData:
        folder = root / catalog.REMOTES[name].folder
        stems = [catalog.idx_file(split, "images"), catalog.idx_file(split, "labels")]
        images, labels = (_find_idx(folder, s) for s in stems)
        if images is None or labels is None:
            raise _missing(name, split, str(folder), " and ".join(f"{s}[.gz]" for s in stems))
        fix = f"download it again with `aekit download {name}`"
        x = read_idx(images, IMAGES_MAGIC, fix)
        y = read_idx(labels, LABELS_MAGIC, fix).astype(np.int64)
        if len(x) != len(y):
            raise AekitError(f"{images} has {len(x)} images but {labels} has {len(y)} labels; {fix}")
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise AekitError(f"{labels} has labels outside 0..{len(classes) - 1}; {fix}")
        return RawData(x[:, None], y, classes, 0.0, 255.0, str(folder), split)  # (N, 28, 28) -> (N, 1, 28, 28)

    return read


def _read_cifar10(root: Path, split: str, limit: int | None, seed: int, cache: bool = True) -> RawData:
    fix = "download it again with `aekit download cifar10`"
    batch_dirs = (root / "cifar10", root / "cifar10" / "cifar-10-batches-py", root / "cifar-10-batches-py")
    for folder in batch_dirs:
        if cifar.batch_files(folder, split):
            x, y, classes = cifar.read_cifar_batches(folder, split, fix)
            return RawData(x, y, classes, 0.0, 255.0, str(folder), split)
    png_tar = root / "cifar10-images" / "cifar10-images.tar"
    png_dir = root / "cifar10-images"
    for source in (png_tar, png_dir):
        if source.is_file() or (source.is_dir() and (source / split).is_dir()):
            x, y, classes = cifar.read_cifar_images(source, split, cache=cache)
            return RawData(x, y, classes, 0.0, 255.0, str(source), split)
    raise _missing(
        "cifar10", split, str(root),
        f"python batches in {batch_dirs[0]} or PNGs in {png_tar} or {png_dir}/{split}/",
    )


def _read_digits(root: Path, split: str, limit: int | None, seed: int) -> RawData:
    x, y = digits.read_digits(split)
    return RawData(x, y, list(catalog.DIGIT_CLASSES), 0.0, digits.MAX_VALUE, "sklearn.datasets.load_digits", split)


def _read_lines(root: Path, split: str, limit: int | None, seed: int) -> RawData:
    """Generates exactly ``limit`` lines (so ``_finish`` has nothing left to subset)."""
    n = int(limit) if limit is not None else LINES_DEFAULT_N[split]
    ds = make_lines(n, seed=seed, scale="pm1", split=split)
    assert ds.y is not None
    return RawData(ds.x.numpy(), ds.y.numpy(), ds.classes, -1.0, 1.0, f"synthetic (seed {int(seed)})", split,
                   extra={"evaluations": ds.extra["evaluations"]})


def _read_20newsgroups(root: Path, split: str, limit: int | None, seed: int,
                       vocabulary_size: int = text.DEFAULT_WORDS) -> RawData:
    folder = root / catalog.REMOTES["20newsgroups"].folder
    source = text.find_newsgroups(folder)
    if source is None:
        raise _missing("20newsgroups", split, str(folder),
                       f"{text.NEWSGROUPS_ARCHIVE} or the extracted {' and '.join(text.NEWSGROUPS_SPLITS.values())} folders")
    return text.read_newsgroups(source, split, vocabulary_size)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", "MNIST handwritten digits: 60000 train / 10000 test, 1x28x28 gray, 10 classes",
                    _idx_reader("mnist", list(catalog.DIGIT_CLASSES))),
        DatasetSpec("fashion-mnist", "Fashion-MNIST clothing: 60000 train / 10000 test, 1x28x28 gray, 10 classes",
                    _idx_reader("fashion-mnist", list(catalog.FASHION_CLASSES))),
        DatasetSpec("cifar10", "CIFAR-10 objects: 50000 train / 10000 test (python batches) or the PNG subset, 3x32x32 RGB, 10 classes",
                    _read_cifar10, frozenset({"cache"})),
        DatasetSpec("digits", "scikit-learn's 8x8 digits, bundled offline: 1437 train / 360 test, 1x8x8, 10 classes",
                    _read_digits, needs_download=False),
        DatasetSpec("lines", "ACAI synthetic lines, generated: 1x32x32 (natively -1..1: use scale pm1), 10 angle bins; limit = how many",
                    _read_lines, needs_download=False),
        DatasetSpec("20newsgroups", "20 Newsgroups 'bydate' messages: 11314 train / 7532 test, word counts over the top 2000 training words, 20 classes",
                    _read_20newsgroups, frozenset({"vocabulary_size"})),
    )
}


def dataset_names() -> dict[str, str]:
    """Registered dataset names mapped to one-line descriptions (iterate it for the names)."""
    return {name: spec.description for name, spec in DATASETS.items()}


def load(
    name_or_path: str | os.PathLike[str],
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    scale: str = "01",
    limit: int | None = None,
    seed: int = 0,
    **options: Any,
) -> ArrayDataset:
    """Load a named dataset or a generic source as an :class:`ArrayDataset`.

    ``scale``: "01" ([0, 1]), "pm1" ([-1, 1]) or "raw". ``limit``: keep a random subset of that many
    examples (chosen with ``seed``, original order kept); for ``lines`` it is how many lines to generate and
    ``seed`` seeds them. ``options``: ``pad=32`` centres images on a larger canvas filled with the
    background value (28x28 MNIST for 32x32 conv stacks); ``cache=False`` disables the decoded-PNG cache;
    ``label_column=`` names the label column of a CSV; ``vocabulary_size=`` (default 2000) sets how many
    words a text corpus is counted over.
    """
    if split not in SPLITS:
        raise AekitError(f"unknown split {split!r}; use 'train' or 'test'")
    check_scale(scale)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise AekitError(f"limit must be a positive whole number of examples, got {limit!r}")
    pad = options.pop("pad", None)
    key = os.fspath(name_or_path)
    spec = DATASETS.get(key.lower()) if isinstance(key, str) else None
    if spec is not None:
        _check_options(spec.name, options, spec.options)
        raw = spec.read(data_root(data_dir), split, limit, seed, **options)
        name = spec.name
    else:
        path = Path(key).expanduser()
        if not path.exists():
            raise AekitError(
                f"unknown dataset {key!r}: use one of {', '.join(DATASETS)}, or a path to an existing "
                ".npy/.npz/.csv file, image folder or tar (nothing exists at that path)"
            )
        reader = reader_for(path)  # the registered reader of this kind of file or folder (data/sources.py)
        _check_options(str(path), options, reader.options)
        raw = reader.read(path, split, seed, **options)
        name = path.name
    return _finish(raw, name, scale, limit, seed, pad)


def _check_options(what: str, options: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed | {"pad"}))
        raise AekitError(f"{what} does not take option(s) {', '.join(unknown)}; it accepts: {accepted}")


def _finish(raw: RawData, name: str, scale: str, limit: int | None, seed: int, pad: Any) -> ArrayDataset:
    """Subset, scale, pad; then ArrayDataset validates."""
    x, y = raw.x, raw.y
    extra: dict[str, Any] = dict(raw.extra)
    if raw.frontend is not None:  # word counts: no pixel scale applies; keep them as counts
        if scale == "pm1":
            raise AekitError(f"{name} holds word counts, which cannot be scaled to [-1, 1]; leave --scale out "
                             "(counts are kept as they are, scale 'raw')")
        scale = "raw"
    if limit is not None and int(limit) < len(x):
        idx = np.sort(np.random.default_rng(seed).choice(len(x), size=int(limit), replace=False))
        x, y = x[idx], (None if y is None else y[idx])
        extra.update(limit=int(limit), seed=int(seed))
    if scale != "raw" and (raw.low is None or raw.high is None):
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        raise AekitError(
            f"values of {name} span [{lo:g}, {hi:g}], neither [0, 1] nor 8-bit pixels 0..255, so they cannot be "
            f"scaled to '{scale}'; pass scale='raw' (--scale raw) to keep them as they are"
        )
    low = 0.0 if raw.low is None else raw.low
    t = rescale(x, low, 1.0 if raw.high is None else raw.high, scale)
    if pad is not None:
        if t.ndim != 4:
            raise AekitError(f"pad applies to images (N, C, H, W), but {name} has items of shape {tuple(t.shape[1:])}")
        if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 1:
            raise AekitError(f"pad must be an image size in pixels (e.g. 32), got {pad!r}")
        t = pad_to(t, int(pad), background(scale, low))
        extra["pad"] = int(pad)
    return ArrayDataset(
        t, None if y is None else np.asarray(y, dtype=np.int64), name=name, classes=raw.classes, scale=scale,
        split=raw.split, source=raw.source, extra=extra, frontend=raw.frontend,
    )
