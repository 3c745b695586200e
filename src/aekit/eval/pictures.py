"""Image grids: samples, filters and reconstructions saved as PNG files (Pillow).

Images may be ``(N, C, H, W)`` (channels first, ``C`` = 1 grey or 3 RGB), ``(N, H, W)`` grey, or
flat ``(N, D)`` with ``item_shape=(H, W)`` or ``(C, H, W)`` (a flat square grey image, such as
MNIST's 784, needs no ``item_shape``). Values are clipped to ``value_range`` and mapped linearly
onto 0..255. Images are laid out left to right, ``nrow`` per row (torchvision's convention),
separated by ``padding`` pixels of grey. Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import math

import numpy as np
from PIL import Image

from aekit.errors import AekitError

from ._arrays import as_float
from aekit.atomic import atomic_path

_PAD = 128  # grey between tiles: visible against black and white backgrounds alike


def _as_images(images, name: str, item_shape, value_range) -> np.ndarray:
    """``(N, H, W, C)`` uint8 with ``C`` in {1, 3}."""
    x = as_float(images, name, min_ndim=2)
    n = x.shape[0]
    if item_shape is not None:
        item_shape = tuple(int(s) for s in item_shape)
        if len(item_shape) not in (2, 3) or math.prod(item_shape) != math.prod(x.shape[1:]):
            raise AekitError(
                f"item_shape {item_shape} does not fit {name} of shape {tuple(x.shape)}; "
                "give (H, W) or (C, H, W) whose product is the number of values per image"
            )
        x = x.reshape(n, *item_shape)
    elif x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise AekitError(
                f"{name} is flat with {x.shape[1]} values per image, not a square; pass item_shape=(H, W) or (C, H, W)"
            )
        x = x.reshape(n, side, side)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise AekitError(
            f"{name} has shape {tuple(x.shape)}; pass (N, C, H, W) with C = 1 or 3 "
            "(channels-last tensors: x.permute(0, 3, 1, 2)), (N, H, W), or flat (N, D) with item_shape"
        )
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise AekitError(f"value_range must be (low, high) with low < high, got {tuple(value_range)}")
    x = (np.clip(x, lo, hi) - lo) / (hi - lo)
    return np.round(x * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)


def _grid(tiles: list[np.ndarray | None], ncol: int, padding: int) -> np.ndarray:
    """Lay out ``(H, W, C)`` tiles row by row; ``None`` leaves a blank slot."""
    h, w, c = next(t for t in tiles if t is not None).shape
    nrows = math.ceil(len(tiles) / ncol)
    out = np.full((padding + nrows * (h + padding), padding + ncol * (w + padding), c), _PAD, np.uint8)
    for i, tile in enumerate(tiles):
        if tile is not None:
            r, q = divmod(i, ncol)
            top, left = padding + r * (h + padding), padding + q * (w + padding)
            out[top : top + h, left : left + w] = tile
    return out


def _save(grid: np.ndarray, path, scale: int):
    if scale < 1:
        raise AekitError(f"scale must be a whole number of at least 1, got {scale}")
    img = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


def save_image_grid(
    images,
    path,
    nrow: int = 8,
    value_range: tuple[float, float] = (0.0, 1.0),
    *,
    item_shape: tuple[int, ...] | None = None,
    padding: int = 2,
    scale: int = 1,
):
    """Save ``images`` as one PNG grid with ``nrow`` images per row; returns the path.

    ``scale`` enlarges every pixel to ``scale x scale`` (nearest neighbour) for small images.
    """
    x = _as_images(images, "images", item_shape, value_range)
    if nrow < 1 or padding < 0:
        raise AekitError(f"nrow must be at least 1 and padding at least 0, got nrow={nrow}, padding={padding}")
    return _save(_grid(list(x), min(nrow, len(x)), padding), path, scale)


def save_reconstructions(
    x,
    x_hat,
    path,
    n: int = 10,
    *,
    nrow: int = 10,
    value_range: tuple[float, float] = (0.0, 1.0),
    item_shape: tuple[int, ...] | None = None,
    padding: int = 2,
    scale: int = 1,
):
    """Save the first ``n`` inputs with their reconstructions as a PNG; returns the path.

    Each row of ``nrow`` originals is followed by the row of their reconstructions, so every
    reconstruction sits directly below its original.
    """
    a = _as_images(x, "x", item_shape, value_range)
    b = _as_images(x_hat, "x_hat", item_shape, value_range)
    if a.shape != b.shape:
        raise AekitError(
            f"x gives images of shape {a.shape} but x_hat gives {b.shape}; pass reconstructions shaped like their inputs"
        )
    if n < 1 or nrow < 1 or padding < 0:
        raise AekitError(f"n and nrow must be at least 1 and padding at least 0, got n={n}, nrow={nrow}, padding={padding}")
    n = min(n, len(a))
    ncol = min(nrow, n)
    tiles: list[np.ndarray | None] = []
    for start in range(0, n, ncol):
        chunk = range(start, min(start + ncol, n))
        blanks = [None] * (ncol - len(chunk))
        tiles += [a[i] for i in chunk] + blanks + [b[i] for i in chunk] + blanks
    return _save(_grid(tiles, ncol, padding), path, scale)
