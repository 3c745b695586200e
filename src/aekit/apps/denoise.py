"""Denoising with an autoencoder: the reconstruction of a noisy item is the model's guess at the clean one.

A denoising autoencoder (Vincent et al., "Extracting and Composing Robust Features with Denoising
Autoencoders", ICML 2008; "Stacked Denoising Autoencoders", JMLR 2010) is trained to map corrupted
inputs back to clean ones, so ``model.reconstruct(noisy)`` removes noise of the kind it was trained on;
any autoencoder does so to the extent that noise lies off the manifold its code describes.

* :func:`read_inputs`: what ``aekit denoise`` reads: one image file, a folder of images (searched
  recursively) or a ``.npy`` array of items. Images are read by :func:`aekit.apps.generate.read_item`:
  converted to the model's channels, pixels mapped to the run's scale, **not resized** (an image of another
  size is refused, naming the size the model takes). Arrays are taken as they are (the model's value range).
* :func:`parse_noise`: ``"gaussian:0.3"`` / ``"masking:0.25"`` / ``"salt_and_pepper:0.1"`` ->
  ``(kind, level)`` for :func:`aekit.data.corrupt`.
* :func:`denoise`: optionally corrupt (seeded), then reconstruct, in batches without gradients.
* :func:`write_outputs` / :func:`save_comparison`: PNGs or ``.npy`` matching the input, and a picture
  with the clean, noisy and denoised items in rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from aekit import inference
from aekit.apps.generate import IMAGE_SUFFIXES, read_item
from aekit.atomic import atomic_path
from aekit.data.npyfile import load_npy
from aekit.errors import AekitError

__all__ = ["Denoised", "Inputs", "denoise", "parse_noise", "read_inputs", "save_comparison",
           "check_picture_items", "write_outputs"]


@dataclass
class Inputs:
    """Items read for denoising: ``x`` ``(N, *input_shape)`` float32, and how to write them back."""

    x: torch.Tensor
    kind: str  # "image" (one file), "folder" (many image files) or "array" (a .npy)
    names: list[str]  # relative paths of the images (folder), the file name (image), [] for an array
    array_shape: tuple[int, ...] = ()  # the .npy's own shape, restored on output


def _read_array(path: Path, shape: tuple[int, ...]) -> tuple[torch.Tensor, tuple[int, ...]]:
    """The items of a .npy, ``(N, *shape)``, and the array's own shape."""
    a = load_npy(path)  # never pickle; the header is checked against the file before numpy allocates
    if a.dtype.kind not in "biuf":
        raise AekitError(f"INPUT {path} holds {a.dtype} values, not numbers")
    stored = tuple(a.shape)
    if a.shape == shape:  # one item
        a = a[None]
    if a.ndim < 1 or a.shape[0] == 0 or a.size == 0:
        raise AekitError(f"INPUT {path} is empty (an array of shape {a.shape}): it needs at least one item")
    if math.prod(a.shape[1:]) != math.prod(shape):
        raise AekitError(f"INPUT {path} holds an array of shape {a.shape} but the model takes items of shape "
                         f"{shape}: pass an array (N, {', '.join(map(str, shape))})")
    if not np.isfinite(a).all():
        raise AekitError(f"INPUT {path} contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).reshape(a.shape[0], *shape), stored


def read_inputs(path: str | Path, input_shape, scale: str = "01") -> Inputs:
    """Read an image file, a folder of images or a ``.npy`` of items for a model of ``input_shape``."""
    path = Path(path)
    shape = tuple(int(s) for s in input_shape)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise AekitError(f"INPUT folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
                             f"pass a folder of images, an image file or a .npy array")
        x = torch.stack([read_item(f, shape, scale, "INPUT") for f in files])  # (N, *shape)
        return Inputs(x, "folder", [str(f.relative_to(path)) for f in files])
    if not path.is_file():
        raise AekitError(f"INPUT {path} does not exist: pass an image file, a folder of images or a .npy array")
    if path.suffix.lower() == ".npy":
        x, stored = _read_array(path, shape)
        return Inputs(x, "array", [], stored)
    if path.stat().st_size == 0:
        raise AekitError(f"INPUT {path} is an empty file: pass an image, a folder of images or a .npy array")
    return Inputs(read_item(path, shape, scale, "INPUT")[None], "image", [path.name])


NOISES = ("gaussian", "masking", "salt_and_pepper")


def parse_noise(spec: str) -> tuple[str, float]:
    """``"KIND:LEVEL"`` (e.g. ``gaussian:0.3``, ``masking:0.25``) -> ``(kind, level)``, checked."""
    from aekit.data.corrupt import corrupt

    kind, sep, level = str(spec).partition(":")
    kind = kind.strip().lower().replace("-", "_")
    try:
        value = float(level)
    except ValueError:
        value = None
    if not sep or kind not in NOISES or value is None:
        raise AekitError(f"--noise must be KIND:LEVEL with KIND one of {', '.join(NOISES)} (e.g. gaussian:0.3, "
                         f"masking:0.25), got {spec!r}")
    corrupt(torch.zeros(1, 1), kind, value)  # a bad level fails here, with corrupt's own message
    return kind, value


class Denoised(NamedTuple):
    noisy: torch.Tensor  # (N, *item): the input, corrupted when noise was asked for
    denoised: torch.Tensor  # (N, *item): the model's reconstruction of ``noisy``


def denoise(model, x: torch.Tensor, noise: tuple[str, float] | None = None, seed: int = 0,
            value_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 2048) -> Denoised:
    """Corrupt ``x`` with ``noise`` = ``(kind, level)`` (None: leave it), then reconstruct it."""
    from aekit.data.corrupt import corrupt

    noisy = x
    if noise is not None:
        noisy = corrupt(x, noise[0], noise[1], torch.Generator().manual_seed(int(seed)), value_range)
    return Denoised(noisy, inference.reconstruct(model, noisy, batch_size))


def check_picture_items(input_shape) -> None:
    """Refuse, before any work, to draw items that are not images: (C, H, W) with C = 1 or 3, (H, W), or a
    flat square (what :func:`aekit.eval.save_image_grid` draws without an item shape)."""
    shape = tuple(int(s) for s in input_shape)
    if (len(shape) == 3 and shape[0] in (1, 3)) or len(shape) == 2 or (
            len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]):
        return
    raise AekitError(f"items of shape {shape} are not pictures: write --out FILE.npy and no --compare")


