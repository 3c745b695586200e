"""Discrete bottlenecks: vector quantisation, one-hot and binary codes with straight-through gradients.

Papers:
- ``VectorQuantizer``: van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation
  Learning" (VQ-VAE; exponential-moving-average codebook in its Appendix A.1); Razavi, van den Oord &
  Vinyals 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2" (EMA updates as the default);
  dead-code restarts as in Dhariwal et al. 2020, "Jukebox" and Łańcucki et al. 2020, "Robust Training of
  Vector Quantized Bottleneck Models" (which also proposes the k-means initialisation).
- ``OneHotST`` / ``BinaryST``: the straight-through estimator of Bengio, Léonard & Courville 2013,
  "Estimating or Propagating Gradients Through Stochastic Neurons"; Gumbel-softmax samples of Jang, Gu &
  Poole 2017, "Categorical Reparameterization with Gumbel-Softmax" and Maddison, Mnih & Teh 2017, "The
  Concrete Distribution"; noisy sigmoid codes of Salakhutdinov & Hinton 2009, "Semantic Hashing".

Every quantizer returns the same thing, ``Quantized(z_q, codes, losses, metrics)``:
``z_q`` goes to the decoder (same shape as the input, gradients reach the input), ``codes`` are the
discrete codes with no gradient (integer indices for ``VectorQuantizer`` and ``OneHotST``, the 0/1 bits
for ``BinaryST``), ``losses`` are already weighted (keys ``commit`` and ``codebook``, empty for the
estimators) and ``metrics`` are detached scalars for logs. Inputs carry their code dimension at dim 1,
``(B, D)`` or ``(B, D, *spatial)`` such as ``(B, D, H, W)``, like the channels of a conv encoder.

Straight-through outputs are written ``hard + (soft - soft.detach())`` rather than
``soft + (hard - soft).detach()``: the two have the same gradient, but only the first equals ``hard``
bit for bit in the forward pass (``x - x`` is exactly 0, ``soft + (hard - soft)`` may be off by an ulp),
so a code read back from ``z_q`` is exactly a codebook row or exactly 0/1.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError


class Quantized(NamedTuple):
    z_q: torch.Tensor  # quantised input for the decoder, same shape as the input, differentiable
    codes: torch.Tensor  # discrete codes, no gradient: indices (B, *spatial) or 0/1 bits (input's shape)
    losses: dict[str, torch.Tensor]  # weighted loss terms to add to the training loss
    metrics: dict[str, torch.Tensor]  # detached scalars for logs (perplexity, usage, ...)


def _rows(z: torch.Tensor) -> torch.Tensor:
    """(B, D, *S) -> (B * prod(S), D): one row per code vector."""
    return z.movedim(1, -1).reshape(-1, z.shape[1])


def _unrows(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(B * prod(S), D) -> (B, D, *S), the inverse of ``_rows``."""
    return rows.reshape(shape[0], *shape[2:], shape[1]).movedim(-1, 1)


def _check_input(z: torch.Tensor, dim: int, what: str) -> None:
    if z.dim() < 2 or z.shape[1] != dim:
        raise AekitError(
            f"{what} expects input of shape (B, {dim}) or (B, {dim}, *spatial) with the code dimension at "
            f"dim 1, got {tuple(z.shape)}: reshape the encoder output or build it with dim={dim}"
        )


