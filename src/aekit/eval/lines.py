"""ACAI's interpolation metrics on the synthetic lines (Berthelot, Raffel, Roy, Goodfellow, "Understanding
and Improving Interpolation in Autoencoders via an Adversarial Regularizer", ICLR 2019; official code
brain-research/acai, ``lib/eval.py`` and ``AE.eval_custom_lines32`` in ``lib/train.py``).

An autoencoder trained on lines (:mod:`aekit.data.lines`) is asked to interpolate between two lines.
A good interpolation shows a line at every step (Mean Distance near 0) whose angle moves at a constant
speed from the first endpoint's angle to the second's (Smoothness near 0).

* A reference bank of 10,000 lines at angles ``linspace(0, 2 pi - 2 pi / 10000, 10000)``, rendered by
  :func:`aekit.data.lines.render_lines` (the official ``draw_line``), values in [-1, 1].
* Each image is matched to the reference with the smallest **cosine distance**
  ``1 - <u, v> / (|u| |v|)`` on the raw flattened pixels (scipy's ``cdist(..., 'cosine')``: no
  centring, no clipping of the image). Its angle and distance are that reference's angle and distance.
* Mean Distance: the mean nearest distance over every image of every interpolation, endpoints included
  (papers quote it x10^3). Reported beside it (not a published metric): the same mean over the
  endpoints alone, which for a trained model are its reconstructions of the two lines: it tells how
  much of a Mean Distance is reconstruction error rather than unrealistic images in between.
* Smoothness of one interpolation with angles theta_1..theta_N, after ``np.unwrap``:
  ``max_i |theta_{i+1} - theta_i| / |theta_N - theta_1| - 1 / (N - 1)``; 0 for constant speed, near
  ``1 - 1/(N-1)`` for a jump. It is undefined (NaN) when ``|theta_N - theta_1| < 1e-4``; the mean counts
  those as 0 (sum of the defined scores over the number of interpolations), and is NaN only when every
  interpolation is undefined.
* The official protocol (``evaluate_lines_model``): 2 x 256 random lines, codes of the first 256 paired
  with those of the last 256, 16 codes ``(z_a (N-1-k) + z_b k) / (N-1)`` for k = 0..N-1, every one
  decoded (raw decoder output).

Value ranges: the bank is in the renderer's range [-1, 1] (background -1, line +1), and the official code
compares decoder outputs in that range as they are. Cosine distance is *not* invariant to an affine
change of range, so images in another range must be mapped to [-1, 1] first: every function here takes
``value_range=(low, high)`` (default ``(-1, 1)``; ``(0, 1)`` for a model trained on lines scaled to [0, 1];
the names ``"pm1"`` and ``"01"`` of :mod:`aekit.data.transforms` are accepted too) and applies
``2 (x - low) / (high - low) - 1``. Values outside the range are not clipped, as in the official code.

Computed in float64 throughout, as the official code is (its ``draw_line`` renders in float64 and scipy's
``cdist`` computes in float64): the bank is rendered in float64 and every cosine is a float64 product. A
float32 bank or float32 cosines (~1e-7 error) decide near-ties differently and move Smoothness: a pixel
cross-fade to 3 pi / 2 scored 0.921 in float32 where the official code gives 0.940.

**Tie rule.** An image's nearest reference is the official one, ``argmin`` of scipy's float64 ``cdist``:
of equal distances, the first reference (the smallest angle). Exact and near ties are common: neighbouring
angles often render the same pixels, and a line and its mirror image are equally far from a blend of two
lines (to 1e-16, where the order of a sum decides). So every reference within ``TIE`` (1e-12, far above
float64 rounding and below any real difference between references, >= 1e-9 measured) of the smallest
distance of the fast float64 matrix product is re-scored with ``cdist`` itself, bit for bit the official
arithmetic, and its ``argmin`` decides.

Differences from the official code, none of which changes a result beyond rounding:

* an all-zero image (after mapping to [-1, 1]) has no cosine distance: it gets NaN and angle 0, which
  is what ``cdist`` + ``argmin`` give.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.spatial.distance import cdist

from aekit.data.lines import SIZE, random_angles, render_lines
from aekit.errors import AekitError
from aekit.eval._arrays import as_float
from aekit.inference import interpolate_pairs

N_REFERENCE = 10_000  # lines in the official reference bank
_CHUNK = 256  # queries per matrix product: a (256, 10000) float64 score block is 20 MB
TIE = 1e-12  # references this close to the smallest distance are re-scored as the official code does
_MIN_TOTAL = 1e-4  # smoothness is undefined below this endpoint angle difference (official threshold)

__all__ = [
    "ReferenceBank",
    "evaluate_lines_model",
    "interpolation_metrics",
    "nearest_angles",
    "reference_bank",
    "smoothness_scores",
]


class ReferenceBank(NamedTuple):
    angles: np.ndarray  # (n,) float64, linspace(0, 2 pi - 2 pi / n, n)
    images: torch.Tensor  # (n, 1, size, size) float64 in [-1, 1]; shared by every caller: do not modify


def reference_bank(n: int = N_REFERENCE, size: int = SIZE) -> ReferenceBank:
    """The ``n`` reference lines of the metric (cached: built once per ``(n, size)``)."""
    if int(n) < 2:
        raise AekitError(f"the reference bank needs n >= 2 lines, got {n}")
    return _bank(int(n), int(size))


@functools.lru_cache(maxsize=4)
def _bank(n: int, size: int) -> ReferenceBank:
    angles = np.linspace(0.0, 2 * np.pi - 2 * np.pi / n, n)
    return ReferenceBank(angles, render_lines(angles, size=size, dtype=np.float64))


@functools.lru_cache(maxsize=4)
def _squared_norms(n: int, size: int) -> torch.Tensor:
    return _bank(n, size).images.reshape(n, -1).pow(2).sum(dim=1)  # (n,) float64


def _range(value_range: Any) -> tuple[float, float]:
    named = {"pm1": (-1.0, 1.0), "01": (0.0, 1.0)}
    if isinstance(value_range, str):
        if value_range not in named:
            raise AekitError(f"unknown value_range {value_range!r}; use (low, high), 'pm1' or '01'")
        return named[value_range]
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise AekitError(f"value_range must be (low, high), e.g. (-1, 1) or (0, 1); got {value_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise AekitError(f"value_range must be finite with low < high, got {value_range!r}")
    return low, high


def _to_pm1(x: np.ndarray, value_range: Any) -> np.ndarray:
    low, high = _range(value_range)
    if (low, high) == (-1.0, 1.0):
        return x
    return (x - low) * (2.0 / (high - low)) - 1.0


def _flat_images(images: Any, name: str, lead: int) -> tuple[np.ndarray, int]:
    """``images`` as float64 ``(*lead dims, D)`` with D a square number of pixels; returns it and the side."""
    x = as_float(images, name, min_ndim=lead + 1)
    d = math.prod(x.shape[lead:])
    side = math.isqrt(d)
    if side * side != d or side < 4:
        raise AekitError(
            f"{name} has shape {tuple(x.shape)}: each image must be square, (1, H, H) or (H, H), "
            f"like the lines it is compared with"
        )
    # C-contiguous and writable so torch.from_numpy takes it as it is (copies only when it must)
    return np.require(x.reshape(*x.shape[:lead], d), np.float64, ["C", "W"]), side


def nearest_angles(images: Any, value_range: Any = (-1, 1), n_ref: int = N_REFERENCE) -> tuple[np.ndarray, np.ndarray]:
    """Angle (radians, in [0, 2 pi)) and cosine distance of the nearest reference line, per image.

    ``images``: ``(M, 1, H, H)``, ``(M, H, H)`` or ``(M, H*H)``, a numpy array or a tensor, with values in
    ``value_range`` (see the module docstring). Returns two float64 arrays of shape ``(M,)``.
    """
    x, side = _flat_images(images, "images", lead=1)  # (M, D)
    x = _to_pm1(x, value_range)
    bank = reference_bank(n_ref, side)
    n_ref = len(bank.angles)
    raw = bank.images.reshape(n_ref, -1)  # (n_ref, D) float64
    sq_ref = _squared_norms(n_ref, side)  # (n_ref,)
    raw_np = raw.numpy()
    best = np.empty(x.shape[0], np.int64)
    dist = np.empty(x.shape[0], np.float64)
    for start in range(0, x.shape[0], _CHUNK):
        q = torch.from_numpy(x[start : start + _CHUNK])  # (c, D) float64
        sq_q = q.pow(2).sum(dim=1)  # (c,)
        zero = sq_q == 0
        d = 1.0 - (q @ raw.T) / torch.sqrt(sq_q[:, None] * sq_ref[None, :])  # (c, n_ref): scipy's cosine form
        tied = d <= d.min(dim=1, keepdim=True).values + TIE  # (c, n_ref): all-False for an all-zero image
        for row, candidates in enumerate(tied.numpy()):
            i = start + row
            if zero[row]:  # no direction: scipy's distance is NaN and argmin of an all-NaN row is 0
                best[i], dist[i] = 0, float("nan")
                continue
            candidates = np.flatnonzero(candidates)  # ascending: argmin's first of equals is the smallest angle
            exact = cdist(x[i : i + 1], raw_np[candidates], "cosine")[0]  # the official arithmetic, bit for bit
            pick = int(exact.argmin())
            best[i], dist[i] = candidates[pick], min(max(exact[pick], 0.0), 2.0)
    return bank.angles[best], dist


def smoothness_scores(angles: Any) -> np.ndarray:
    """Smoothness of each interpolation from its angles ``(n_interp, N)`` -> ``(n_interp,)``, NaN where the
    unwrapped endpoint angles differ by less than 1e-4 (undefined)."""
    a = as_float(angles, "angles", min_ndim=1)
    a = np.atleast_2d(a)
    if a.ndim != 2 or a.shape[1] < 2:
        raise AekitError(f"angles has shape {tuple(a.shape)}; pass (n_interpolations, N) with N >= 2 steps")
    a = np.unwrap(a, axis=1)  # removes jumps larger than pi, e.g. 2 pi - 0.01 -> 0.02
    steps = np.abs(np.diff(a, axis=1))  # (n, N-1)
    total = np.abs(a[:, -1] - a[:, 0])  # (n,)
    undefined = total < _MIN_TOTAL
    with np.errstate(divide="ignore", invalid="ignore"):
        score = steps.max(axis=1) / total - 1.0 / (a.shape[1] - 1)
    score[undefined] = np.nan
    return score


def interpolation_metrics(images: Any, value_range: Any = (-1, 1), n_ref: int = N_REFERENCE) -> dict[str, Any]:
    """Mean Distance and Smoothness of interpolations ``(n_interp, N, 1, H, H)`` (or ``(n_interp, N, H, H)``)
    with values in ``value_range`` (see the module docstring); endpoints are part of the N images.

    Returns ``mean_distance``, ``mean_distance_x1e3`` (the paper's unit), ``endpoint_mean_distance_x1e3``
    (over the first and last image of each interpolation only), ``smoothness`` (undefined interpolations
    count as 0; NaN if all are undefined), ``smoothness_undefined`` (how many were), ``n_interpolations``
    and ``n_steps``.
    """
    x, _ = _flat_images(images, "images", lead=2)  # (n, N, D)
    n, steps = x.shape[:2]
    if steps < 2:
        raise AekitError(f"images has shape {tuple(np.shape(images))}; each interpolation needs N >= 2 images")
    angles, dist = nearest_angles(x.reshape(n * steps, -1), value_range, n_ref)
    scores = smoothness_scores(angles.reshape(n, steps))
    undefined = np.isnan(scores)
    smooth = float("nan") if undefined.all() else float(scores[~undefined].sum() / n)
    mean_distance = float(dist.mean())
    endpoints = dist.reshape(n, steps)[:, [0, -1]]
    return {
        "mean_distance": mean_distance,
        "mean_distance_x1e3": mean_distance * 1e3,
        "endpoint_mean_distance_x1e3": float(endpoints.mean()) * 1e3,
        "smoothness": smooth,
        "smoothness_undefined": int(undefined.sum()),
        "n_interpolations": int(n),
        "n_steps": int(steps),
    }


def evaluate_lines_model(
    model: torch.nn.Module,
    n_interp: int = 256,
    n_steps: int = 16,
    seed: int = 0,
    value_range: Any = (-1, 1),
    batch_size: int = 256,
) -> dict[str, Any]:
    """ACAI's lines benchmark for a trained autoencoder: interpolate between ``n_interp`` pairs of random
    lines in code space and score the decoded images with :func:`interpolation_metrics`.

    ``value_range`` is the range of the model's data: its inputs are rendered lines mapped from [-1, 1]
    to that range, and its decoded outputs are mapped back before the comparison (``(0, 1)`` for a model
    trained on ``scale="01"`` lines). The model runs in eval mode under ``torch.no_grad`` (its training
    flag is restored afterwards) on the device of its parameters. ``seed`` fixes the endpoint angles.
    """
    n_interp, n_steps, batch_size = int(n_interp), int(n_steps), int(batch_size)
    if n_interp < 1 or n_steps < 2 or batch_size < 1:
        raise AekitError(
            f"evaluate_lines_model needs n_interp >= 1, n_steps >= 2 and batch_size >= 1; "
            f"got {n_interp}, {n_steps}, {batch_size}"
        )
    low, high = _range(value_range)
    angles = random_angles(2 * n_interp, seed)
    x = render_lines(angles)  # (2n, 1, 32, 32) in [-1, 1]
    if (low, high) != (-1.0, 1.0):
        x = (x + 1.0) * ((high - low) / 2.0) + low  # the model's input range
    # first half paired with second half, as in the official code; aekit's one interpolation (ACAI's
    # linear formula, endpoints included), decoded in eval mode without gradients on the model's device
    decoded = interpolate_pairs(model, x[:n_interp], x[n_interp:], n_steps, "linear", batch_size)  # (n, N, *item)
    decoded = decoded.reshape(n_interp, n_steps, -1)  # (n, N, D)
    result = interpolation_metrics(decoded, value_range=(low, high))
    result.update({"seed": int(seed), "value_range": [low, high]})
    return result
