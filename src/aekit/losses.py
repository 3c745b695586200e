"""Loss terms as pure functions. Each returns a scalar averaged over the batch.

Reconstruction losses sum over an example's features and average over examples ("per-example sum"),
which is the scale of Hinton & Salakhutdinov's SSE; ``mse`` averages over features too. ``softmax`` is
for word counts: the decoder's output is one distribution over the vocabulary and the loss is the
multinomial cross-entropy of the document's words under it (Hinton & Salakhutdinov 2006 fine-tuned their
document autoencoder with a softmax output; Salakhutdinov & Hinton 2009, "Replicated Softmax").
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from aekit.errors import AekitError

RECONSTRUCTION_LOSSES = ("bce", "sse", "mse", "softmax")
LOGIT_LOSSES = ("bce", "softmax")  # computed from the decoder's pre-activation, for numerical stability


def reconstruction(raw: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction loss of decoder output ``raw`` against target ``x``.

    For ``bce`` ``raw`` holds logits (the sigmoid is folded into the loss for numerical stability) and
    ``x`` must lie in [0, 1]; for ``softmax`` ``raw`` holds logits over the features (the vocabulary) and
    ``x`` counts (or any non-negative weights): ``-sum_w x_w log softmax(raw)_w`` per example, so a document
    of n words costs n times the mean negative log-probability of its words; for ``sse``/``mse`` ``raw`` is
    the reconstruction itself.
    """
    raw = raw.float().reshape(x.shape[0], -1)  # (B, D); loss in fp32 even under bf16 autocast
    x = x.float().reshape(x.shape[0], -1)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(raw, x, reduction="sum") / x.shape[0]
    if kind == "softmax":
        return -(x * F.log_softmax(raw, dim=1)).sum() / x.shape[0]
    if kind == "sse":
        return (raw - x).pow(2).sum() / x.shape[0]
    if kind == "mse":
        return (raw - x).pow(2).mean()
    raise AekitError(f"unknown reconstruction loss {kind!r}: choose one of {', '.join(RECONSTRUCTION_LOSSES)}")


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over code dimensions, averaged over the batch."""
    return kl_normal_per_example(mu, logvar).mean()


def kl_normal_per_example(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each example, summed over code dimensions: (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def sparsity_l1(z: torch.Tensor) -> torch.Tensor:
    """L1 norm of code activations, summed over units, averaged over the batch."""
    return z.abs().sum(dim=1).mean()


def sparsity_kl(z: torch.Tensor, target: float, eps: float = 1e-6) -> torch.Tensor:
    """Sum over units of KL(target || mean activation): Ng's sparse AE; ``z`` must lie in (0, 1)."""
    rho_hat = z.float().mean(dim=0).clamp(eps, 1 - eps)  # (K,) average activation of each unit
    rho = torch.as_tensor(target, dtype=rho_hat.dtype, device=rho_hat.device)
    return (rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()).sum()


def contractive(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of the encoder Jacobian dz/dx, averaged over the batch (Rifai et al. 2011).

    Exact, for any encoder without batch-coupling layers: one vector-Jacobian product per code unit,
    batched with ``torch.func.vmap``. The result is differentiable w.r.t. the encoder's parameters.
    """
    x = x.reshape(x.shape[0], -1)  # (B, D)

    def single(xi: torch.Tensor) -> torch.Tensor:  # (D,) -> (K,)
        return encoder(xi.unsqueeze(0)).squeeze(0)

    jac = torch.func.vmap(torch.func.jacrev(single))(x)  # (B, K, D)
    return jac.pow(2).sum(dim=(1, 2)).mean()


def contractive_one_layer(pre: torch.Tensor, weight: torch.Tensor,
                          activation: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``contractive`` for a one-layer encoder ``z = activation(x @ W.T + b)`` in closed form (Rifai et al. 2011).

    With an elementwise activation ``dz_k/dx = f'(a_k) W_k``, so ``||J||_F^2 = sum_k f'(a_k)^2 ||W_k||^2``: one
    pass instead of one vector-Jacobian product per code unit. ``pre`` is ``a = x @ W.T + b``, ``(B, K)``.
    """
    slope = torch.func.jvp(activation, (pre,), (torch.ones_like(pre),))[1]  # (B, K): f'(a), elementwise
    return (slope.float().pow(2) @ weight.float().pow(2).sum(dim=1)).mean()