def _usage_metrics(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Perplexity exp(H(p)) of the batch's code frequencies p, and the fraction of codes used."""
    p = counts.float() / counts.sum().clamp_min(1)  # (K,)
    entropy = -torch.special.xlogy(p, p).sum()  # 0 log 0 = 0
    return {"perplexity": entropy.exp().detach(), "usage": (counts > 0).float().mean().detach()}


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise AekitError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")


class VectorQuantizer(nn.Module):
    """VQ-VAE bottleneck (van den Oord et al. 2017), EMA codebook (its Appendix A.1; Razavi et al. 2019).

    Each code vector ``z`` (a row of ``(B, D)``, or a position of ``(B, D, H, W)``) is replaced by its
    nearest codebook row ``e_k`` (squared Euclidean distance). The decoder sees ``z_q = e_k`` with the
    straight-through gradient ``dL/dz = dL/dz_q``. Losses (mean over all B*D*H*W elements, as in the
    reference implementation): ``commit = commitment * mean (z - sg(e_k))^2``; with ``ema=False`` also
    ``codebook = mean (sg(z) - e_k)^2`` and the codebook is a parameter learnt by the optimiser. With
    ``ema=True`` the codebook is a buffer moved, in training mode only, by exponential moving averages
    with ``gamma = decay`` and counts ``c_k`` and sums ``s_k`` of the vectors assigned to code k::

        cluster_size_k <- gamma * cluster_size_k + (1 - gamma) * c_k
        embed_sum_k    <- gamma * embed_sum_k    + (1 - gamma) * s_k
        n = sum_k cluster_size_k
        e_k = embed_sum_k / ((cluster_size_k + eps) / (n + K * eps) * n)   # Laplace-smoothed count

    Initialisation: ``init="normal"`` draws rows from N(0, 1); ``init="kmeans"`` replaces them, on the
    first training forward, with ``kmeans_iters`` Lloyd iterations on that batch from k-means++ seeds
    (Łańcucki et al. 2020), so the codebook starts at the encoder's scale. Either way every code
    starts with a pseudo-count of one vector at its position (``cluster_size = 1``, ``embed_sum = e``,
    as Jukebox does): a zero start would divide unused codes by ``eps`` on the first update and throw
    them to huge norms.

    Dead codes: in training, after the update, codes with ``cluster_size < dead_code_threshold`` (an EMA
    of vectors per batch, so 1e-2 means "used about once in 100 batches"; 0 disables) are restarted at
    random encoder vectors of the current batch, with ``cluster_size = max(1, threshold)`` and
    ``embed_sum = e * cluster_size``. ``cluster_size`` is tracked with ``ema=False`` too, for restarts.
    Under DDP, buffers follow rank 0 (DDP broadcasts them each forward); with ``init="kmeans"`` and
    ``ema=False`` the codebook is a parameter and is not re-synchronised, so prefer ``ema=True`` there.
    """

    def __init__(
        self,
        num_codes: int,
        dim: int,
        commitment: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_threshold: float = 1e-2,
        init: str = "normal",
        kmeans_iters: int = 10,
    ):
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise AekitError(
                f"codebook size must be at least 1 code of dimension at least 1, got num_codes={num_codes}, "
                f"dim={dim}: pass positive integers"
            )
        if not 0.0 <= decay < 1.0:
            raise AekitError(f"EMA decay must lie in [0, 1), got {decay}: 0.99 is the usual value")
        if commitment < 0 or eps < 0 or dead_code_threshold < 0 or kmeans_iters < 0:
            raise AekitError(
                "commitment, eps, dead_code_threshold and kmeans_iters must be non-negative, got "
                f"{commitment}, {eps}, {dead_code_threshold}, {kmeans_iters}: pass values >= 0"
            )
        _check_choice(init, ("normal", "kmeans"), "codebook init")
        self.num_codes, self.dim = num_codes, dim
        self.commitment, self.ema, self.decay, self.eps = commitment, ema, decay, eps
        self.dead_code_threshold, self.init, self.kmeans_iters = dead_code_threshold, init, kmeans_iters
        codebook = torch.randn(num_codes, dim)  # (K, D)
        if ema:  # moved by moving averages, not by the optimiser
            self.register_buffer("codebook", codebook)
        else:
            self.codebook = nn.Parameter(codebook)
        self.register_buffer("cluster_size", torch.ones(num_codes))  # (K,) EMA of vectors per batch
        self.register_buffer("embed_sum", codebook.clone())  # (K, D) EMA of the sums of those vectors
        self.register_buffer("initted", torch.tensor(init == "normal"))  # saved, so loading skips k-means
        self._initted = init == "normal"  # Python cache of ``initted``: no device sync per step

    def extra_repr(self) -> str:
        return (
            f"num_codes={self.num_codes}, dim={self.dim}, commitment={self.commitment}, ema={self.ema}, "
            f"decay={self.decay}, dead_code_threshold={self.dead_code_threshold}, init={self.init!r}"
        )

    @torch.no_grad()
    def nearest(self, rows: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook row (squared Euclidean) for each row of ``rows`` (N, D) -> (N,)."""
        e = self.codebook.float()  # (K, D)
        rows = rows.float()
        dist = rows.pow(2).sum(1, keepdim=True) - 2 * rows @ e.t() + e.pow(2).sum(1)  # (N, K)
        return dist.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Decode code indices (B, *S) to codebook vectors (B, D, *S), the layout ``forward`` takes."""
        if indices.dtype.is_floating_point or indices.dim() < 1:
            raise AekitError(f"code indices must be an integer tensor of shape (B, *S), got {indices.dtype} "
                             f"{tuple(indices.shape)}: pass the `codes` that forward returned")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.num_codes):
            raise AekitError(f"code indices must lie in [0, {self.num_codes}), got "
                             f"[{int(indices.min())}, {int(indices.max())}]: use codes from this codebook")
        return self.codebook[indices].movedim(-1, 1)  # (B, *S, D) -> (B, D, *S)

    def forward(self, z: torch.Tensor) -> Quantized:
        _check_input(z, self.dim, "VectorQuantizer")
        rows = _rows(z)  # (N, D), N = B * H * W
        if self.training and not self._initted:
            self._initted = bool(self.initted)  # True when loaded from a trained state dict
            if not self._initted:
                self._kmeans_init(rows.detach())
        idx = self.nearest(rows)  # (N,)
        e = self.codebook[idx]  # (N, D); differentiable w.r.t. the codebook when ema=False
        losses = {"commit": self.commitment * F.mse_loss(rows.float(), e.detach().float())}
        if not self.ema:
            losses["codebook"] = F.mse_loss(rows.detach().float(), e.float())
        counts = torch.bincount(idx, minlength=self.num_codes)  # (K,)
        metrics = _usage_metrics(counts)
        if self.training:
            self._update(rows.detach().float(), idx, counts)
        z_q = _unrows(e.detach().to(z.dtype), z.shape)  # (B, D, *S)
        z_q = z_q + (z - z.detach())  # straight-through: forward is exactly e_k, gradient is identity
        return Quantized(z_q, idx.reshape(z.shape[0], *z.shape[2:]), losses, metrics)

    @torch.no_grad()
    def _kmeans_init(self, rows: torch.Tensor) -> None:
        rows = rows.float()  # (N, D)
        # k-means++ seeds (Arthur & Vassilvitskii 2007): each next seed drawn with probability
        # proportional to its squared distance to the seeds so far, so clusters rarely share a seed.
        pick = [int(torch.randint(0, rows.shape[0], ()))]
        d2 = (rows - rows[pick[0]]).pow(2).sum(1)  # (N,) squared distance to the nearest seed
        for _ in range(1, self.num_codes):
            total = d2.sum()
            # all vectors already seeded (fewer distinct vectors than codes): repeat some at random;
            # the duplicates go unused and are restarted as dead codes later
            weights = d2 / total if total > 0 else torch.ones_like(d2)
            pick.append(int(torch.multinomial(weights, 1)))
            d2 = torch.minimum(d2, (rows - rows[pick[-1]]).pow(2).sum(1))
        centers = rows[pick].clone()  # (K, D)
        for _ in range(self.kmeans_iters):
            self.codebook.data.copy_(centers)
            assign = self.nearest(rows)  # (N,)
            counts = torch.bincount(assign, minlength=self.num_codes)  # (K,)
            sums = torch.zeros_like(centers).index_add_(0, assign, rows)  # (K, D)
            filled = counts > 0  # an empty cluster keeps its seed
            centers[filled] = sums[filled] / counts[filled, None].float()
        self.codebook.data.copy_(centers)
        self.embed_sum.copy_(centers)
        self.cluster_size.fill_(1.0)
        self.initted.fill_(True)
        self._initted = True

    @torch.no_grad()
    def _update(self, rows: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> None:
        """EMA codebook update (ema=True) and dead-code restarts; rows (N, D) float32, idx (N,)."""
        gamma = self.decay
        self.cluster_size.mul_(gamma).add_(counts.float(), alpha=1 - gamma)
        if self.ema:
            sums = torch.zeros_like(self.embed_sum).index_add_(0, idx, rows)  # (K, D) s_k
            self.embed_sum.mul_(gamma).add_(sums, alpha=1 - gamma)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n  # (K,)
            self.codebook.copy_(self.embed_sum / smoothed[:, None])
        if self.dead_code_threshold > 0:
            dead = self.cluster_size < self.dead_code_threshold  # (K,)
            num_dead = int(dead.sum())
            if num_dead:
                new = rows[torch.randint(0, rows.shape[0], (num_dead,), device=rows.device)]  # (num_dead, D)
                reset = max(1.0, self.dead_code_threshold)
                self.codebook.data[dead] = new.to(self.codebook.dtype)
                self.cluster_size[dead] = reset
                self.embed_sum[dead] = new * reset


class OneHotST(nn.Module):
    """One-hot code from logits (B, dim, *S): argmax in the forward pass, softmax gradient backward.

    ``mode="straight_through"`` (Bengio et al. 2013): ``z_q = one_hot(argmax logits)`` with the gradient
    of ``softmax(logits / temperature)``. ``mode="gumbel"`` (Jang et al. 2017; Maddison et al. 2017): in
    training, Gumbel noise is added first, so the hard one-hot is a sample from ``softmax(logits)`` and
    the gradient is that of ``softmax((logits + g) / temperature)``; in eval mode no noise is drawn and
    the code is the argmax. ``temperature`` is an attribute a schedule may lower during training.
    ``codes`` are the chosen indices (B, *S); ``z_q`` is the one-hot (B, dim, *S), exactly 0/1.
    """

    MODES = ("straight_through", "gumbel")

    def __init__(self, dim: int, mode: str = "straight_through", temperature: float = 1.0):
        super().__init__()
        if dim < 2:
            raise AekitError(f"one-hot size must be at least 2 (one category carries no information), "
                             f"got dim={dim}: pass the number of categories")
        _check_choice(mode, self.MODES, "one-hot mode")
        if temperature <= 0:
            raise AekitError(f"temperature must be positive, got {temperature}: 1.0 is the usual start")
        self.dim, self.mode, self.temperature = dim, mode, temperature

    def extra_repr(self) -> str:
        return f"dim={self.dim}, mode={self.mode!r}, temperature={self.temperature}"

    def forward(self, logits: torch.Tensor) -> Quantized:
        _check_input(logits, self.dim, "OneHotST")
        if self.mode == "gumbel" and self.training:
            gumbel = -torch.empty_like(logits).exponential_().log()  # -log(Exp(1)) ~ Gumbel(0, 1)
            logits = logits + gumbel
        soft = F.softmax(logits / self.temperature, dim=1)  # (B, dim, *S)
        idx = logits.argmax(1)  # (B, *S); on the logits, which a low temperature cannot tie by underflow
        hard = F.one_hot(idx, self.dim).movedim(-1, 1).to(soft.dtype)  # (B, *S, dim) -> (B, dim, *S)
        z_q = hard + (soft - soft.detach())
        counts = torch.bincount(idx.reshape(-1), minlength=self.dim)
        return Quantized(z_q, idx, {}, _usage_metrics(counts))


class BinaryST(nn.Module):
    """Binary code from logits: bit = 1 where sigmoid(logits) > 0.5 (i.e. logits > 0), else 0.

    ``mode="straight_through"`` (Bengio et al. 2013): ``z_q`` is the bits, with the gradient of
    ``sigmoid(logits)``. ``mode="noisy"`` (Salakhutdinov & Hinton 2009, semantic hashing): in training,
    Gaussian noise of std ``noise_std`` is added to the logits and ``z_q = sigmoid(logits + noise)`` is
    passed on *soft*, with its exact gradient: to survive the noise the encoder learns large logits, so
    the activities become bimodal and rounding them loses little. (The paper fixes each example's
    noise in advance; we draw it afresh each step.) In eval mode both modes return the noiseless bits.
    ``codes`` are always the 0/1 bits (thresholding the noisy sigmoid in training), shaped like the input.
    """

    MODES = ("straight_through", "noisy")

    def __init__(self, mode: str = "straight_through", noise_std: float = 4.0):
        super().__init__()
        _check_choice(mode, self.MODES, "binary mode")
        if noise_std < 0:
            raise AekitError(f"noise_std must be non-negative, got {noise_std}: try 4.0")
        self.mode, self.noise_std = mode, noise_std

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, noise_std={self.noise_std}"

    def forward(self, logits: torch.Tensor) -> Quantized:
        if logits.dim() < 1:
            raise AekitError("BinaryST expects logits of shape (B, ...), got a scalar: add a batch dimension")
        if self.mode == "noisy" and self.training:
            soft = torch.sigmoid(logits + self.noise_std * torch.randn_like(logits))
            bits = (soft > 0.5).to(soft.dtype)
            z_q = soft
        else:
            soft = torch.sigmoid(logits)
            bits = (logits > 0).to(soft.dtype)  # sigmoid(x) > 0.5 without its rounding to 0.5 near 0
            z_q = bits + (soft - soft.detach())
        return Quantized(z_q, bits.detach(), {}, {"ones": bits.mean().detach()})
