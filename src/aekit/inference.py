"""Batched, gradient-free passes over a whole dataset (what maps, search and evaluation call)."""
from __future__ import annotations

import torch

from aekit.models.base import require


def _device(model) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def batched(fn, model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``fn`` over ``x`` in batches: eval mode, no gradients, on the model's device, input shape checked;
    the results are concatenated on the CPU in float32 (encode, reconstruct, classifier logits, anomaly scores)."""
    model.check_input(x)
    was_training = model.training
    model.eval()
    device = _device(model)
    try:
        return torch.cat([fn(x[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)


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
    was_training = model.training
    model.eval()
    device = _device(model)
    try:
        with torch.no_grad():
            return torch.cat([model.decode(z[i:i + batch_size].to(device)).float().cpu()
                              for i in range(0, z.shape[0], batch_size)])
    finally:
        model.train(was_training)
