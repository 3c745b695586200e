"""Convolutional encoder and decoder stages for images of any size and channel count.

An encoder stage is a 3x3 convolution and an activation followed by a 2x downsampling, either
max-pooling (which remembers where each maximum was: its "switches") or a stride-2 convolution.
A decoder stage undoes one downsampling in one of the three ways the lectures describe:

- ``unpool``: ``nn.MaxUnpool2d`` puts each value back at the position its max-pool took it from
  (Zeiler et al., "Adaptive Deconvolutional Networks", ICCV 2011; Noh et al., "Learning
  Deconvolution Network for Semantic Segmentation", ICCV 2015) and leaves zeros elsewhere; a 3x3
  convolution then fills the holes. Without switches (generating from a code alone),
  ``fixed_pool_indices`` places each value at the top-left of its window (Dosovitskiy et al.,
  "Learning to Generate Chairs with Convolutional Neural Networks", CVPR 2015).
- ``upsample``: nearest-neighbour upsampling copies each value into its whole window, then a 3x3
  convolution.
- ``transpose``: a stride-2 transposed convolution (kernel 4, padding 1) learns the upsampling.

Odd sizes: downsampling floors (28 -> 14 -> 7 -> 3), which loses the last row or column of an odd map.
The encoder reports each stage's input size and every decoder stage is told the size to restore
(``output_size=`` for unpooling and transposed convolution, the target size for interpolation), so a
decoded image always has exactly the input's H x W.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError
from aekit.nn.mlp import make_activation
from aekit.nn.parts import NetArgs, Part, image_shape
from aekit.registry import register_part

DOWNSAMPLERS = ("pool", "stride")
DECODERS = ("unpool", "upsample", "transpose")
CONV_NORMS = ("batch",)

Size = tuple[int, int]


def conv_norm(name: str | None, channels: int) -> nn.Module:
    if name is None or name == "none":
        return nn.Identity()
    if name not in CONV_NORMS:
        raise AekitError(f"unknown norm {name!r} for convolutions: choose none or {', '.join(CONV_NORMS)}")
    return nn.BatchNorm2d(channels)


def downsampled(size: Size) -> Size:
    """Spatial size after one stage: floor(S / 2) for max-pooling and for the k4-s2-p1 conv alike."""
    return (size[0] // 2, size[1] // 2)


def stage_sizes(size: Size, n_stages: int) -> list[Size]:
    """Input size of every stage, then the final map's size: ``n_stages + 1`` entries.

    Raises ``AekitError`` if the image is too small to halve ``n_stages`` times.
    """
    sizes = [tuple(int(s) for s in size)]
    for _ in range(n_stages):
        if min(sizes[-1]) < 2:
            raise AekitError(
                f"an image of {size[0]}x{size[1]} is too small for {n_stages} downsampling stages "
                f"(each halves the size): use fewer channels entries or larger images"
            )
        sizes.append(downsampled(sizes[-1]))
    return sizes  # type: ignore[return-value]


def fixed_pool_indices(pooled: torch.Tensor, input_size: Size) -> torch.Tensor:
    """Max-pool indices that point at the top-left of every 2x2 window: "unpooling without switches".

    ``pooled`` is a ``(B, C, h, w)`` map pooled from ``input_size`` (H, W); the result is int64 of the
    same shape, in ``nn.MaxPool2d``'s convention (flat index into each H x W plane).
    """
    b, c, h, w = pooled.shape
    rows = torch.arange(h, device=pooled.device) * 2  # (h,) top row of each window
    cols = torch.arange(w, device=pooled.device) * 2  # (w,) left column of each window
    flat = rows[:, None] * input_size[1] + cols[None, :]  # (h, w)
    return flat.expand(b, c, h, w)  # (B, C, h, w)


class ConvStage(nn.Module):
    """One encoder stage: ``(B, C_in, H, W) -> (B, C_out, H // 2, W // 2)``.

    ``down="pool"``: 3x3 conv, norm, activation, 2x2 max-pool; ``forward`` returns the pool indices.
    ``down="stride"``: 4x4 conv with stride 2, norm, activation; ``forward`` returns ``None`` indices.
    """

    def __init__(self, c_in: int, c_out: int, down: str = "pool", act: str = "relu", norm_name: str | None = None):
        super().__init__()
        if down not in DOWNSAMPLERS:
            raise AekitError(f"unknown downsampling {down!r}: choose one of {', '.join(DOWNSAMPLERS)}")
        self.down = down
        if down == "pool":
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
            self.pool = nn.MaxPool2d(2, return_indices=True)
        else:
            self.conv = nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)
        self.norm = conv_norm(norm_name, c_out)
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.act(self.norm(self.conv(x)))  # (B, C_out, H, W) or (B, C_out, H//2, W//2) with stride
        if self.down == "pool":
            h, idx = self.pool(h)  # (B, C_out, H//2, W//2), indices of the same shape
            return h, idx
        return h, None


class UpStage(nn.Module):
    """One decoder stage: ``(B, C_in, h, w) -> (B, C_out, *output_size)``.

    ``kind`` is ``unpool`` (needs the matching pool's indices), ``upsample`` or ``transpose``.
    ``last=True`` leaves the output free (no norm, no activation): it is the image's raw output.
    """

    def __init__(self, c_in: int, c_out: int, kind: str = "unpool", act: str = "relu",
                 norm_name: str | None = None, last: bool = False):
        super().__init__()
        if kind not in DECODERS:
            raise AekitError(f"unknown decoder {kind!r}: choose one of {', '.join(DECODERS)}")
        self.kind = kind
        if kind == "unpool":
            self.unpool = nn.MaxUnpool2d(2)
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        elif kind == "upsample":
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        else:
            # k4 s2 p1 gives 2h or 2h + 1 (via output_size): exactly the sizes that floor-halve to h.
            self.conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        self.norm = nn.Identity() if last else conv_norm(norm_name, c_out)
        self.act = nn.Identity() if last else make_activation(act)

    def forward(self, x: torch.Tensor, output_size: Size, indices: torch.Tensor | None = None) -> torch.Tensor:
        size = tuple(output_size)
        if self.kind == "unpool":
            if indices is None:
                indices = fixed_pool_indices(x, size)
            h = self.conv(self.unpool(x, indices, output_size=size))  # (B, C_in, H, W) -> (B, C_out, H, W)
        elif self.kind == "upsample":
            h = self.conv(F.interpolate(x, size=size, mode="nearest"))  # (B, C_in, H, W) -> (B, C_out, H, W)
        else:
            h = self.conv(x, output_size=list(size))  # (B, C_out, H, W)
        return self.act(self.norm(h))


class ConvEncoder(nn.Module):
    """Stages ``in_channels -> channels[0] -> ... -> channels[-1]``, each halving H and W.

    ``forward`` returns the last feature map ``(B, channels[-1], h, w)``, the pool indices of every
    stage in encoder order (``None`` entries with stride downsampling) and every stage's input size,
    which a decoder needs to restore odd sizes exactly.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], down: str = "pool", act: str = "relu",
                 norm_name: str | None = None):
        super().__init__()
        widths = [int(in_channels), *[int(c) for c in channels]]
        self.stages = nn.ModuleList(
            ConvStage(a, b, down=down, act=act, norm_name=norm_name) for a, b in zip(widths[:-1], widths[1:])
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor | None], list[Size]]:
        indices: list[torch.Tensor | None] = []
        sizes: list[Size] = []
        for stage in self.stages:
            sizes.append((x.shape[-2], x.shape[-1]))
            x, idx = stage(x)  # (B, C_i, H_i // 2, W_i // 2)
            indices.append(idx)
        return x, indices, sizes


