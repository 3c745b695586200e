"""Batched, gradient-free passes over a whole dataset (what maps, search and evaluation call).

* :func:`encode`, :func:`reconstruct`, :func:`decode`: one pass of the model over every item (or code).
* :func:`interpolate` / :func:`interpolate_pairs`: encode two items, walk from one code to the other in
  ``steps`` codes (endpoints included, :func:`mix_codes`) and decode every one. ``linear`` is ACAI's
  protocol (Berthelot et al., ICLR 2019): ``z_k = (z_a (N-1-k) + z_b k) / (N-1)``, k = 0..N-1; ``slerp``
  walks the great circle between the codes (Shoemake 1985; White, "Sampling Generative Networks", 2016),
  which keeps the norm of codes of equal norm where a straight line would pass closer to the origin than
  any code the prior draws. The endpoints are ``decode(encode(a))`` and ``decode(encode(b))`` exactly.
  This is the one implementation: ``aekit interpolate`` (:mod:`aekit.apps.generate`) and the lines
  benchmark (:func:`aekit.eval.lines.evaluate_lines_model`) both call it.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from aekit.errors import AekitError
from aekit.models.base import require

METHODS = ("linear", "slerp")
_PARALLEL = 1e-6  # below this sin(angle) between two codes slerp is ill-defined: it falls back to linear


def _device(model) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model):
    """The model in eval mode for the block. A model already in eval mode (every model ``aekit.load`` returns,
    and every one training has finished) is left untouched, so any number of threads may run inference on it
    at once; only a model caught in training mode is switched, and switched back after."""
    if not model.training:
        yield
        return
    model.eval()
    try:
        yield
    finally:
        model.train(True)


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    # bf16/fp16 outputs of mixed precision come back as float32; a float64 model's stay float64
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _in_batches(fn, model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = _device(model)
    with torch.no_grad(), eval_mode(model):
        return torch.cat([_at_least_float32(fn(x[i:i + batch_size].to(device))).cpu()
                          for i in range(0, x.shape[0], batch_size)])


def batched(fn, model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``fn`` over ``x`` in batches: eval mode, no gradients, on the model's device, input shape checked;
    the results are concatenated on the CPU in float32, or float64 for a model run in float64 (encode,
    reconstruct, classifier logits, anomaly scores)."""
    model.check_input(x)
    return _in_batches(fn, model, x, batch_size)


def encode(model, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Codes of every item of ``x`` (``(N, *latent_shape)``), in eval mode, on the CPU."""
    return batched(model.encode, model, x, batch_size)


def reconstruct(model, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Reconstructions of every item of ``x``, same shape as ``x``."""
    require(model, "decode", "reconstruction")
    # model.reconstruct, not decode(encode(x)): unpooling decoders use the input's own pooling indices.
    return batched(model.reconstruct, model, x, batch_size).reshape(x.shape)


def decode(model, z: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    require(model, "decode", "decoding")
    return _in_batches(model.decode, model, z, batch_size)


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
    z_a, z_b = encode(model, a, batch_size), encode(model, b, batch_size)  # (n, *code)
    codes = mix_codes(z_a, z_b, steps, method)  # (n, N, *code)
    n = codes.shape[0]
    decoded = decode(model, codes.reshape(n * steps, *codes.shape[2:]), batch_size)  # (n N, *item)
    return decoded.reshape(n, steps, *decoded.shape[1:])


def interpolate(model, a, b, steps: int = 16, method: str = "linear") -> torch.Tensor:
    """Decoded interpolation from item ``a`` to item ``b`` (each of the model's input shape): ``steps``
    images ``(steps, *item)``, the first ``decode(encode(a))``, the last ``decode(encode(b))``."""
    a, b = _as_batch(a, "a"), _as_batch(b, "b")
    if a.shape != b.shape:
        raise AekitError(f"cannot interpolate between items of shape {tuple(a.shape)} and {tuple(b.shape)}: "
                         f"pass two items of the same shape, the shape the model was trained on")
    return interpolate_pairs(model, a[None], b[None], steps, method)[0]
