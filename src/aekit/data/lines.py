"""ACAI's synthetic lines (Berthelot, Raffel, Roy, Goodfellow, "Understanding and Improving Interpolation in
Autoencoders via an Adversarial Regularizer", ICLR 2019; official code brain-research/acai, lib/data.py,
``draw_line``).

A 32x32 image with background -1 and a line of value +1 from the centre (16, 16) out to radius 15 pixels
at an angle uniform in [0, 2 pi), 2 pixels wide, anti-aliased by pixel coverage. Angle 0 points right and
angles grow counter-clockwise (row = 16 - 15 sin a, column = 16 + 15 cos a). The ACAI interpolation metrics
compare decoded images with lines rendered by exactly this rule, so ``render_lines`` reproduces the
reference pixel for pixel, quirks included: the line steps one pixel at a time along its longer axis,
the 2-pixel width is measured along the other axis, the sample point of each step is offset by half a
pixel, and the outermost step always has full weight. It is vectorised over a batch of angles.

Labels are 10 angle bins, ``int(10 * angle / (2 pi - 1e-6))`` as in the reference (capped at 9 for the
vanishingly rare angle within 1e-6 of 2 pi, which the reference would put in an 11th bin).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from aekit.data.dataset import ArrayDataset
from aekit.data.transforms import check_scale, rescale
from aekit.data.batch import Batch
from aekit.errors import AekitError

SIZE = 32
WIDTH = 2.0
N_BINS = 10
CLASSES = [f"{360 * k // N_BINS}-{360 * (k + 1) // N_BINS}deg" for k in range(N_BINS)]
_CHUNK = 1024  # angles per vectorised step: keeps the temporaries (chunk x 18 x 4 indices, the canvas) in cache


def render_lines(angles: Any, size: int = SIZE, width: float = WIDTH, dtype: Any = np.float32) -> torch.Tensor:
    """Render one line per angle (radians) -> tensor (N, 1, size, size) with values in [-1, 1]: float32, or
    ``dtype=np.float64`` as the official ``draw_line`` does (the lines metric's reference bank)."""
    a = np.asarray(angles, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise AekitError("render_lines got NaN or infinite angles; pass finite angles in radians")
    if size < 4 or width <= 0:
        raise AekitError(f"render_lines needs size >= 4 and width > 0, got size={size}, width={width}")
    out = np.empty((a.size, 1, size, size), dtype)
    for start in range(0, a.size, _CHUNK):
        out[start : start + _CHUNK, 0] = _render_chunk(a[start : start + _CHUNK], size, float(width))
    return torch.from_numpy(out)


def _render_chunk(a: np.ndarray, size: int, width: float) -> np.ndarray:
    n = a.size
    c = size * 0.5
    col_end = c + (c - 1) * np.cos(-a)  # far end of the line; the near end is the centre (c, c)
    row_end = c + (c - 1) * np.sin(-a)
    # Step along the longer axis ("major"); the reference swaps axes when the line is more horizontal.
    horizontal = np.abs(c - row_end) < np.abs(c - col_end)
    maj0, maj1 = np.full(n, c), np.where(horizontal, col_end, row_end)
    min0, min1 = np.full(n, c), np.where(horizontal, row_end, col_end)
    back = maj1 < maj0  # always step towards larger major coordinates
    maj0, maj1 = np.where(back, maj1, maj0), np.where(back, maj0, maj1)
    min0, min1 = np.where(back, min1, min0), np.where(back, min0, min1)
    min0, min1 = min0 - width / 2, min1 - width / 2  # left edge of the band along the minor axis
    d_maj = maj1 - maj0
    slope = np.divide(min1 - min0, d_maj, out=np.zeros(n), where=d_maj != 0)

    # One step per major-axis pixel k: reference range(int(maj0), ceil(maj1)).
    steps = np.arange(int(size // 2) + 2)  # (K,) enough for a radius of size/2 - 1
    m = np.trunc(maj0)[:, None] + steps  # (n, K) major pixel index
    valid = m < np.ceil(maj1)[:, None]
    first_full = np.ceil(maj0)[:, None]
    last_full = np.trunc(maj1)[:, None]
    weight = np.where(m < first_full, first_full - maj0[:, None], np.where(m > last_full, maj1[:, None] - last_full, 1.0))
    xs = min0[:, None] + (m - maj0[:, None] - 0.5) * slope[:, None]  # band [xs, xe) on the minor axis
    xe = xs + width
    lo, hi = np.ceil(xs), np.trunc(xe)

    # Contributions per step (n, K, J+2): J fully covered pixels lo..hi-1, then the partial pixels at each end.
    j = np.arange(int(math.ceil(width)))
    minor = np.concatenate([lo[..., None] + j, np.trunc(xs)[..., None], hi[..., None]], axis=-1)
    cover = np.concatenate(
        [np.ones((n, len(steps), len(j))), (lo - xs)[..., None], (xe - hi)[..., None]], axis=-1
    )
    keep = np.concatenate([lo[..., None] + j < hi[..., None], (lo != xs)[..., None], (hi != xe)[..., None]], axis=-1)
    keep &= valid[..., None]
    major = np.broadcast_to(m[..., None], minor.shape)
    flip = horizontal[:, None, None]
    row = np.where(flip, minor, major).astype(np.int64)
    col = np.where(flip, major, minor).astype(np.int64)
    row[row < 0] += size  # the reference indexes numpy with Python ints: -1 means the last pixel
    col[col < 0] += size
    img = np.broadcast_to(np.arange(n)[:, None, None], minor.shape)
    flat = (img * size + row) * size + col
    value = 2.0 * weight[..., None] * cover
    canvas = np.bincount(flat[keep], weights=value[keep], minlength=n * size * size)
    np.minimum(canvas, 2.0, out=canvas)  # coverage is >= 0, so only the upper end needs clipping
    canvas -= 1.0
    return canvas.reshape(n, size, size)


def angle_labels(angles: Any) -> torch.Tensor:
    """The 10 angle bins of the ACAI probe: ``int(10 * angle / (2 pi - 1e-6))``, capped at 9 -> int64 (N,)."""
    a = np.asarray(angles, dtype=np.float64).reshape(-1)
    bins = np.floor(N_BINS * np.mod(a, 2 * np.pi) / (2 * np.pi - 1e-6)).astype(np.int64)
    return torch.from_numpy(np.minimum(bins, N_BINS - 1))


def random_angles(n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` angles uniform in [0, 2 pi) from a numpy generator (or seed)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.uniform(0.0, 2 * np.pi, size=int(n))


def lines(n: int, seed: int = 0, scale: str = "pm1", split: str = "train") -> ArrayDataset:
    """A fixed set of ``n`` random lines with angle-bin labels. ``split`` picks an independent stream per
    split (train and test never share draws for the same seed). The angles are kept in ``extra``."""
    check_scale(scale)
    if int(n) < 1:
        raise AekitError(f"lines needs n >= 1 images, got {n}")
    stream = {"train": 0, "test": 1}.get(split)
    if stream is None:
        raise AekitError(f"unknown split {split!r} for lines; use 'train' or 'test'")
    angles = random_angles(n, np.random.default_rng([stream, int(seed)]))
    x = rescale(render_lines(angles), -1.0, 1.0, scale)
    return ArrayDataset(
        x, angle_labels(angles), name="lines", classes=list(CLASSES), scale=scale, split=split,
        source="synthetic", extra={"seed": int(seed), "evaluations": ["lines"]},  # ACAI's scores (aekit.evaluate)
    )


class LinesStream:
    """An infinite source of fresh random lines, for training as in ACAI (every batch is new data).

    ``next_batch(batch_size, generator)`` returns a ``Batch`` of images ``x`` (B, 1, 32, 32) and their angle
    bins ``y``, as every stream does; ``next_labelled`` returns the two tensors. ``generator`` is a ``torch.Generator`` (None: torch's global RNG), so a training loop's seed
    fixes the stream.
    """

    name = "lines"
    classes = list(CLASSES)
    n_classes = N_BINS
    frontend = None  # rendered images need no front end

    def __init__(self, scale: str = "pm1", size: int = SIZE):
        self.scale = check_scale(scale)
        self.size = int(size)

    @property
    def item_shape(self) -> tuple[int, int, int]:
        return (1, self.size, self.size)

    def next_labelled(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh images and their angle bins."""
        if int(batch_size) < 1:
            raise AekitError(f"batch_size must be >= 1, got {batch_size}")
        angles = torch.rand(int(batch_size), generator=generator, dtype=torch.float64).numpy() * (2 * np.pi)
        x = rescale(render_lines(angles, self.size), -1.0, 1.0, self.scale)
        return x, angle_labels(angles)

    def next_batch(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Fresh images ``x`` (B, 1, size, size) and their angle bins ``y`` (B,)."""
        x, y = self.next_labelled(batch_size, generator)
        return Batch(x=x, y=y)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "n": None, "item_shape": list(self.item_shape), "n_classes": N_BINS,
                "classes": self.classes, "labelled": True, "scale": self.scale, "source": "synthetic (infinite)"}


def iter_lines(batch_size: int, seed: int = 0, scale: str = "pm1") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, angle bins) batches forever; the same seed gives the same stream."""
    stream = LinesStream(scale)
    g = torch.Generator().manual_seed(int(seed))
    while True:
        yield stream.next_labelled(batch_size, g)
