"""Generation and interpolation in code space: what a decoder makes of codes that no input produced.

* :func:`interpolate` / :func:`interpolate_pairs` / :func:`mix_codes`: encode two items, walk from one code
  to the other in ``steps`` codes (endpoints included) and decode every one (``linear``, ACAI's protocol, or
  ``slerp``). They live in :mod:`aekit.inference`, below both the apps and evaluation, so that the lines
  benchmark (:func:`aekit.eval.lines.evaluate_lines_model`) calls the same implementation without
  importing an app; they are re-exported here.
* :func:`generate`: decode ``n`` codes drawn from the model's prior (``model.sample_prior``).
* :func:`grid_codes` / :func:`latent_map`: an evenly spaced ``G x G`` grid over a 2-D code, decoded:
  the lecture's picture of what each region of the code space draws (Kingma & Welling 2014, fig. 4).
  With a prior, the axes are Gaussian quantiles ``Phi^-1(linspace(0.05, 0.95, G))``; without one they
  span the 2nd..98th percentiles of the codes of some data.

Everything runs in eval mode without gradients (through :mod:`aekit.inference`), in batches, on the
model's device; results come back as float32 CPU tensors.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit import inference
from aekit.data.npyfile import load_npy
from aekit.errors import AekitError
from aekit.inference import METHODS, interpolate, interpolate_pairs, mix_codes  # noqa: F401  (re-exported)
from aekit.models.base import code_size, require

GRID_PERCENTILES = (2.0, 98.0)  # other models: these percentiles of the data's codes span it

__all__ = ["METHODS", "check_2d_code", "generate", "grid_codes", "has_prior", "interpolate", "interpolate_pairs",
           "latent_map", "mix_codes", "picture_range", "read_item"]


# ---- generation --------------------------------------------------------------------------------------
def has_prior(model) -> bool:
    """Whether the model declares a prior to draw codes from (capability "sample")."""
    return model.can("sample")


def generate(model, n: int = 64, seed: int = 0) -> torch.Tensor:
    """Decode ``n`` codes drawn from the model's prior with a generator seeded by ``seed``: ``(n, *item)``.

    Raises :class:`AekitError` for a model without a prior (a plain autoencoder has none)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 1:
        raise AekitError(f"n must be a whole number of at least 1 samples, got {n!r}")
    require(model, "sample", "generating")
    require(model, "decode", "generating")
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        z = model.sample_prior(int(n), generator)  # (n, *code)
    return inference.decode(model, z)


def check_2d_code(model) -> None:
    """Refuse a model whose code is not 2-d, or that cannot decode: a latent grid is a picture of a plane."""
    require(model, "decode", "a latent grid")
    k = code_size(model, "a latent grid")
    if k != 2:
        raise AekitError(f"a latent grid needs a 2-d code, but model {model.name!r} has {k}-d codes "
                         f"(code_shape {tuple(model.code_shape)}): train one with --latent-dim 2")


PRIOR_SAMPLES = 10_000  # prior samples whose percentiles span a grid