def write_outputs(out: str | Path, inputs: Inputs, images: torch.Tensor,
                  value_range: tuple[float, float]) -> list[Path]:
    """Write ``images`` (``(N, *item)``) like the input: one PNG, a folder of PNGs (same relative names,
    suffix ``.png``) or a ``.npy`` of the input array's shape. ``out`` ending in ``.npy`` always gets the array."""
    from aekit.eval import save_image_grid

    out = Path(out)
    if out.suffix.lower() == ".npy":
        shape = inputs.array_shape if inputs.kind == "array" else tuple(images.shape)
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, images.numpy().reshape(shape))
        return [out]
    check_picture_items(images.shape[1:])
    if inputs.kind == "image":
        return [save_image_grid(images[:1], out, nrow=1, value_range=value_range, padding=0)]
    written = []
    for name, image in zip(inputs.names, images):
        target = (out / name).with_suffix(".png")
        written.append(save_image_grid(image[None], target, nrow=1, value_range=value_range, padding=0))
    return written


def save_comparison(path: str | Path, rows: list[torch.Tensor], value_range: tuple[float, float],
                    n: int = 8, zoom: int = 1) -> Path:
    """A PNG with one row per tensor in ``rows`` (e.g. clean, noisy, denoised), the first ``n`` items each."""
    from aekit.eval import save_image_grid

    n = max(1, min(n, rows[0].shape[0]))
    grid = torch.cat([r[:n] for r in rows])  # (len(rows) * n, *item): row by row
    return save_image_grid(grid, path, nrow=n, value_range=value_range, scale=zoom)
