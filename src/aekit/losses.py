"""Loss terms as pure functions. Each returns a scalar averaged over the batch.

Reconstruction losses sum over an example's features and average over examples ("per-example sum"),
which is the scale of Hinton & Salakhutdinov's SSE; ``mse`` averages over features too. ``softmax`` is
for word counts: the decoder's output is one distribution over the vocabulary and the loss is the
multinomial cross-entropy of the document's words under it (Hinton & Salakhutdinov 2006 fine-tuned their
document autoencoder with a softmax output; Salakhutdinov & Hinton 2009, "Replicated Softmax").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from aekit.errors import AekitError



@dataclass(frozen=True)
class ReconstructionLoss:
    """What a reconstruction loss is: the target values it can fit, and how it is computed."""

    name: str
    meaning: str  # for messages, e.g. "Bernoulli cross-entropy"
    targets: tuple[float, float]  # the interval every target value must lie in for the loss to mean anything
    from_logits: bool  # computed from the decoder's pre-activation, for numerical stability

    def fits(self, low: float, high: float) -> bool:
        """Whether data with values in [low, high] can be fitted: outside [0, 1] a Bernoulli cross-entropy has
        no minimum (it fell to -1.2e14 on data in [-6, 5]) and a softmax over counts needs counts >= 0."""
        return self.targets[0] <= low and high <= self.targets[1]


RECONSTRUCTION = {loss.name: loss for loss in (
    ReconstructionLoss("bce", "Bernoulli cross-entropy", (0.0, 1.0), from_logits=True),
    ReconstructionLoss("sse", "sum of squared errors", (-math.inf, math.inf), from_logits=False),
    ReconstructionLoss("mse", "mean squared error", (-math.inf, math.inf), from_logits=False),
    ReconstructionLoss("softmax", "multinomial cross-entropy of counts", (0.0, math.inf), from_logits=True),
)}
RECONSTRUCTION_LOSSES = tuple(RECONSTRUCTION)
LOGIT_LOSSES = tuple(name for name, loss in RECONSTRUCTION.items() if loss.from_logits)
AUTO = "auto"  # a model's ``loss="auto"``: chosen by the training data's range (``choose_reconstruction``)
AUTO_CHOICES = ("bce", "sse")  # what auto picks from: the first whose targets hold the data


def choose_reconstruction(loss: str, low: float, high: float) -> str:
    """The reconstruction loss to train on data with values in [low, high]: ``loss`` itself when it can fit
    them (one line naming the fix when it cannot), or, for ``"auto"``, bce for data in [0, 1] and sse otherwise."""
    if loss == AUTO:
        return next(name for name in AUTO_CHOICES if RECONSTRUCTION[name].fits(low, high))
    if loss in RECONSTRUCTION and not RECONSTRUCTION[loss].fits(low, high):
        kind = RECONSTRUCTION[loss]
        lo, hi = kind.targets
        rescale = (f"scale the data into [{lo:g}, {hi:g}] (--scale 01 for pixels)" if math.isfinite(hi)
                   else f"pass data that is never below {lo:g}")
        raise AekitError(
            f"loss {loss!r} ({kind.meaning}) needs data in [{lo:g}, {hi:g}] but this data spans [{low:.4g}, {high:.4g}]: "
            f"pass --set loss=sse (or loss=auto), or {rescale}")
    return loss


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


def describe_recon(loss: str) -> str:
    """What the ``recon`` term of the progress bar and ``log.csv`` is for a model trained with ``loss``: that
    loss, on its own scale, which is not ``aekit evaluate``'s ``recon_sse`` unless the loss is sse."""
    meaning = RECONSTRUCTION[loss].meaning if loss in RECONSTRUCTION else loss
    per = "per value" if loss == "mse" else "per item"
    return f"{loss} ({meaning} {per})" + ("" if loss == "sse" else ", not evaluate's recon_sse")


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


# --- Mutual-information estimators (Deep InfoMax and kin) ------------------------------------------------
# Each takes critic scores ``s`` of shape (B, B, *rest): s[i, j, ...] scores code i against input j, the
# positives (samples of the joint) are the diagonal i == j and the negatives (samples of the product of
# marginals) are i != j; trailing dims (e.g. the positions of a local feature map) are more samples of the
# same kind. Each returns a scalar loss to MINIMISE (minus an MI lower bound, up to constants), in fp32.


def _pair_scores(scores: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``scores`` in fp32 and the positive mask broadcastable to it: ``(B, B, 1, ..., 1)``, True on i == j."""
    if scores.dim() < 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise AekitError(f"{what} takes a score matrix (B, B, ...) with B >= 2 (codes x inputs, positives on "
                         f"the diagonal), got shape {tuple(scores.shape)}: score every code against every input "
                         f"of the batch")
    b = scores.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=scores.device).reshape(b, b, *([1] * (scores.dim() - 2)))
    return scores.float(), eye


def mi_jsd(scores: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon MI estimator (Nowozin, Cseke & Tomioka 2016, f-GAN; as used by Hjelm et al. 2019, DIM).

    ``mean_pos softplus(-s) + mean_neg softplus(s)``: the binary cross-entropy of telling positives from
    negatives. The official DIM code returns this minus ``2 log 2`` (its "shifted" JSD), the same gradients.
    """
    s, eye = _pair_scores(scores, "mi_jsd")
    pos = eye.expand_as(s)
    return F.softplus(-s[pos]).mean() + F.softplus(s[~pos]).mean()


def mi_infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE (van den Oord, Li & Vinyals 2018, CPC): cross-entropy of picking input j == i among the batch.

    For every code i and trailing index (position) p the candidates are ``scores[i, :, p]`` (log-softmax over
    dim 1) and the target is j == i; the loss is the mean over (i, p). ``log B - loss`` is the MI lower bound,
    so scores that carry no information give exactly ``log B``. (The official DIM code instead takes every
    position of every other image as a negative of position p, with the image's own other positions masked.)
    """
    s, _ = _pair_scores(scores, "mi_infonce")
    logp = F.log_softmax(s, dim=1)  # (B, B, *rest): over the inputs j for each code i
    return -logp.diagonal(dim1=0, dim2=1).mean()  # diagonal: (*rest, B), the positives' log-probabilities


def mi_dv(scores: torch.Tensor) -> torch.Tensor:
    """Donsker-Varadhan bound (Donsker & Varadhan 1983; Belghazi et al. 2018, MINE): minus the bound.

    ``-(mean_pos s - log mean_neg exp(s))``, with the log-mean-exp as ``logsumexp - log(count)``, stable
    for scores of any size.
    """
    s, eye = _pair_scores(scores, "mi_dv")
    pos = eye.expand_as(s)
    n_neg = s.numel() - int(pos.sum())
    log_mean_exp_neg = torch.logsumexp(s.masked_fill(pos, float("-inf")).flatten(), dim=0) - s.new_tensor(n_neg).log()
    return -(s[pos].mean() - log_mean_exp_neg)


MI_ESTIMATORS = {"jsd": mi_jsd, "infonce": mi_infonce, "dv": mi_dv}
