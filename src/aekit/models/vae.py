"""Variational autoencoders: a Gaussian posterior, the reparameterisation trick, an importance-sampled NLL."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aekit import losses as L
from aekit.errors import AekitError
from aekit.models.ae import DeepAutoEncoder
from aekit.models.base import Output
from aekit.registry import register

LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite in bf16/fp32 early in training; never binding later


class PosteriorMean(torch.nn.Module):
    """A VAE's encoder cut to its first head: the posterior mean, which is what ``encode`` returns."""

    def __init__(self, encoder: torch.nn.Module, latent_dim: int):
        super().__init__()
        self.encoder, self.latent_dim = encoder, int(latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[:, : self.latent_dim]  # (B, 2K) -> (B, K): the mean, not the log-variance


@register("vae")
class VariationalAutoEncoder(DeepAutoEncoder):
    """Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014;
    Rezende, Mohamed & Wierstra, ICML 2014), with beta (Higgins et al., ICLR 2017) and KL warm-up
    (Bowman et al. 2016; Sønderby et al. 2016).

    The encoder gives the mean and log-variance of ``q(z|x) = N(mu, diag(exp(logvar)))``; training
    decodes a sample ``z = mu + exp(logvar / 2) * eps``. The likelihood follows ``loss``: ``bce`` is a
    Bernoulli decoder (inputs in [0, 1]), ``sse`` a Gaussian one with fixed std ``sigma``
    (``-log p(x|z) = SSE / (2 sigma^2) + D log(sigma sqrt(2 pi))``; the constant is left out of the
    training loss and kept in ``nll``). Losses: ``recon`` (the negative log-likelihood per example) and
    ``kl`` = ``beta * KL(q(z|x) || N(0, I))``, whose weight rises linearly from 0 over the first
    ``kl_warmup`` fraction of training. ``binarize=True`` draws fresh binary inputs ``x ~ Bernoulli(x)``
    every training step (the "dynamically binarised MNIST" of Burda et al., ICLR 2016).

    ``encode`` returns the mean (codes for maps, probes and search); ``posterior`` gives both moments,
    ``sample_prior`` draws from N(0, I), and ``nll`` is Burda et al.'s importance-sampled estimate of
    ``-log p(x)`` with ``k`` samples.
    """

    capabilities = frozenset({"decode", "sample", "likelihood", "trainable_encoder"})
    code_heads = 2  # the encoder outputs the mean and the log-variance

    def __init__(self, beta: float = 1.0, kl_warmup: float = 0.0, sigma: float = 0.1, binarize: bool = False,
                 **ae_options):
        super().__init__(**ae_options)
        if self.loss not in ("bce", "sse"):
            raise AekitError(f"vae needs a likelihood: loss 'bce' (Bernoulli, inputs in [0, 1]) or 'sse' "
                             f"(Gaussian with std sigma), got {self.loss!r}")
        if beta < 0 or not 0 <= kl_warmup <= 1 or sigma <= 0:
            raise AekitError(f"vae needs beta >= 0, kl_warmup in [0, 1] (a fraction of training) and sigma > 0, "
                             f"got beta={beta}, kl_warmup={kl_warmup}, sigma={sigma}")
        self.beta, self.kl_warmup, self.sigma, self.binarize = float(beta), float(kl_warmup), float(sigma), bool(binarize)
        self.kl_scale = 1.0  # the warm-up's current factor, set by set_progress

    def set_progress(self, fraction: float) -> None:
        self.kl_scale = min(1.0, fraction / self.kl_warmup) if self.kl_warmup > 0 else 1.0

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each (B, K)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, 2K) -> 2 x (B, K)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    def _log_likelihood(self, raw: torch.Tensor, x: torch.Tensor, constant: bool = True) -> torch.Tensor:
        """log p(x|z) per example, (B,), from the decoder's raw output (logits for bce).

        ``constant=False`` leaves out the Gaussian's normalising term, which has no gradient (training loss).
        """
        raw, x = raw.float().reshape(x.shape[0], -1), x.float().reshape(x.shape[0], -1)  # (B, D)
        if self.loss == "bce":
            return -F.binary_cross_entropy_with_logits(raw, x, reduction="none").sum(1)
        log_p = -(raw - x).pow(2).sum(1) / (2 * self.sigma ** 2)
        return log_p - x.shape[1] * math.log(self.sigma * math.sqrt(2 * math.pi)) if constant else log_p

    def code_network(self) -> torch.nn.Module:
        return PosteriorMean(self.encoder, self.latent_dim)

    def forward(self, batch) -> Output:
        x = batch["x"]
        if self.training and self.binarize:
            x = torch.bernoulli(x)
        mu, logvar = self.posterior(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if self.training else mu
        raw = self._decode_raw(z)
        out = self.output_act(raw)
        recon = -self._log_likelihood(raw, x, constant=False).mean()  # per-example NLL, batch mean
        weight = self.beta * (self.kl_scale if self.training else 1.0)
        kl = L.kl_normal(mu.float(), logvar.float())
        return Output(out.reshape(x.shape), mu, {"recon": recon, "kl": weight * kl}, {"logvar": logvar})

    @torch.no_grad()
    def negative_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """``-ELBO`` of each example in nats, (B,), with z at the posterior mean: ``KL(q(z|x) || p(z)) -
        log p(x | z = mu)``, constants included. Deterministic (an anomaly score); training samples z instead."""
        mu, logvar = (t.float() for t in self.posterior(x))  # (B, K) each
        return L.kl_normal_per_example(mu, logvar) - self._log_likelihood(self._decode_raw(mu), x)

    @torch.no_grad()
    def nll(self, x: torch.Tensor, k: int = 5000, chunk: int = 500,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-sampled ``-log p(x)`` per example (Burda et al. 2016), in nats, shape (B,).

        ``log p(x) ~= logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k`` with
        ``z_i ~ q(z|x)``; ``chunk`` samples are decoded at a time (memory: chunk * B decodes).
        """
        if k < 1:
            raise AekitError(f"nll needs k >= 1 importance samples, got {k}")
        mu, logvar = (t.float() for t in self.posterior(x))  # (B, K)
        std = (0.5 * logvar).exp()
        b, dim = mu.shape
        log_w = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn(m, b, dim, generator=generator).to(mu.device)  # (m, B, K)
            z = mu + std * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)  # (m, B)
            log_p_z = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)  # (m, B)
            raw = self._decode_raw(z.reshape(m * b, dim))  # (m * B, ...)
            log_px = self._log_likelihood(raw, x.repeat(m, *([1] * (x.dim() - 1)))).reshape(m, b)
            log_w.append(log_px + log_p_z - log_q)
        return -(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k))  # (B,)
