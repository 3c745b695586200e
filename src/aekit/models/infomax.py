"""Deep InfoMax: an encoder trained without a decoder, by a discriminator over (input, code) pairs.

Hjelm, Fedorov, Lavoie-Marchildon, Grewal, Bachman, Trischler & Bengio, "Learning deep representations by
mutual information estimation and maximization", ICLR 2019. The lecture ("More about Auto-encoder", Beyond
Reconstruction: Discriminator) reads it as the autoencoder's decoder replaced by a classifier that tells
whether an input and a code belong together: the encoder learns the code that makes that easiest.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aekit import losses as L
from aekit.errors import AekitError
from aekit.models.base import Model, Output
from aekit.nn.dim import GlobalDiscriminator, LocalDiscriminator, PriorDiscriminator
from aekit.nn.parts import NetArgs, build_encoder
from aekit.registry import register


@register("infomax")
class DeepInfoMax(Model):
    """Deep InfoMax (Hjelm et al., ICLR 2019): maximise a lower bound on the mutual information between an
    input and its code. Positives are the matched pairs of a batch, negatives the pairs shuffled within it
    (every other item of the batch). ``estimator`` is ``jsd`` (Jensen-Shannon, the paper's default),
    ``infonce`` or ``dv`` (Donsker-Varadhan), ``aekit.losses.mi_*``.

    - global MI (weight ``global_weight``, the paper's alpha): a discriminator scores (code, last conv map)
      pairs of the whole input;
    - local MI (``local_weight``, beta): an encoder-and-dot discriminator scores the code against every
      position of a feature map (the 8x8 map for 32x32 images): the code must say something about every
      part of the input, not only what tells images apart;
    - prior matching (``prior_weight``, gamma, 0 = off): an adversary tells codes from draws of N(0, I)
      and the encoder learns to fool it, as in an AAE: its own phase ``prior``, which learns from the codes
      the ``mi`` phase computed (passed in the phase context).

    There is no decoder: ``encode`` gives the code, and everything done with codes (search, probes,
    clustering, fine-tuning) works; ``reconstruct`` and ``generate`` are refused. ``encoder`` is a part spec;
    the default is DIM's CIFAR encoder (``{"part": "dim"}``: conv 64-128-256, kernel 4, stride 2, batch norm,
    ReLU, then linear 1024, then the code) for images of any size; the part must expose ``features(x)``
    (local map, last conv map, fc layer, code), which ``dim`` does.
    """

    capabilities = frozenset({"trainable_encoder"})

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), latent_dim: int = 64, estimator: str = "jsd",
                 global_weight: float = 0.0, local_weight: float = 1.0, prior_weight: float = 0.0,
                 disc_units: int = 512, encoder: dict | None = None):
        super().__init__()
        shape = self._set_input_shape(input_shape)
        self.latent_dim = self._set_latent_dim(latent_dim)
        self.code_shape = (self.latent_dim,)
        if estimator not in L.MI_ESTIMATORS:
            raise AekitError(f"unknown MI estimator {estimator!r}: choose one of {', '.join(L.MI_ESTIMATORS)}")
        weights = (global_weight, local_weight, prior_weight)
        if min(weights) < 0 or global_weight + local_weight <= 0:
            raise AekitError(f"infomax needs weights >= 0 and global_weight + local_weight > 0 (some MI to maximise), "
                             f"got global_weight={global_weight}, local_weight={local_weight}, prior_weight={prior_weight}")
        if len(shape) != 3:
            raise AekitError(f"infomax needs images: input_shape must be (channels, height, width), got {shape}; "
                             f"reshape flat data to images (e.g. --set input_shape=[1,28,28] is not needed for "
                             f"image datasets) or use an autoencoder for vectors")
        self.estimator = estimator
        self.global_weight, self.local_weight, self.prior_weight = map(float, weights)
        self.encoder_spec = encoder or {"part": "dim"}
        self.encoder = build_encoder(self.encoder_spec, shape, self.latent_dim, NetArgs())
        if not callable(getattr(self.encoder, "features", None)):
            raise AekitError(f"infomax needs an encoder part that exposes its feature maps (features(x)): "
                             f"{self.encoder_spec['part']!r} does not; use {{part: dim}}")
        if self.global_weight:
            self.global_disc = GlobalDiscriminator(self.encoder.conv_shape, self.latent_dim, int(disc_units))
        if self.local_weight:
            self.local_disc = LocalDiscriminator(self.encoder.local_shape[0], self.latent_dim, int(disc_units))
        # The prior's adversary has its own phase, after the MI phase; the phase list follows the settings.
        self.phases = ("mi", "prior") if self.prior_weight else ("mi",)
        if self.prior_weight:
            self.prior_disc = PriorDiscriminator(self.latent_dim)

    # ---- the contract -------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, K)

    def code_network(self) -> nn.Module:
        return self.encoder

    def mi_losses(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The code of ``x`` and the weighted MI terms (each a loss: minus a lower bound on the MI)."""
        f = self.encoder.features(x)  # local (B, C_l, h, w), conv (B, C, h', w'), fc, code (B, K)
        estimate = L.MI_ESTIMATORS[self.estimator]
        losses = {}
        if self.global_weight:
            losses["mi_global"] = self.global_weight * estimate(self.global_disc.scores(f.code, f.conv))  # (B, B)
        if self.local_weight:
            losses["mi_local"] = self.local_weight * estimate(self.local_disc.scores(f.code, f.local))  # (B, B, P)
        return f.code, losses

    def forward(self, batch) -> Output:
        z, losses = self.mi_losses(batch["x"])
        if self.prior_weight:
            logits = self.prior_disc(z)  # (B,): the encoder wants its codes taken for prior draws
            losses["adv"] = self.prior_weight * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        return Output(None, z, losses, {})

    # ---- the prior's adversary ---------------------------------------------------------------------
    def phase_parameters(self, phase: str) -> Iterable[nn.Parameter]:
        if not self.prior_weight:
            return self.parameters()
        return self.split_parameters(self.prior_disc, inside=phase == "prior")

    def phase_losses(self, batch, phase: str, ctx) -> dict[str, torch.Tensor]:
        if phase == "mi":
            out = self(batch)
            ctx["z"] = out.z  # detached by the context: what the prior's adversary learns from
            return out.losses
        z = ctx["z"] if "z" in ctx else self.encode(batch["x"]).detach()
        real = self.prior_disc(torch.randn_like(z))
        fake = self.prior_disc(z)
        return {"critic": F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))}
