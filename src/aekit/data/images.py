"""Image trees: a folder or a tar archive with one subfolder per class, optionally under split folders.

Layouts understood (``x.png`` stands for any image Pillow reads):

* ``<class>/x.png`` - one labelled set; class index = position in the sorted class names;
* ``train/<class>/x.png`` and ``test/<class>/x.png`` - the same, with splits (the CIFAR-10 PNG tar);
* ``x.png`` at the top level only - unlabelled images.

A tar is read in ONE sequential pass (``tarfile`` stream mode, works for .tar, .tar.gz, .tar.bz2, .tar.xz),
never extracted to disk, so member names cannot escape anywhere. Decoding PNGs is the slow part (about
60 us each, and Pillow holds the GIL, so threads do not help); a decoded archive is therefore cached as an
uncompressed .npz in the cache folder, keyed by the archive's path, size and modification time, because
the data folder itself may be read-only. A changed archive gets a new key; the stale entry is removed.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aekit.data.limits import check_expansion
from aekit.data.location import cache_dir, write_cache
from aekit.errors import AekitError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
SPLIT_NAMES = frozenset({"train", "test"})
_CACHE_VERSION = 1


@dataclass
class ImageTree:
    """Every image of a tree, decoded: ``x`` (N, C, H, W) uint8, ``labels`` (N,) int64 (-1 = unlabelled),
    ``splits`` (N,) the split folder of each image ("" when the tree has no split folders), ``classes``."""

    x: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    classes: list[str]

    @property
    def has_splits(self) -> bool:
        return bool(len(self.splits)) and bool(np.all(self.splits != ""))

    def select(self, split: str, where: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The images of ``split`` (all images when the tree has no split folders) and their labels or None."""
        if self.has_splits:
            keep = self.splits == split
            if not keep.any():
                found = ", ".join(sorted(set(self.splits.tolist())))
                raise AekitError(f"{where} has no '{split}' folder (found: {found}); pick one of those splits")
            x, labels = self.x[keep], self.labels[keep]
        else:
            x, labels = self.x, self.labels
        return x, (None if len(labels) and labels[0] < 0 else labels)


def read_image_tree(
    path: str | os.PathLike[str], classes: Sequence[str] | None = None, cache: bool = True
) -> ImageTree:
    """Decode every image under ``path`` (a folder or a tar file). ``classes`` fixes the class order
    (e.g. CIFAR-10's); otherwise it is the sorted folder names. ``cache`` reuses/writes the decoded .npz for
    archives."""
    path = Path(path)
    if not path.exists():
        raise AekitError(f"{path} does not exist; pass an image folder or a tar of class folders")
    key = _cache_file(path) if cache and path.is_file() else None
    if key is not None and key.exists():
        tree = _read_cache(key)
        if tree is not None and (classes is None or tree.classes == list(classes)):
            return tree
    items = list(_iter_tar(path) if path.is_file() else _iter_folder(path))
    tree = _assemble(path, [n for n, _ in items], [a for _, a in items], classes)
    if key is not None:
        _write_cache(key, tree)
    return tree


# ---- decoding ----------------------------------------------------------------------------------------------


