"""Reconstruction error: how far ``x_hat`` is from ``x``.

Protocol (Hinton & Salakhutdinov, 2006, *Reducing the dimensionality of data with neural
networks*): inputs are scaled to [0, 1]; the error of one example is the *sum* over its pixels of
the squared differences, and the reported number is that sum averaged over the examples. The
first axis always indexes examples; all other axes are features, whatever their shape.
"""

from __future__ import annotations

import numpy as np

from aekit.errors import AekitError

from ._arrays import as_float


def _pair(x, x_hat) -> tuple[np.ndarray, np.ndarray]:
    x = as_float(x, "x", min_ndim=2)
    x_hat = as_float(x_hat, "x_hat", min_ndim=2)
    if x.shape != x_hat.shape:
        raise AekitError(
            f"x has shape {tuple(x.shape)} but x_hat has shape {tuple(x_hat.shape)}; "
            "pass reconstructions shaped like their inputs"
        )
    return x.reshape(len(x), -1), x_hat.reshape(len(x_hat), -1)


def _per_example_sse(x, x_hat) -> np.ndarray:
    x, x_hat = _pair(x, x_hat)
    return np.square(x - x_hat).sum(axis=1)


def recon_sse(x, x_hat) -> float:
    """Per-example sum of squared errors, averaged over examples (Hinton & Salakhutdinov 2006).

    ``x`` and ``x_hat`` are arrays or tensors of the same shape ``(N, ...)``, inputs in [0, 1].
    """
    return float(_per_example_sse(x, x_hat).mean())


def recon_mse(x, x_hat) -> float:
    """Mean squared error over every element: ``recon_sse(x, x_hat) / D`` with ``D`` features per example."""
    x, x_hat = _pair(x, x_hat)
    return float(np.square(x - x_hat).mean())


def psnr(x, x_hat, data_range: float = 1.0, max_db: float | None = 100.0) -> float:
    """Peak signal-to-noise ratio in dB: the mean over examples of the per-example PSNR.

    For example ``i`` with mean squared error ``mse_i`` (over its pixels),
    ``psnr_i = 10 * log10(data_range**2 / mse_i)``; the result is ``mean_i psnr_i``. This is *not*
    the PSNR of the pooled MSE, which weights badly reconstructed examples differently.

    An exact reconstruction has ``mse_i = 0`` and infinite PSNR. Each per-example value is capped
    at ``max_db`` (default 100 dB, i.e. an RMS error of 1e-5 of the range) so one perfect example
    cannot make the mean infinite; pass ``max_db=None`` to get ``inf`` instead.
    """
    if not np.isfinite(data_range) or data_range <= 0:
        raise AekitError(f"data_range must be a positive number (the span of pixel values), got {data_range}")
    x, x_hat = _pair(x, x_hat)
    mse = np.square(x - x_hat).mean(axis=1)
    with np.errstate(divide="ignore"):
        per_example = 10.0 * np.log10(float(data_range) ** 2 / mse)
    if max_db is not None:
        per_example = np.minimum(per_example, float(max_db))
    return float(per_example.mean())