class ConvDecoder(nn.Module):
    """The mirror of a ``ConvEncoder``: ``channels[-1] -> ... -> channels[0] -> out_channels``.

    ``forward(h, sizes, indices)`` takes the encoder's stage input sizes and (for ``unpool``) its
    pool indices, both in encoder order, and undoes the stages last to first. ``indices=None``
    unpools every stage at the top-left of its windows (``fixed_pool_indices``).
    The output is raw (no final activation): logits for a BCE loss.
    """

    def __init__(self, out_channels: int, channels: Sequence[int], kind: str = "unpool", act: str = "relu",
                 norm_name: str | None = None):
        super().__init__()
        widths = [int(out_channels), *[int(c) for c in channels]][::-1]
        self.stages = nn.ModuleList(
            UpStage(a, b, kind=kind, act=act, norm_name=norm_name, last=i == len(widths) - 2)
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))
        )

    def forward(self, h: torch.Tensor, sizes: Sequence[Size],
                indices: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        if len(sizes) != len(self.stages) or (indices is not None and len(indices) != len(self.stages)):
            raise AekitError(f"the decoder has {len(self.stages)} stages but was given {len(sizes)} sizes"
                             f"{'' if indices is None else f' and {len(indices)} index tensors'}")
        for i, stage in enumerate(self.stages):
            j = len(self.stages) - 1 - i  # the encoder stage this one undoes
            h = stage(h, sizes[j], None if indices is None else indices[j])  # (B, C_j, H_j, W_j)
        return h


# ---- the part ----------------------------------------------------------------------------------------
class ConvCodeEncoder(nn.Module):
    """Conv stages, then a linear layer from the last feature map to the code(s)."""

    def __init__(self, net: ConvEncoder, to_code: nn.Linear, input_shape: Sequence[int]):
        super().__init__()
        self.net, self.to_code, self.input_shape = net, to_code, tuple(input_shape)

    def with_switches(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """The code and every stage's pool indices (None with stride downsampling), for an unpooling decoder."""
        h, indices, _ = self.net(x.reshape(x.shape[0], *self.input_shape))  # (B, C_last, h, w)
        return self.to_code(h.flatten(1)), indices  # (B, heads * K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.with_switches(x)[0]


class ConvCodeDecoder(nn.Module):
    def __init__(self, from_code: nn.Module, net: ConvDecoder, map_shape: tuple[int, ...], sizes: list):
        super().__init__()
        self.from_code, self.net, self.map_shape, self.sizes = from_code, net, map_shape, sizes

    def forward(self, z: torch.Tensor, indices: list[torch.Tensor | None] | None = None) -> torch.Tensor:
        """``indices``: the encoder's pool switches (``ConvCodeEncoder.with_switches``) for ``unpool``; without
        them values are unpooled at fixed positions."""
        h = self.from_code(z).reshape(z.shape[0], *self.map_shape)  # (B, K) -> (B, C_last, h, w)
        return self.net(h, self.sizes, indices)  # (B, C, H, W)


@register_part("conv")
class ConvPart(Part):
    """Stride/pool convolution stages, a linear layer to the code, and the mirror (nearest ``upsample`` +
    conv, ``transpose`` conv, or ``unpool`` at fixed positions, since a decoder fed a code alone has no
    pooling switches; ``models/conv.py`` is the AE that uses the switches). The model's ``activation`` and
    ``norm`` apply to every stage."""

    defaults = {"channels": (32, 64), "downsample": "stride", "decoder": "upsample"}

    @staticmethod
    def _channels(options) -> list[int]:
        channels = [int(ch) for ch in options["channels"]]
        if not channels or any(ch <= 0 for ch in channels):
            raise AekitError(f"conv part: channels must be one or more positive widths, got {channels!r}")
        return channels

    def encoder(self, input_shape, latent_dim, heads, net: NetArgs, options) -> nn.Module:
        c, height, width = image_shape(self.name, input_shape)
        channels = self._channels(options)
        if options["downsample"] not in DOWNSAMPLERS:
            raise AekitError(f"unknown downsample {options['downsample']!r}: choose one of {', '.join(DOWNSAMPLERS)}")
        last = stage_sizes((height, width), len(channels))[-1]
        encoder = ConvEncoder(c, channels, down=options["downsample"], act=net.activation, norm_name=net.norm)
        return ConvCodeEncoder(encoder, nn.Linear(channels[-1] * last[0] * last[1], heads * latent_dim), input_shape)

    def decoder(self, input_shape, latent_dim, net: NetArgs, options) -> nn.Module:
        c, height, width = image_shape(self.name, input_shape)
        channels = self._channels(options)
        if options["decoder"] not in DECODERS:
            raise AekitError(f"unknown decoder {options['decoder']!r}: choose one of {', '.join(DECODERS)}")
        sizes = stage_sizes((height, width), len(channels))
        map_shape = (channels[-1], *sizes[-1])
        from_code = nn.Sequential(nn.Linear(latent_dim, math.prod(map_shape)), make_activation(net.activation))
        decoder = ConvDecoder(c, channels, kind=options["decoder"], act=net.activation, norm_name=net.norm)
        return ConvCodeDecoder(from_code, decoder, map_shape, sizes[:-1])
