"""The convolutional encoder, decoder and critic of ACAI.

Berthelot, Raffel, Roy & Goodfellow, "Understanding and Improving Interpolation in Autoencoders via
an Adversarial Regularizer", ICLR 2019. Official code: github.com/brain-research/acai (TensorFlow 1).

What this file matches, read from the official code (our own PyTorch, not a translation):

- ``lib/layers.py::encoder``: a 1x1 conv to ``depth`` with NO activation; then for each scale
  ``s = 0 .. scales-1`` two 3x3 convs to ``depth * 2**s`` each followed by leaky ReLU, and a 2x2
  average pool (``downscale2d``: ``avg_pool`` 2x2 stride 2, VALID); then a 3x3 conv to
  ``depth * 2**scales`` with leaky ReLU and a 3x3 conv to ``latent`` with no activation. The code is
  a spatial map ``(latent, H / 2**scales, W / 2**scales)``, not a vector.
- ``lib/layers.py::decoder``: for ``s = scales-1 .. 0`` two 3x3 convs to ``depth * 2**s`` with leaky
  ReLU, then 2x nearest-neighbour upsampling (``upscale2d``: tile + ``batch_to_space``, which copies
  each value into its 2x2 block); then a 3x3 conv to ``depth`` with leaky ReLU and a 3x3 conv to the
  image's channels with no activation (the official model regresses [-1, 1] images with MSE on these
  raw outputs; aekit models add their own sigmoid/tanh head if they want one).
- ``acai.py::disc``: the critic is ``layers.encoder`` with its own width (``advdepth``, which
  defaults to ``depth``) and the same ``latent``, reduced by ``tf.reduce_mean(..., axis=[1, 2, 3])``:
  the mean over every position AND every channel, one scalar per example.
- Every conv is ``tf.layers.conv2d(padding='same')`` (3x3 -> padding 1 here) with a bias, biases
  start at zero (the TF default), and kernels are drawn by ``HeModifiedNormalInitializer(0.2)``: a
  plain (untruncated) normal with ``std = 1 / sqrt((1 + 0.2**2) * fan_in)``, ``fan_in = k*k*C_in``.
  Note this is NOT PyTorch's ``kaiming_normal_`` (which would be ``sqrt(2 / ((1 + a**2) fan_in))``);
  it is exactly ``1 / sqrt(1.04 fan_in)``, reproduced by ``he_modified_normal_``.
- Leaky ReLU slope 0.2 (``tf.nn.leaky_relu``'s default ``alpha``).
- ``acai.py::main`` chooses ``scales = log2(width / latent_width)``; ``runs/acai.sh`` uses
  ``depth=16, latent=16, latent_width=2`` (scales 4, a 64-d code) for lines32 and
  ``depth=16, latent=2|16, latent_width=4`` (scales 3) for MNIST; ``depth=64`` for SVHN/CelebA/CIFAR.

Differences and what we could not verify:

- Layout: TF works in NHWC, we in NCHW, so a *flattened* code lists its numbers in a different order
  (H, W, C there; C, H, W here). Nothing in the architecture depends on that order.
- The official code never checks that H and W divide by ``2**scales`` (VALID pooling floors and the
  decoder then returns a smaller image); ``latent_shape`` refuses such sizes instead.
- We cannot run the TF code here, so equality is by reading, not by comparing outputs numerically;
  layer-by-layer parameter counts and the initialiser's std are tested in ``tests/test_acai_arch.py``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.nn.mlp import make_activation
from aekit.nn.parts import Critic, NetArgs, Part, channels_last, image_shape, nhwc
from aekit.registry import register_part

LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default, used by every hidden conv in the official code


def latent_shape(input_hw: tuple[int, int], scales: int, latent: int) -> tuple[int, int, int]:
    """The code's shape ``(latent, H / 2**scales, W / 2**scales)`` for an ``H x W`` input.

    Raises ``AekitError`` when H or W is not divisible by ``2**scales`` (average pooling would drop
    rows or columns and the decoder could not give back the input's size).
    """
    h, w = (int(s) for s in input_hw)
    if scales < 0 or latent < 1:
        raise AekitError(f"ACAI needs scales >= 0 and latent >= 1, got scales={scales}, latent={latent}")
    if h < 1 or w < 1:
        raise AekitError(f"an image of {h}x{w} is empty: give images with at least one row and column")
    f = 2**scales
    if h % f or w % f:
        fits = 0  # the most halvings that both sides allow
        while h % (2 ** (fits + 1)) == 0 and w % (2 ** (fits + 1)) == 0:
            fits += 1
        up_h, up_w = -(-h // f) * f, -(-w // f) * f
        raise AekitError(
            f"an image of {h}x{w} does not halve evenly {scales} times (H and W must be divisible by "
            f"2**{scales} = {f}): pad or resize to {up_h}x{up_w}, or use scales <= {fits}"
        )
    return (int(latent), h // f, w // f)


def he_modified_normal_(conv: nn.Conv2d, slope: float = LEAKY_SLOPE) -> nn.Conv2d:
    """The official ``HeModifiedNormalInitializer``: weights ~ N(0, 1 / ((1 + slope**2) fan_in)), bias 0."""
    fan_in = conv.weight[0].numel()  # C_in / groups * kH * kW, TF's prod(kernel_shape[:-1])
    std = 1.0 / math.sqrt((1.0 + slope**2) * fan_in)
    with torch.no_grad():
        conv.weight.normal_(0.0, std)
        if conv.bias is not None:
            conv.bias.zero_()
    return conv


def acai_conv(c_in: int, c_out: int, kernel: int = 3) -> nn.Conv2d:
    """A 'same'-padded conv with a bias and the official initialisation (odd kernels only)."""
    return he_modified_normal_(nn.Conv2d(int(c_in), int(c_out), kernel, padding=kernel // 2))


def _act() -> nn.Module:
    return make_activation("leaky_relu")  # nn.LeakyReLU(0.2)


def _check_sizes(depth: int, scales: int, latent: int, channels: int, what: str) -> None:
    if depth < 1 or scales < 0 or latent < 1 or channels < 1:
        raise AekitError(
            f"ACAI {what} needs depth >= 1, scales >= 0, latent >= 1 and >= 1 image channel, got "
            f"depth={depth}, scales={scales}, latent={latent}, channels={channels}"
        )


class ACAIEncoder(nn.Sequential):
    """``(B, in_channels, H, W) -> (B, latent, H / 2**scales, W / 2**scales)``; raw (linear) output.

    Layers: 1x1 conv to ``depth``; per scale s: [3x3 conv, lrelu] x 2 at ``depth * 2**s``, avg-pool 2;
    3x3 conv to ``depth * 2**scales`` + lrelu; 3x3 conv to ``latent``.
    """

    def __init__(self, in_channels: int, depth: int, scales: int, latent: int):
        _check_sizes(depth, scales, latent, in_channels, "encoder")
        layers: list[nn.Module] = [acai_conv(in_channels, depth, 1)]  # no activation after the 1x1, as upstream
        width = depth
        for s in range(scales):
            wide = depth << s
            layers += [acai_conv(width, wide), _act(), acai_conv(wide, wide), _act(), nn.AvgPool2d(2)]
            width = wide
        layers += [acai_conv(width, depth << scales), _act(), acai_conv(depth << scales, latent)]
        super().__init__(*layers)
        self.scales, self.latent = int(scales), int(latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        latent_shape(x.shape[-2:], self.scales, self.latent)  # refuse sizes that do not halve evenly
        return super().forward(x)  # (B, latent, H / 2**scales, W / 2**scales)


class ACAIDecoder(nn.Sequential):
    """``(B, latent, h, w) -> (B, out_channels, h * 2**scales, w * 2**scales)``; raw output, no head.

    Layers: per scale s = scales-1 .. 0: [3x3 conv, lrelu] x 2 at ``depth * 2**s``, nearest 2x upsample;
    3x3 conv to ``depth`` + lrelu; 3x3 conv to ``out_channels``.
    """

    def __init__(self, out_channels: int, depth: int, scales: int, latent: int):
        _check_sizes(depth, scales, latent, out_channels, "decoder")
        layers: list[nn.Module] = []
        width = latent
        for s in range(scales - 1, -1, -1):
            wide = depth << s
            layers += [acai_conv(width, wide), _act(), acai_conv(wide, wide), _act(),
                       nn.Upsample(scale_factor=2, mode="nearest")]
            width = wide
        layers += [acai_conv(width, depth), _act(), acai_conv(depth, out_channels)]
        super().__init__(*layers)
        self.latent = int(latent)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 4 or z.shape[1] != self.latent:
            raise AekitError(
                f"the ACAI decoder takes spatial codes (B, {self.latent}, h, w), got shape {tuple(z.shape)}: "
                f"reshape flat codes with z.view(B, *latent_shape(...))"
            )
        return super().forward(z)  # (B, out_channels, h * 2**scales, w * 2**scales)


class ACAICritic(nn.Module):
    """The ACAI critic: an ``ACAIEncoder`` (its own weights) averaged to one scalar per example.

    ``(B, in_channels, H, W) -> (B,)``: the mean over all ``latent`` channels and all positions of the
    encoder's output, as ``tf.reduce_mean(encoder(x), axis=[1, 2, 3])`` in the official ``acai.py``.
    The official ``advdepth`` flag (default: the autoencoder's ``depth``) is this ``depth``.
    """

    def __init__(self, in_channels: int, depth: int, scales: int, latent: int):
        super().__init__()
        self.encoder = ACAIEncoder(in_channels, depth, scales, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)  # (B, latent, H / 2**scales, W / 2**scales)
        return h.mean(dim=(1, 2, 3))  # (B,)


# ---- the part ----------------------------------------------------------------------------------------
def acai_code_layout(input_shape: Sequence[int], latent_dim: int, scales: int) -> tuple[int, int, int]:
    """``(latent_channels, h, w)`` of the ACAI part's spatial code for ``latent_dim`` numbers."""
    _, height, width = image_shape("acai", input_shape)
    if scales < 0 or height % (1 << scales) or width % (1 << scales):
        raise AekitError(f"part 'acai' with scales={scales} needs height and width divisible by "
                         f"{1 << scales}, got {height}x{width}: pad the images (e.g. pad=32) or lower scales")
    h, w = height >> scales, width >> scales
    if latent_dim % (h * w):
        raise AekitError(f"part 'acai' makes a {h}x{w} code map at scales={scales}, so latent_dim must be a "
                         f"multiple of {h * w}, got {latent_dim}: e.g. {h * w * max(1, latent_dim // (h * w))}")
    return latent_dim // (h * w), h, w


class ACAICodeEncoder(nn.Module):
    """The ACAI encoder with ``heads * latent`` output channels, flattened position-major per head."""

    def __init__(self, net: ACAIEncoder, input_shape: Sequence[int], heads: int):
        super().__init__()
        self.net, self.input_shape, self.heads = channels_last(net), tuple(input_shape), heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(nhwc(x.reshape(x.shape[0], *self.input_shape)))  # (B, heads * L, h, w)
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


@register_part("acai")
class ACAIPart(Part):
    """The convolutional network of Berthelot et al. 2019 (above); the code is the spatial map ``(latent, h,
    w)`` with ``h = H / 2**scales``, flattened position by position, so ``latent_dim`` must be a multiple of
    ``h * w`` and consecutive blocks of ``latent_dim / (h*w)`` numbers are one position. The critic's width
    is ``critic_depth`` (default: ``depth``), the official ``advdepth``."""

    defaults = {"depth": 16, "scales": 3, "critic_depth": None}

    def encoder(self, input_shape, latent_dim, heads, net: NetArgs, options) -> nn.Module:
        latent, _, _ = acai_code_layout(input_shape, latent_dim, int(options["scales"]))
        encoder = ACAIEncoder(input_shape[0], int(options["depth"]), int(options["scales"]), heads * latent)
        return ACAICodeEncoder(encoder, input_shape, heads)

    def decoder(self, input_shape, latent_dim, net: NetArgs, options) -> nn.Module:
        layout = acai_code_layout(input_shape, latent_dim, int(options["scales"]))
        return ACAICodeDecoder(ACAIDecoder(input_shape[0], int(options["depth"]), int(options["scales"]), layout[0]),
                               layout)

    def code_positions(self, input_shape, latent_dim, options) -> int:
        _, h, w = acai_code_layout(input_shape, latent_dim, int(options["scales"]))
        return h * w

    def critic(self, input_shape, latent_dim, net: NetArgs, options) -> nn.Module:
        depth = options["critic_depth"] or options["depth"]
        return Critic(self.encoder(input_shape, latent_dim, 1, net, {**options, "depth": depth}))
