"""Autoencoders with a second player: a discriminator on codes (AAE) or a critic on interpolations (ACAI).

Each has a ``critic`` phase, which steps the critic's own optimiser on the critic's loss (the
autoencoder's outputs enter it without gradient), and an ``ae`` phase, which steps the autoencoder's
optimiser on the reconstruction plus the adversarial term. ``phase_parameters`` keeps the two sets
disjoint. The AAE steps its discriminator first; ACAI steps the autoencoder first and lets its critic
learn from the images that step decoded (see ``ACAI``).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError
from aekit.models.ae import DeepAutoEncoder
from aekit.models.base import Output
from aekit.nn.parts import build_critic
from aekit.nn.mlp import MLP
from aekit.registry import register


class _TwoPlayer(DeepAutoEncoder):
    """The parameter split shared by AAE and ACAI: ``self.critic`` against everything else."""

    phases = ("critic", "ae")
    critic: nn.Module

    def phase_parameters(self, phase: str) -> Iterable[nn.Parameter]:
        return self.split_parameters(self.critic, inside=phase == "critic")

    def phase_losses(self, batch, phase: str, ctx) -> dict[str, torch.Tensor]:
        return self.critic_losses(batch, ctx) if phase == "critic" else self.ae_losses(batch, ctx)

    def ae_losses(self, batch, ctx) -> dict[str, torch.Tensor]:
        return self(batch).losses

    def critic_losses(self, batch, ctx) -> dict[str, torch.Tensor]:
        raise NotImplementedError


PRIORS = ("gaussian", "mixture")


@register("aae")
class AdversarialAutoEncoder(_TwoPlayer):
    """Adversarial autoencoder (Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders",
    ICLR workshop 2016): a discriminator tells codes ``z = encode(x)`` from samples of a prior, and the
    encoder learns to fool it, so the codes take the prior's shape and decoding prior samples generates.

    ``prior="gaussian"`` is N(0, I); ``prior="mixture"`` is ``mixture_components`` Gaussians of std
    ``mixture_std`` whose means lie evenly on a circle of radius ``mixture_radius`` in the first two code
    dimensions (Makhzani et al.'s 2-D picture; the other dimensions are N(0, mixture_std^2)). The
    discriminator is an MLP ``latent -> disc_hidden -> 1`` with leaky ReLU (ACAI's baseline uses
    100-100). Losses: ``critic`` = BCE(D(prior), 1) + BCE(D(z), 0); the autoencoder adds
    ``adv = adv_weight * BCE(D(z), 1)`` (the non-saturating GAN loss) to ``recon``.
    """

    def __init__(self, prior: str = "gaussian", mixture_components: int = 10, mixture_radius: float = 4.0,
                 mixture_std: float = 0.5, disc_hidden: Sequence[int] = (100, 100), adv_weight: float = 1.0,
                 **ae_options):
        super().__init__(**ae_options)
        if prior not in PRIORS:
            raise AekitError(f"unknown prior {prior!r}: choose one of {', '.join(PRIORS)}")
        if prior == "mixture" and (self.latent_dim < 2 or mixture_components < 1):
            raise AekitError("prior 'mixture' needs latent_dim >= 2 and mixture_components >= 1")
        self.prior, self.adv_weight = prior, float(adv_weight)
        self.mixture_components, self.mixture_radius = int(mixture_components), float(mixture_radius)
        self.mixture_std = float(mixture_std)
        self.critic = MLP([self.latent_dim, *[int(h) for h in disc_hidden], 1], act="leaky_relu")

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        if self.prior == "gaussian":
            return torch.randn(n, self.latent_dim, generator=generator).to(device)
        component = torch.randint(0, self.mixture_components, (n,), generator=generator)
        angle = 2 * math.pi * component.float() / self.mixture_components
        z = self.mixture_std * torch.randn(n, self.latent_dim, generator=generator)
        z[:, 0] += self.mixture_radius * torch.cos(angle)
        z[:, 1] += self.mixture_radius * torch.sin(angle)
        return z.to(device)

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.critic(z).float().squeeze(1)  # (B, K) -> (B,)

    capabilities = frozenset({"decode", "sample", "trainable_encoder"})

    def critic_losses(self, batch, ctx) -> dict[str, torch.Tensor]:
        x = batch["x"]
        with torch.no_grad():
            z = self.encode(x)
        fake, real = self._logits(z), self._logits(self.sample_prior(x.shape[0]).to(z.dtype))
        loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        return {"critic": loss}

    def _penalties(self, x_in: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self._logits(z)
        return {"adv": self.adv_weight * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))}


@register("acai")
class ACAI(_TwoPlayer):
    """Adversarially Constrained Autoencoder Interpolation (Berthelot, Raffel, Roy & Goodfellow,
    "Understanding and Improving Interpolation in Autoencoders via an Adversarial Regularizer", ICLR 2019).

    Each example's code is mixed with the code of the example at the mirrored batch position,
    ``z_mix = alpha z + (1 - alpha) z[reversed]`` with ``alpha ~ U[0, 0.5]``; the critic (an
    encoder-shaped network averaged to a scalar, ``nn/parts.py``; its spec ``critic``, default the backbone) regresses ``alpha`` from the decoded
    mix, and the autoencoder learns to make mixes the critic scores 0, i.e. realistic. Losses as in the
    official code: ``critic = mean (c(x_mix) - alpha)^2 + mean c(reg * x + (1 - reg) * x_hat)^2`` (the
    second term, ``reg=0.2``, keeps the critic honest on near-real images) and for the autoencoder
    ``recon + adv`` with ``adv = adv_weight * mean c(x_mix)^2`` (``adv_weight=0.5``). The paper's setting
    is ``backbone="acai"``, ``loss="mse"`` on [-1, 1] images, Adam 1e-4, batch 64.
    """

    # The autoencoder's step comes first and leaves its decoded images in the phase context for the critic's
    # step on the same batch: the critic learns from what the autoencoder made before its update, as in the
    # official code (both players' updates computed from one forward pass), and the batch is not decoded
    # twice. Run in the other order, the critic finds nothing in the context and decodes the batch itself.
    phases = ("ae", "critic")

    def __init__(self, adv_weight: float = 0.5, reg: float = 0.2, critic: dict | None = None, **ae_options):
        super().__init__(**ae_options)
        if adv_weight < 0 or not 0 <= reg <= 1:
            raise AekitError(f"acai needs adv_weight >= 0 and reg in [0, 1], got adv_weight={adv_weight}, reg={reg}")
        self.adv_weight, self.reg = float(adv_weight), float(reg)
        self.critic_spec = critic or self.backbone_spec
        self.critic = build_critic(self.critic_spec, self.input_shape, self.latent_dim, self.net_args)

    def mix(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha (B, 1), z_mix (B, K))``: each code mixed with its mirror in the batch, alpha in [0, 0.5]."""
        alpha = 0.5 - (torch.rand(z.shape[0], 1, device=z.device) - 0.5).abs()  # U[0,1] folded onto [0, 0.5]
        return alpha, alpha * z + (1 - alpha) * z.flip(0)

    def critic_losses(self, batch, ctx) -> dict[str, torch.Tensor]:
        x = batch["x"]
        if "x_mix" in ctx:  # the ae phase decoded this batch
            alpha, x_mix, x_hat = ctx["alpha"], ctx["x_mix"], ctx["x_hat"]
        else:  # run first, or on its own: decode the batch here
            with torch.no_grad():
                z = self.encode(x)
                x_hat = self.decode(z)
                alpha, z_mix = self.mix(z)
                x_mix = self.decode(z_mix)
        near_real = x_hat + self.reg * (x.reshape(x_hat.shape) - x_hat)  # 0.2 x + 0.8 x_hat
        loss = (self.critic(x_mix) - alpha.squeeze(1)).pow(2).mean() + self.critic(near_real).pow(2).mean()
        return {"critic": loss}

    def ae_losses(self, batch, ctx) -> dict[str, torch.Tensor]:
        out = self(batch)
        ctx["alpha"], ctx["x_mix"], ctx["x_hat"] = out.extras["alpha"], out.extras["x_mix"], out.x_hat  # detached
        return out.losses

    def forward(self, batch) -> Output:
        out = super().forward(batch)  # recon
        alpha, z_mix = self.mix(out.z)
        x_mix = self.decode(z_mix)
        adv = self.adv_weight * self.critic(x_mix).pow(2).mean()
        return Output(out.x_hat, out.z, {**out.losses, "adv": adv}, {**out.extras, "alpha": alpha, "x_mix": x_mix})