def grid_codes(model, size: int = 15, codes: torch.Tensor | None = None) -> torch.Tensor:
    """``size * size`` evenly spaced 2-d codes ``(size*size, 2)``, row by row: columns go along the first
    code axis (left to right, increasing), rows along the second (top to bottom, decreasing, as on a plot).

    Each axis spans the 2nd..98th percentiles of codes: of 10,000 samples of the model's prior when it
    has one (a Gaussian, a mixture, a VQ codebook: whatever the prior is), else of ``codes`` (codes of
    data, ``(N, 2)``, required then).
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or int(size) < 2:
        raise AekitError(f"the grid needs at least 2 x 2 codes, got size {size!r}")
    size = int(size)
    check_2d_code(model)
    if has_prior(model):
        codes = model.sample_prior(PRIOR_SAMPLES, generator=torch.Generator().manual_seed(0))
    if codes is None:
        raise AekitError("the model has no prior: pass codes of data to span the grid (codes=...)")
    c = codes.reshape(codes.shape[0], -1).double().cpu()  # (N, 2)
    if c.shape[1] != 2 or c.shape[0] < 1:
        raise AekitError(f"codes of shape {tuple(codes.shape)} do not span a 2-d grid: pass (N, 2) codes")
    lo = torch.quantile(c, GRID_PERCENTILES[0] / 100, dim=0)
    hi = torch.quantile(c, GRID_PERCENTILES[1] / 100, dim=0)
    x_axis = torch.linspace(float(lo[0]), float(hi[0]), size)
    y_axis = torch.linspace(float(lo[1]), float(hi[1]), size)
    rows, cols = torch.meshgrid(y_axis.flip(0), x_axis, indexing="ij")  # (G, G) each; top row = largest z2
    return torch.stack([cols, rows], dim=-1).reshape(size * size, 2)


def latent_map(model, size: int = 15, codes: torch.Tensor | None = None) -> torch.Tensor:
    """The decoded :func:`grid_codes`: ``(size*size, *item)``, row by row."""
    grid = grid_codes(model, size, codes)  # (G*G, 2)
    return inference.decode(model, grid.reshape(grid.shape[0], *model.code_shape))


# ---- items and pictures (what the CLI reads and draws) -----------------------------------------------
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def picture_range(scale: str | None, recorded: Any = None) -> tuple[float, float]:
    """The value range a picture maps to black..white: [0, 1] for scale "01", [-1, 1] for "pm1", else the
    range recorded with the data (``[min, max]``), else [0, 1]."""
    if scale == "pm1":
        return (-1.0, 1.0)
    if scale == "01" or scale is None:
        return (0.0, 1.0)
    try:
        lo, hi = (float(v) for v in recorded)
        if hi > lo:
            return (lo, hi)
    except (TypeError, ValueError):
        pass
    return (0.0, 1.0)


def read_item(path: str | Path, input_shape: tuple[int, ...], scale: str = "01", name: str = "item") -> torch.Tensor:
    """One item for a model of ``input_shape`` from a file: ``(*input_shape)`` float32.

    * An image (png, jpg, ...): converted to the model's channels (grey or RGB; alpha dropped) and its
      8-bit pixels mapped to ``scale`` ("01", "pm1", or "raw" = 0..255). Its size must be the model's:
      images are **not resized** (a resized item would not be the item the user named).
    * A ``.npy`` holding one item (``input_shape``, ``(1, *input_shape)`` or the same number of values),
      taken as it is: it must already be in the model's value range.
    """
    from aekit.data.transforms import rescale

    path = Path(path)
    shape = tuple(int(s) for s in input_shape)
    if not path.is_file():
        raise AekitError(f"{name} {path} is neither an item id (a whole number) nor an existing .npy or image file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        x = load_npy(path)  # never pickle; the header is checked against the file before numpy allocates
        if x.dtype.kind not in "biuf":
            raise AekitError(f"{name} {path} holds {x.dtype} values, not numbers")
        if x.shape not in (shape, (1, *shape)) and x.size != math.prod(shape):
            raise AekitError(f"{name} {path} holds an array of shape {x.shape} but the model takes items of shape "
                             f"{shape}: interpolate between items of the model's shape")
        if not np.isfinite(x).all():
            raise AekitError(f"{name} {path} contains NaN or infinite values")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(shape)
    if suffix not in IMAGE_SUFFIXES:
        raise AekitError(f"{name} {path} is not a .npy or an image file ({', '.join(IMAGE_SUFFIXES)})")
    from PIL import Image

    from aekit.data.images import decode_image

    pixels = decode_image(path.read_bytes(), str(path))  # (h, w, c) uint8, c in 1..4
    if len(shape) == 3 and shape[0] in (1, 3):
        channels, size = shape[0], shape[1:]
    elif len(shape) == 2:
        channels, size = 1, shape
    else:
        side = math.isqrt(math.prod(shape))
        if len(shape) != 1 or side * side != shape[0]:
            raise AekitError(f"the model takes items of shape {shape}, not images: pass {name} as a .npy")
        channels, size = 1, (side, side)
    h, w = pixels.shape[:2]
    if (h, w) != tuple(size):
        raise AekitError(f"{name} {path} is a {h}x{w} image but the model takes {size[0]}x{size[1]} images: "
                         f"resize it first (aekit does not resize items)")
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    x = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)  # (h, w) or (h, w, 3)
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)  # (C, h, w)
    return rescale(x, 0.0, 255.0, scale).reshape(shape)
