"""Generation and interpolation in code space: what a decoder makes of codes that no input produced.

* :func:`interpolate` / :func:`interpolate_pairs`: encode two items, walk from one code to the other in
  ``steps`` codes (endpoints included) and decode every one. ``linear`` is ACAI's protocol (Berthelot et
  al., ICLR 2019): ``z_k = (z_a (N-1-k) + z_b k) / (N-1)``, k = 0..N-1; ``slerp`` walks the great circle
  between the codes (Shoemake 1985; White, "Sampling Generative Networks", 2016), which keeps the norm of
  codes of equal norm where a straight line would pass closer to the origin than any code the prior
  draws. The endpoints are ``decode(encode(a))`` and ``decode(encode(b))`` exactly. This is the one
  implementation: the lines benchmark (:func:`aekit.eval.lines.evaluate_lines_model`) calls it too.
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
from aekit.errors import AekitError
from aekit.models.base import require

METHODS = ("linear", "slerp")
GRID_PERCENTILES = (2.0, 98.0)  # other models: these percentiles of the data's codes span it
_PARALLEL = 1e-6  # below this sin(angle) between two codes slerp is ill-defined: it falls back to linear

__all__ = ["METHODS", "check_2d_code", "generate", "grid_codes", "has_prior", "interpolate", "interpolate_pairs",
           "latent_map", "mix_codes", "picture_range", "read_item"]


# ---- interpolation -----------------------------------------------------------------------------------
def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or int(steps) < 2:
        raise AekitError(f"steps must be a whole number of at least 2 (the two endpoints), got {steps!r}")
    return int(steps)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise AekitError(f"unknown interpolation method {method!r}: use {' or '.join(METHODS)}")
    return method


def mix_codes(z_a: torch.Tensor, z_b: torch.Tensor, steps: int = 16, method: str = "linear") -> torch.Tensor:
    """``steps`` codes from each ``z_a[i]`` to ``z_b[i]``, endpoints included: ``(n, *code)`` x 2 ->
    ``(n, steps, *code)``, in the codes' dtype. Row 0 is ``z_a`` and row ``steps - 1`` is ``z_b`` exactly."""
    steps, method = _check_steps(steps), _check_method(method)
    if z_a.shape != z_b.shape:
        raise AekitError(f"codes of shape {tuple(z_a.shape)} and {tuple(z_b.shape)} cannot be interpolated: "
                         f"pass two batches of the same shape")
    n, code = z_a.shape[0], z_a.shape[1:]
    a, b = z_a.reshape(n, 1, -1), z_b.reshape(n, 1, -1)  # (n, 1, K): slerp treats a code as one vector
    k = torch.arange(steps, dtype=a.dtype, device=a.device).reshape(1, steps, 1)  # (1, N, 1)
    # ACAI's formula, not z_a + t (z_b - z_a): the official lines benchmark is defined with it
    codes = (a * (steps - 1 - k) + b * k) / (steps - 1)  # (n, N, K)
    if method == "slerp":
        a64, b64 = a[:, 0].double(), b[:, 0].double()  # (n, K); float64: arccos is steep near +-1
        cos = (a64 * b64).sum(1) / (a64.norm(dim=1) * b64.norm(dim=1)).clamp_min(1e-300)
        omega = torch.arccos(cos.clamp(-1.0, 1.0))[:, None]  # (n, 1) angle between the codes
        t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64, device=a.device)[None]  # (1, N)
        sin = torch.sin(omega)
        ok = sin[:, 0] > _PARALLEL  # (anti)parallel or zero codes: no unique great circle; keep linear
        wa = torch.sin((1 - t) * omega) / sin.clamp_min(_PARALLEL)  # (n, N)
        wb = torch.sin(t * omega) / sin.clamp_min(_PARALLEL)
        arc = (wa[:, :, None] * a64[:, None] + wb[:, :, None] * b64[:, None]).to(a.dtype)  # (n, N, K)
        codes = torch.where(ok[:, None, None], arc, codes)
    codes[:, 0], codes[:, -1] = a[:, 0], b[:, 0]  # exact endpoints (the formulas agree up to rounding)
    return codes.reshape(n, steps, *code)


def _as_batch(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise AekitError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")
    return x.float() if not x.is_floating_point() else x


def interpolate_pairs(model, a, b, steps: int = 16, method: str = "linear", batch_size: int = 2048) -> torch.Tensor:
    """Decoded interpolations between ``a[i]`` and ``b[i]`` for every pair: ``(n, *item)`` x 2 ->
    ``(n, steps, *item)`` float32 on the CPU (``item`` is the model's input shape)."""
    require(model, "decode", "interpolation")
    steps, method = _check_steps(steps), _check_method(method)
    a, b = _as_batch(a, "a"), _as_batch(b, "b")
    if a.shape != b.shape:
        raise AekitError(f"cannot interpolate between items of shape {tuple(a.shape[1:])} and "
                         f"{tuple(b.shape[1:])} ({a.shape[0]} and {b.shape[0]} of them): pass pairs of items "
                         f"of the same shape, the shape the model was trained on")
    z_a, z_b = inference.encode(model, a, batch_size), inference.encode(model, b, batch_size)  # (n, *code)
    codes = mix_codes(z_a, z_b, steps, method)  # (n, N, *code)
    n = codes.shape[0]
    decoded = inference.decode(model, codes.reshape(n * steps, *codes.shape[2:]), batch_size)  # (n N, *item)
    return decoded.reshape(n, steps, *decoded.shape[1:])


def interpolate(model, a, b, steps: int = 16, method: str = "linear") -> torch.Tensor:
    """Decoded interpolation from item ``a`` to item ``b`` (each of the model's input shape): ``steps``
    images ``(steps, *item)``, the first ``decode(encode(a))``, the last ``decode(encode(b))``."""
    a, b = _as_batch(a, "a"), _as_batch(b, "b")
    if a.shape != b.shape:
        raise AekitError(f"cannot interpolate between items of shape {tuple(a.shape)} and {tuple(b.shape)}: "
                         f"pass two items of the same shape, the shape the model was trained on")
    return interpolate_pairs(model, a[None], b[None], steps, method)[0]


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
    k = math.prod(model.code_shape)
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
        try:
            x = np.load(path, allow_pickle=False)  # never pickle
        except (ValueError, OSError) as e:
            raise AekitError(f"cannot read {name} {path} as a numeric .npy file ({e})") from None
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
