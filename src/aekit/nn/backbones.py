"""Backbones: the encoder, decoder and critic networks every model family can be built on.

A model picks its backbone by name, so a VAE, an AAE or ACAI can be compared on the same network:

- ``mlp``: fully connected layers ``D -> hidden -> code`` and the mirror back (``tied`` shares weights).
- ``conv``: stride/pool convolution stages (``nn/conv.py``), a linear layer to the code, and the mirror
  (nearest ``upsample`` + conv, ``transpose`` conv, or ``unpool`` at fixed positions, since a decoder fed
  a code alone has no pooling switches; ``models/conv.py`` is the AE that uses the switches).
- ``acai``: the convolutional network of Berthelot et al. 2019 (``nn/acai.py``); the code is the spatial
  map ``(latent, h, w)`` with ``h = H / 2**scales``, flattened position by position, so ``latent_dim`` must
  be a multiple of ``h * w`` and consecutive blocks of ``latent_dim / (h*w)`` numbers are one position.

Every encoder maps ``(B, *input_shape)`` (or flat ``(B, D)``) to ``(B, heads * latent_dim)``: ``heads``
contiguous blocks of ``latent_dim`` numbers (a VAE asks for two, the mean and the log-variance). Every
decoder maps ``(B, latent_dim)`` to the raw (pre-activation) ``(B, *input_shape)``. A critic maps an input
to one number per example ``(B,)``: an encoder-shaped network averaged, as ACAI's critic is.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.nn.acai import ACAIDecoder, ACAIEncoder
from aekit.nn.conv import DECODERS, DOWNSAMPLERS, ConvDecoder, ConvEncoder, stage_sizes
from aekit.nn.mlp import MLP, TiedMLP, make_activation

BACKBONES = ("mlp", "conv", "acai")
# options each backbone takes in ``backbone_options`` (the MLP's live in the models' own arguments)
OPTIONS: dict[str, dict[str, Any]] = {
    "mlp": {},
    "conv": {"channels": (32, 64), "downsample": "stride", "decoder": "upsample"},
    "acai": {"depth": 16, "scales": 3, "critic_depth": None},
}


def resolve_options(backbone: str, options: dict | None) -> dict[str, Any]:
    """The backbone's options with defaults filled in; unknown names and backbones are refused."""
    if backbone not in BACKBONES:
        raise AekitError(f"unknown backbone {backbone!r}: choose one of {', '.join(BACKBONES)}")
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS[backbone]))
    if unknown:
        known = ", ".join(OPTIONS[backbone]) or "none"
        raise AekitError(f"unknown option(s) {', '.join(unknown)} for backbone {backbone!r}: it takes {known}")
    return {**OPTIONS[backbone], **options}


def _image_shape(backbone: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise AekitError(f"backbone {backbone!r} needs images: input_shape must be (channels, height, width), "
                         f"got {tuple(input_shape)}; use backbone 'mlp' for flat vectors")
    return tuple(int(s) for s in input_shape)  # type: ignore[return-value]


def acai_code_layout(input_shape: Sequence[int], latent_dim: int, scales: int) -> tuple[int, int, int]:
    """``(latent_channels, h, w)`` of the ACAI backbone's spatial code for ``latent_dim`` numbers."""
    _, height, width = _image_shape("acai", input_shape)
    if scales < 0 or height % (1 << scales) or width % (1 << scales):
        raise AekitError(f"backbone 'acai' with scales={scales} needs height and width divisible by "
                         f"{1 << scales}, got {height}x{width}: pad the images (e.g. pad=32) or lower scales")
    h, w = height >> scales, width >> scales
    if latent_dim % (h * w):
        raise AekitError(f"backbone 'acai' makes a {h}x{w} code map at scales={scales}, so latent_dim must be a "
                         f"multiple of {h * w}, got {latent_dim}: e.g. {h * w * max(1, latent_dim // (h * w))}")
    return latent_dim // (h * w), h, w


class _Flat(nn.Module):
    """Reshapes flat inputs to the network's input shape, and its output to heads of flat codes."""

    def __init__(self, net: nn.Module, input_shape: Sequence[int]):
        super().__init__()
        self.net, self.input_shape = net, tuple(input_shape)


class MLPEncoder(_Flat):
    @property
    def linears(self) -> list[nn.Linear]:  # for greedy layer-wise pretraining (train/pretrain.py)
        return self.net.linears

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], -1))  # (B, D) -> (B, heads * K)


class ConvCodeEncoder(_Flat):
    """Conv stages, then a linear layer from the last feature map to the code(s)."""

    def __init__(self, net: ConvEncoder, to_code: nn.Linear, input_shape: Sequence[int]):
        super().__init__(net, input_shape)
        self.to_code = to_code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x.reshape(x.shape[0], *self.input_shape))[0]  # (B, C_last, h, w)
        return self.to_code(h.flatten(1))  # (B, heads * K)


class ConvCodeDecoder(nn.Module):
    def __init__(self, from_code: nn.Module, net: ConvDecoder, map_shape: tuple[int, ...], sizes: list):
        super().__init__()
        self.from_code, self.net, self.map_shape, self.sizes = from_code, net, map_shape, sizes

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_code(z).reshape(z.shape[0], *self.map_shape)  # (B, K) -> (B, C_last, h, w)
        return self.net(h, self.sizes)  # (B, C, H, W)


def channels_last(module: nn.Module) -> nn.Module:
    """Conv weights in channels-last layout: oneDNN's fast path for convolutions on CPUs, bf16 above all."""
    return module.to(memory_format=torch.channels_last)


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)  # same values and shape, channels-last strides


