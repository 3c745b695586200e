"""Pixel scaling, padding and flattening: the few array transforms every loader shares.

Raw data arrive as numbers in a known range ``[low, high]`` (0..255 for 8-bit pixels, 0..16 for the
scikit-learn digits, -1..1 for the synthetic lines); ``rescale`` maps that range to [0, 1] ("01", the
natural range for a sigmoid/BCE decoder) or [-1, 1] ("pm1", tanh decoders, ACAI), or leaves it ("raw").
All functions are whole-array torch operations.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from aekit.data.dataset import SCALES
from aekit.errors import AekitError
from aekit.resources import check_memory


def check_scale(scale: str) -> str:
    """Return ``scale`` if valid, else raise an AekitError listing the choices."""
    if scale not in SCALES:
        raise AekitError(
            f"unknown scale {scale!r}; use '01' for [0, 1], 'pm1' for [-1, 1] or 'raw' to keep the values"
        )
    return scale


def rescale(x: np.ndarray | torch.Tensor, low: float, high: float, scale: str) -> torch.Tensor:
    """Map values in ``[low, high]`` to the range named by ``scale``; returns a new float32 tensor."""
    check_scale(scale)
    if isinstance(x, np.ndarray):  # one copy straight to float32 (also makes read-only buffers writable)
        t = torch.from_numpy(np.array(x, dtype=np.float32, copy=True))
    else:
        t = x.to(torch.float32, copy=True)
    if scale == "raw":
        return t
    if not high > low:
        raise AekitError(f"cannot rescale values whose range [{low}, {high}] is empty; pass scale='raw'")
    t.sub_(low).mul_(1.0 / (high - low))  # now in [0, 1]
    if scale == "pm1":
        t.mul_(2.0).sub_(1.0)
    return t


def background(scale: str, low: float = 0.0) -> float:
    """The value a raw ``low`` ("off" pixel) has after ``rescale``: 0 for "01", -1 for "pm1", ``low`` for "raw"."""
    check_scale(scale)
    return {"01": 0.0, "pm1": -1.0}.get(scale, float(low))


def pad_to(x: torch.Tensor, size: int | tuple[int, int], value: float = 0.0) -> torch.Tensor:
    """Pad the last two axes of ``x`` to ``size`` (an int for square), content centred, filled with ``value``.

    Used to put 28x28 MNIST on the 32x32 grid that stride-2 conv stacks expect (2 pixels each side). When
    the difference is odd the extra row/column goes to the bottom/right.
    """
    th, tw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if x.ndim < 2:
        raise AekitError(f"pad_to needs images (..., H, W), got shape {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h > th or w > tw:
        raise AekitError(f"cannot pad {h}x{w} images to {th}x{tw}: the target is smaller; choose a pad size >= {max(h, w)}")
    check_memory(f"padding {h}x{w} images to {th}x{tw}", math.prod(x.shape[:-2]) * th * tw * x.element_size(),
                 f"choose a pad size near the images' own ({max(h, w)})")
    top, left = (th - h) // 2, (tw - w) // 2
    return F.pad(x, (left, tw - w - left, top, th - h - top), mode="constant", value=float(value))


def flatten(x: torch.Tensor) -> torch.Tensor:
    """``(N, *item_shape)`` -> ``(N, D)``; a view when possible."""
    return x.reshape(x.shape[0], -1)
