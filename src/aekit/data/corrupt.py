"""Input corruptions for denoising autoencoders (Vincent, Larochelle, Bengio, Manzagol, "Extracting and
Composing Robust Features with Denoising Autoencoders", ICML 2008; Vincent et al., JMLR 2010, section 4.1).

* ``gaussian``: additive isotropic noise of standard deviation ``sigma``;
* ``masking``: a fixed fraction of each example's values, chosen at random, forced to 0 ("off");
* ``salt_and_pepper``: a fixed fraction of each example's values set to the minimum or maximum of the data
  range by a fair coin flip.

The fraction is exact per example (``round(fraction * D)`` values), as in the papers, rather than a
Bernoulli draw per value, so every example is corrupted by the same amount. All functions are batched
torch operations on the input's device; pass a ``torch.Generator`` for reproducible noise (None uses
torch's global RNG). The input is never modified in place.
"""

from __future__ import annotations

import torch

from aekit.errors import AekitError

KINDS = ("none", "gaussian", "masking", "salt_and_pepper")


def _fraction(value: float, kind: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise AekitError(f"{kind} corruption level is a fraction of the inputs; it must lie in [0, 1], got {value}")
    return float(value)


def _pick(x: torch.Tensor, fraction: float, generator: torch.Generator | None) -> torch.Tensor:
    """Bool mask shaped like ``x`` selecting exactly round(fraction * D) values of each example."""
    n = x.shape[0]
    d = x[0].numel() if n else 0
    k = int(round(fraction * d))
    if k == 0 or n == 0:
        return torch.zeros_like(x, dtype=torch.bool)
    keys = torch.rand((n, d), generator=generator, device=x.device)
    chosen = keys.topk(k, dim=1, largest=False).indices  # (n, k): a uniform random k-subset of each row
    mask = torch.zeros((n, d), dtype=torch.bool, device=x.device)
    return mask.scatter_(1, chosen, True).reshape(x.shape)


def gaussian(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None, clip: tuple[float, float] | None = None
) -> torch.Tensor:
    """``x + sigma * N(0, 1)``; ``clip=(low, high)`` keeps the result in the data range."""
    if not float(sigma) >= 0.0:
        raise AekitError(f"gaussian corruption needs a standard deviation sigma >= 0, got {sigma}")
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    out = x + float(sigma) * noise
    return out.clamp(clip[0], clip[1]) if clip is not None else out


def masking(
    x: torch.Tensor, fraction: float, generator: torch.Generator | None = None, value: float = 0.0
) -> torch.Tensor:
    """Set exactly ``round(fraction * D)`` randomly chosen values of each example to ``value`` (0: "off")."""
    mask = _pick(x, _fraction(fraction, "masking"), generator)
    return x.masked_fill(mask, float(value))


def salt_and_pepper(
    x: torch.Tensor,
    fraction: float,
    low: float = 0.0,
    high: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Set exactly ``round(fraction * D)`` values of each example to ``low`` or ``high`` (a fair coin each)."""
    if not high > low:
        raise AekitError(f"salt_and_pepper needs low < high (the data range), got low={low}, high={high}")
    mask = _pick(x, _fraction(fraction, "salt_and_pepper"), generator)
    coin = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
    salt = torch.where(coin, torch.as_tensor(high, dtype=x.dtype), torch.as_tensor(low, dtype=x.dtype))
    return torch.where(mask, salt.to(x.device), x)


def corrupt(
    x: torch.Tensor,
    kind: str,
    level: float,
    generator: torch.Generator | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Apply the corruption named ``kind`` at ``level`` (sigma for gaussian, a fraction otherwise).

    ``value_range`` is the range of the clean data ([0, 1] by default; (-1, 1) for "pm1" data): gaussian
    noise is clipped to it, salt-and-pepper uses its ends, and masking sets values to its lower end (the
    "off" value, which is 0 for [0, 1] data as in Vincent et al.). Unknown kinds raise an AekitError
    listing the valid ones. "salt-and-pepper" is accepted for "salt_and_pepper".
    """
    name = str(kind).strip().lower().replace("-", "_")
    low, high = float(value_range[0]), float(value_range[1])
    if name == "none":
        return x
    if name == "gaussian":
        return gaussian(x, level, generator, clip=(low, high))
    if name == "masking":
        return masking(x, level, generator, value=low)
    if name == "salt_and_pepper":
        return salt_and_pepper(x, level, low, high, generator)
    raise AekitError(f"unknown corruption {kind!r}; use one of {', '.join(KINDS)}")
