"""Parts: the encoder, decoder and critic networks a model is built from, named by a JSON spec.

A spec is a mapping ``{"part": "conv", "channels": [32, 64]}``: the part's registered name and its options
(anything left out takes the part's default). A model records the specs of its networks with its other
hyperparameters, so ``aekit.load`` rebuilds the same networks from JSON alone. The built-in parts are
registered in their own files (``nn/mlp.py``, ``nn/conv.py``, ``nn/acai.py``, ``nn/dim.py``); a user adds
one with ``@aekit.register_part("name")`` on a :class:`Part` subclass.

Every encoder maps ``(B, *input_shape)`` (or flat ``(B, D)``) to ``(B, heads * latent_dim)``: ``heads``
contiguous blocks of ``latent_dim`` numbers (a VAE asks for two, the mean and the log-variance). Every
decoder maps ``(B, latent_dim)`` to the raw (pre-activation) ``(B, *input_shape)``. A critic maps an input
to one number per example ``(B,)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import torch
from torch import nn

from aekit.errors import AekitError


@dataclass(frozen=True)
class NetArgs:
    """The model-level network arguments any part may read (the MLP's widths, the activation, the norm)."""

    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    norm: str | None = None
    code_activation: str | None = None  # applied to the encoder's output


class Part:
    """A family of networks: ``encoder``, ``decoder`` and ``critic`` builders sharing ``defaults`` options."""

    name: ClassVar[str] = "?"
    defaults: ClassVar[dict[str, Any]] = {}  # the options a spec may set, with their defaults

    def encoder(self, input_shape: Sequence[int], latent_dim: int, heads: int, net: NetArgs,
                options: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def decoder(self, input_shape: Sequence[int], latent_dim: int, net: NetArgs, options: dict[str, Any]) -> nn.Module:
        raise AekitError(f"part {self.name!r} has no decoder: choose a decoder part among "
                         f"{', '.join(n for n in part_names() if _has(n, 'decoder'))}")

    def critic(self, input_shape: Sequence[int], latent_dim: int, net: NetArgs, options: dict[str, Any]) -> nn.Module:
        """By default the part's encoder with its own weights, averaged to one number (ACAI's critic)."""
        return Critic(self.encoder(input_shape, latent_dim, 1, net, options))

    def tied_decoder(self, encoder: nn.Module, net: NetArgs) -> nn.Module:
        raise AekitError(f"tied weights need part 'mlp', not {self.name!r}")

    def code_positions(self, input_shape: Sequence[int], latent_dim: int, options: dict[str, Any]) -> int:
        """How many positions the code is laid out over (a spatial code map: ``h * w``, each position a block of
        ``latent_dim / positions`` consecutive numbers); 1 for a plain vector."""
        return 1


def _has(name: str, builder: str) -> bool:
    from aekit.registry import get_part

    return getattr(type(get_part(name)), builder) is not getattr(Part, builder)


def part_names() -> list[str]:
    from aekit.registry import part_names as names

    return names()


class Critic(nn.Module):
    """An encoder-shaped network with its own weights, averaged to one number per example: ``(B,)``."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).float().mean(dim=1)  # (B, K) -> (B,)


def resolve(spec: Mapping[str, Any] | str) -> tuple[Part, dict[str, Any]]:
    """The part of ``spec`` and its full options (defaults filled in); a bad spec is one line that says why."""
    from aekit.registry import get_part
    from aekit.schema import check_part_options

    if isinstance(spec, str):
        spec = {"part": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("part"), str):
        raise AekitError(f"a part spec is a mapping with the part's name and options, e.g. "
                         f"{{part: conv, channels: [32, 64]}}; got {spec!r}")
    part = get_part(spec["part"])
    options = {k: v for k, v in spec.items() if k != "part"}
    unknown = sorted(set(options) - set(part.defaults))
    if unknown:
        known = ", ".join(part.defaults) or "none"
        raise AekitError(f"unknown option(s) {', '.join(unknown)} for part {part.name!r}: it takes {known}")
    check_part_options(part, options)  # each option of the type of its declared default
    return part, {**part.defaults, **options}


def build_encoder(spec, input_shape: Sequence[int], latent_dim: int, net: NetArgs, heads: int = 1) -> nn.Module:
    """``(B, *input_shape) -> (B, heads * latent_dim)``."""
    part, options = resolve(spec)
    return part.encoder(tuple(int(s) for s in input_shape), int(latent_dim), int(heads), net, options)


def build_decoder(spec, input_shape: Sequence[int], latent_dim: int, net: NetArgs,
                  tied_to: nn.Module | None = None) -> nn.Module:
    """``(B, latent_dim) -> (B, *input_shape)`` raw; ``tied_to`` (an MLP encoder) shares its weights."""
    part, options = resolve(spec)
    if tied_to is not None:
        return part.tied_decoder(tied_to, net)
    return part.decoder(tuple(int(s) for s in input_shape), int(latent_dim), net, options)


def build_critic(spec, input_shape: Sequence[int], latent_dim: int, net: NetArgs) -> nn.Module:
    """An input ``(B, *input_shape)`` -> one number per example ``(B,)``."""
    part, options = resolve(spec)
    return part.critic(tuple(int(s) for s in input_shape), int(latent_dim), net, options)


def image_shape(part: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise AekitError(f"part {part!r} needs images: input_shape must be (channels, height, width), "
                         f"got {tuple(input_shape)}; use part 'mlp' for flat vectors")
    return tuple(int(s) for s in input_shape)  # type: ignore[return-value]


def channels_last(module: nn.Module) -> nn.Module:
    """Conv weights in channels-last layout: oneDNN's fast path for convolutions on CPUs, bf16 above all."""
    return module.to(memory_format=torch.channels_last)


def nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)  # same values and shape, channels-last strides