def decode_image(blob: bytes, name: str) -> np.ndarray:
    """One encoded image -> (H, W, C) uint8. Palette/CMYK/1-bit images become RGB or L; 16-bit or float
    images are refused (their value range would silently differ from 8-bit pixels)."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(blob))  # reads the header only: the size is known before decoding
        # a few hundred bytes of PNG can declare a gigapixel image: bound it by the compressed size
        check_expansion(f"image {name}", im.width * im.height * max(len(im.getbands()), 1), len(blob))
        im.load()
    except AekitError:
        raise
    except Exception as e:  # noqa: BLE001  Pillow raises SyntaxError, struct.error, EOFError, OSError... on damage
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise AekitError(f"cannot decode image {name} ({reason}); remove or replace that file") from None
    mode = im.mode
    if mode in ("L", "RGB", "RGBA", "LA"):
        pass
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("P", "PA"):
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    else:
        raise AekitError(f"image {name} has mode {mode} (not 8-bit); convert it to 8-bit grayscale or RGB first")
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def _is_image_name(parts: Sequence[str]) -> bool:
    return (
        bool(parts)
        and not any(p.startswith(".") for p in parts)  # hidden files, macOS "._x.png" resource forks
        and os.path.splitext(parts[-1])[1].lower() in IMAGE_SUFFIXES
    )


def _iter_tar(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    archive_bytes, unpacked = path.stat().st_size, 0
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for member in tf:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if not member.isfile() or not _is_image_name(parts):
                    continue
                unpacked += member.size  # a .tar.gz member may declare gigabytes of zeros: bounded before reading
                check_expansion(str(path), unpacked, archive_bytes)
                f = tf.extractfile(member)
                assert f is not None
                name = "/".join(parts)
                yield name, decode_image(f.read(), f"{name} in {path}")
    except AekitError:
        raise
    except Exception as e:  # noqa: BLE001  a damaged archive: TarError, EOFError, OSError, zlib.error, and
        # TypeError from tarfile's stream reader on a gzip header cut short
        raise AekitError(f"{path} is not a readable tar archive ({e}); check or re-create the file") from None


def _iter_folder(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    for file in sorted(path.rglob("*")):
        parts = file.relative_to(path).parts
        if file.is_file() and _is_image_name(parts):
            yield "/".join(parts), decode_image(file.read_bytes(), str(file))


def _assemble(path: Path, names: list[str], arrays: list[np.ndarray], classes: Sequence[str] | None) -> ImageTree:
    if not names:
        raise AekitError(
            f"no images found in {path}; expected class folders of {'/'.join(sorted(IMAGE_SUFFIXES))} files"
        )
    order = sorted(range(len(names)), key=names.__getitem__)  # deterministic whatever the archive order
    names = [names[i] for i in order]
    arrays = [arrays[i] for i in order]
    split_parts = [n.split("/") for n in names]
    depth1 = [len(p) == 1 for p in split_parts]
    if any(depth1) and not all(depth1):
        raise AekitError(
            f"{path} has images both at the top level and inside class folders; put every image in a class folder"
        )
    unlabelled = all(depth1)
    splits = np.array([p[-3] if len(p) >= 3 else "" for p in split_parts])
    if not set(splits.tolist()) <= SPLIT_NAMES:
        splits = np.full(len(names), "")  # deeper folders that are not train/test: one set, no splits
    x = _stack(path, names, arrays)
    if unlabelled:
        return ImageTree(x, np.full(len(names), -1, np.int64), splits, [])
    folder = [p[-2] for p in split_parts]
    found = sorted(set(folder))
    class_list = list(classes) if classes is not None else found
    unknown = sorted(set(found) - set(class_list))
    if unknown:
        raise AekitError(
            f"{path} has class folders {unknown} that are not among the expected classes {class_list}; "
            "remove them or load the tree as a generic image folder"
        )
    index = {c: i for i, c in enumerate(class_list)}
    labels = np.fromiter((index[c] for c in folder), np.int64, len(folder))
    return ImageTree(x, labels, splits, class_list)


def _stack(path: Path, names: list[str], arrays: list[np.ndarray]) -> np.ndarray:
    """Stack (H, W, C) images into (N, C, H, W); gray images are promoted to RGB when the tree mixes both."""
    h, w = arrays[0].shape[:2]
    for name, a in zip(names, arrays):
        if a.shape[:2] != (h, w):
            raise AekitError(
                f"images in {path} differ in size: {names[0]} is {w}x{h} but {name} is {a.shape[1]}x{a.shape[0]}; "
                "resize them to one size first"
            )
    channels = {a.shape[2] for a in arrays}
    if channels == {1, 3}:
        arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
    elif len(channels) > 1:
        raise AekitError(
            f"images in {path} have different channel counts {sorted(channels)}; convert them all to RGB or all to gray"
        )
    return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)


# ---- cache -------------------------------------------------------------------------------------------------


def _cache_file(path: Path) -> Path | None:
    try:
        st = path.stat()
    except OSError:
        return None
    tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / f"images-{tag}-{st.st_size}-{st.st_mtime_ns}-v{_CACHE_VERSION}.npz"


def _read_cache(file: Path) -> ImageTree | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            return ImageTree(z["x"], z["labels"].astype(np.int64), z["splits"], [str(c) for c in z["classes"]])
    except Exception:  # a damaged cache is not an error: decode again and overwrite it
        return None


def _write_cache(file: Path, tree: ImageTree) -> None:
    write_cache(file, dict(x=tree.x, labels=tree.labels, splits=tree.splits, classes=np.array(tree.classes, dtype=str)))