class ACAICodeEncoder(_Flat):
    """The ACAI encoder with ``heads * latent`` output channels, flattened position-major per head."""

    def __init__(self, net: ACAIEncoder, input_shape: Sequence[int], heads: int):
        super().__init__(channels_last(net), input_shape)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(_nhwc(x.reshape(x.shape[0], *self.input_shape)))  # (B, heads * L, h, w)
        b, _, hh, ww = h.shape
        h = h.reshape(b, self.heads, -1, hh, ww).permute(0, 1, 3, 4, 2)  # (B, heads, h, w, L)
        return h.reshape(b, -1)  # (B, heads * h * w * L)


class ACAICodeDecoder(nn.Module):
    def __init__(self, net: ACAIDecoder, layout: tuple[int, int, int]):
        super().__init__()
        self.net, self.layout = channels_last(net), layout

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        latent, h, w = self.layout
        z = z.reshape(z.shape[0], h, w, latent).permute(0, 3, 1, 2)  # (B, K) -> (B, L, h, w), channels-last already
        return self.net(z).contiguous()  # (B, C, H, W), back to the usual layout for losses and callers


def build_encoder(backbone: str, input_shape: Sequence[int], latent_dim: int, *, heads: int = 1,
                  hidden: Sequence[int] = (), activation: str = "relu", norm: str | None = None,
                  code_activation: str | None = None, options: dict | None = None) -> nn.Module:
    """``(B, *input_shape) -> (B, heads * latent_dim)``."""
    opts = resolve_options(backbone, options)
    out = heads * latent_dim
    if backbone == "mlp":
        widths = [math.prod(input_shape), *[int(h) for h in hidden], out]
        return MLPEncoder(MLP(widths, act=activation, norm_name=norm, last_act=code_activation), input_shape)
    if backbone == "conv":
        c, height, width = _image_shape(backbone, input_shape)
        channels = [int(ch) for ch in opts["channels"]]
        if not channels or any(ch <= 0 for ch in channels):
            raise AekitError(f"conv backbone: channels must be one or more positive widths, got {channels!r}")
        if opts["downsample"] not in DOWNSAMPLERS:
            raise AekitError(f"unknown downsample {opts['downsample']!r}: choose one of {', '.join(DOWNSAMPLERS)}")
        last = stage_sizes((height, width), len(channels))[-1]
        net = ConvEncoder(c, channels, down=opts["downsample"], act=activation, norm_name=norm)
        return ConvCodeEncoder(net, nn.Linear(channels[-1] * last[0] * last[1], out), input_shape)
    latent, _, _ = acai_code_layout(input_shape, latent_dim, int(opts["scales"]))
    net = ACAIEncoder(input_shape[0], int(opts["depth"]), int(opts["scales"]), heads * latent)
    return ACAICodeEncoder(net, input_shape, heads)


def build_decoder(backbone: str, input_shape: Sequence[int], latent_dim: int, *, hidden: Sequence[int] = (),
                  activation: str = "relu", norm: str | None = None, tied_to: nn.Module | None = None,
                  options: dict | None = None) -> nn.Module:
    """``(B, latent_dim) -> (B, *input_shape)`` raw; ``tied_to`` (an MLP encoder) shares its weights."""
    opts = resolve_options(backbone, options)
    if tied_to is not None:
        if backbone != "mlp":
            raise AekitError(f"tied weights need backbone 'mlp', not {backbone!r}")
        return TiedMLP(tied_to.net, act=activation, norm_name=norm)
    if backbone == "mlp":
        widths = [math.prod(input_shape), *[int(h) for h in hidden], latent_dim]
        return MLP(widths[::-1], act=activation, norm_name=norm)
    if backbone == "conv":
        c, height, width = _image_shape(backbone, input_shape)
        channels = [int(ch) for ch in opts["channels"]]
        if opts["decoder"] not in DECODERS:
            raise AekitError(f"unknown decoder {opts['decoder']!r}: choose one of {', '.join(DECODERS)}")
        sizes = stage_sizes((height, width), len(channels))
        map_shape = (channels[-1], *sizes[-1])
        from_code = nn.Sequential(nn.Linear(latent_dim, math.prod(map_shape)), make_activation(activation))
        net = ConvDecoder(c, channels, kind=opts["decoder"], act=activation, norm_name=norm)
        return ConvCodeDecoder(from_code, net, map_shape, sizes[:-1])
    layout = acai_code_layout(input_shape, latent_dim, int(opts["scales"]))
    return ACAICodeDecoder(ACAIDecoder(input_shape[0], int(opts["depth"]), int(opts["scales"]), layout[0]), layout)


class Critic(nn.Module):
    """An encoder-shaped network with its own weights, averaged to one number per example: ``(B,)``."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).float().mean(dim=1)  # (B, K) -> (B,)


def build_critic(backbone: str, input_shape: Sequence[int], latent_dim: int, *, hidden: Sequence[int] = (),
                 activation: str = "relu", norm: str | None = None, options: dict | None = None) -> Critic:
    """ACAI's critic on any backbone; for ``acai`` its width is ``critic_depth`` (default: ``depth``)."""
    opts = resolve_options(backbone, options)
    if backbone == "acai" and opts["critic_depth"]:
        opts["depth"] = opts["critic_depth"]
    return Critic(build_encoder(backbone, input_shape, latent_dim, hidden=hidden, activation=activation,
                                norm=norm, options=opts))
