"""The encoder and the three discriminators of Deep InfoMax (DIM).

Hjelm, Fedorov, Lavoie-Marchildon, Grewal, Bachman, Trischler & Bengio, "Learning deep representations
by mutual information estimation and maximization", ICLR 2019. Official code: github.com/rdevon/DIM
(PyTorch on the ``cortex`` framework). The loss functions that read these score tensors are
``aekit.losses.mi_jsd`` / ``mi_infonce`` / ``mi_dv``.

Verified in the official code (read at its last commit, our own code, not a copy):

- ``cortex_DIM/configs/convnets.py::_basic32x32`` ("used in Table 1 CIFAR10 and CIFAR100"): three convs
  ``(64|128|256, kernel 4, stride 2, padding 1)`` each with batch norm and ReLU, flatten, a linear layer
  of 1024 with batch norm and ReLU; DIM appends the global layer (``global_units``, 64 by default in the
  January 2019 ``scripts/deep_infomax.py``) with no norm and no activation. ``nn_modules/convnet.py``
  builds each block as conv -> BN -> ReLU and gives convs and linears ``bias = not bn``.
- ``local_task_idx=(1, -1)``: the local objective pairs the output of conv block 1 (0-based: 128
  channels, 8x8 for 32x32 images, after its ReLU) with the last layer, the code. ``local_stage=1``.
- ``nn_modules/mi_networks.py::MI1x1ConvNet`` is the local embedding ("encoder-and-dot"): 1x1 conv
  (no bias) -> BN -> ReLU -> 1x1 conv, plus a 1x1 linear shortcut (no bias) initialised as a noisy
  identity (uniform(-0.01, 0.01), ones on the diagonal) when ``units >= inputs``, then LayerNorm over
  channels. ``models/dim.py::LocalDIM`` embeds the code with the same net (as a 1x1 map), so both
  branches here are that block; the score is the dot product of the two embeddings
  (``functions/dim_losses.py``: ``u = m @ l.T`` over every (code, item, position)).
- ``models/prior_matching.py``: the prior discriminator is linear 1000 ReLU, linear 200 ReLU, linear 1.

Deviations and what is as recalled:

- ``GlobalDiscriminator`` follows the paper's appendix table as recalled, not the official code (whose
  last ``GlobalDIM`` is another encoder-and-dot net): the map goes through a 3x3 conv to 64 with ReLU
  and a 3x3 conv to 32, is flattened, concatenated with the code, then linear 512 ReLU, 512 ReLU, 1.
  Our convs use padding 1 (the size is kept) so that maps as small as 1x1 work.
- Widths: the official embedding width is ``mi_units`` (1024 in January, 2048 in April 2019); the
  paper's tables, as recalled, use 512, our default.
- Image sizes: the official code has one config per size (5x5 convs for 28x28, a fourth stage and
  ``local_task_idx=2`` for 64x64); ``DIMEncoder`` applies the CIFAR net to any size and ``channels``
  / ``local_stage`` choose the others. The linear layers before BN have no bias (``bias = not bn``,
  as the last commit; the January one kept the linear bias, which BN cancels).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.nn.conv import stage_sizes
from aekit.nn.parts import NetArgs, Part, image_shape
from aekit.registry import register_part


class DIMFeatures(NamedTuple):
    local: torch.Tensor  # (B, channels[local_stage], h_l, w_l): the map the local objective scores
    conv: torch.Tensor  # (B, channels[-1], h, w): the last conv map (global DIM's map)
    fc: torch.Tensor  # (B, fc): the hidden layer after its ReLU
    code: torch.Tensor  # (B, code_dim): the representation, linear


def _noisy_identity_(weight: torch.Tensor) -> None:
    """The official shortcut init: uniform(-0.01, 0.01) with ones on the diagonal (a noisy copy)."""
    out_f, in_f = weight.shape[:2]
    if out_f < in_f:
        return  # no identity fits; keep PyTorch's default, as the official code does
    with torch.no_grad():
        weight.uniform_(-0.01, 0.01)
        idx = torch.arange(in_f)
        weight[idx, idx] = 1.0  # conv weights (out, in, 1, 1) index the same way


class DIMEncoder(nn.Module):
    """The DIM CIFAR encoder: ``(B, C, H, W)`` (or flat ``(B, C*H*W)``) -> code ``(B, code_dim)``.

    Stages: [4x4 conv stride 2 padding 1 (no bias), BN, ReLU] per entry of ``channels`` (each halves H
    and W, flooring); flatten; Linear(fc, no bias), BN, ReLU; Linear(code_dim).
    """

    def __init__(self, in_channels: int, image_size: Sequence[int] = (32, 32), code_dim: int = 64,
                 channels: Sequence[int] = (64, 128, 256), fc: int = 1024, local_stage: int = 1):
        super().__init__()
        widths = [int(in_channels), *(int(c) for c in channels)]
        if len(widths) < 2 or min(widths) < 1 or fc < 1 or code_dim < 1:
            raise AekitError(f"DIMEncoder needs >= 1 conv stage and positive widths, got in_channels={in_channels}, "
                             f"channels={list(channels)}, fc={fc}, code_dim={code_dim}")
        if not 0 <= local_stage < len(widths) - 1:
            raise AekitError(f"local_stage={local_stage} is not a conv stage: choose 0 .. {len(widths) - 2} "
                             f"(one per channels entry, 0-based)")
        self.image_shape = (int(in_channels), *(int(s) for s in image_size))  # (C, H, W)
        self.local_stage = int(local_stage)
        # k4 s2 p1 gives floor(S / 2), like stage_sizes; it refuses images too small, with the fix
        sizes = stage_sizes(tuple(self.image_shape[1:]), len(widths) - 1)
        self.local_shape = (widths[self.local_stage + 1], *sizes[self.local_stage + 1])  # (C_l, h_l, w_l)
        self.conv_shape = (widths[-1], *sizes[-1])  # (C, h, w) of the last map
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU())
            for a, b in zip(widths[:-1], widths[1:])
        )
        flat = self.conv_shape[0] * self.conv_shape[1] * self.conv_shape[2]
        self.fc = nn.Sequential(nn.Linear(flat, int(fc), bias=False), nn.BatchNorm1d(int(fc)), nn.ReLU())
        self.head = nn.Linear(int(fc), int(code_dim))
        self.code_dim = int(code_dim)

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.image_shape
        if x.dim() == 2 and x.shape[1] == c * h * w:
            return x.reshape(x.shape[0], c, h, w)  # (B, C*H*W) -> (B, C, H, W)
        if x.dim() == 4 and tuple(x.shape[1:]) == self.image_shape:
            return x
        raise AekitError(f"DIMEncoder was built for images {c}x{h}x{w} (or flat {c * h * w}), got a batch of shape "
                         f"{tuple(x.shape)}: build it with in_channels and image_size of your data")

    def features(self, x: torch.Tensor) -> DIMFeatures:
        h = self._as_images(x)  # (B, C, H, W)
        maps = []
        for stage in self.stages:
            h = stage(h)  # (B, C_s, H_s // 2, W_s // 2)
            maps.append(h)
        hidden = self.fc(h.flatten(1))  # (B, C*h*w) -> (B, fc)
        return DIMFeatures(local=maps[self.local_stage], conv=h, fc=hidden, code=self.head(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).code  # (B, code_dim)


class GlobalDiscriminator(nn.Module):
    """Global DIM's critic T(code, map): conv 3x3 -> 64 ReLU, conv 3x3 -> 32, flatten, concat code, 512-512-1.

    ``scores(code, maps)[i, j]`` scores code i with map j. The first linear layer acts on
    ``[code, map_features]``, so it splits into a code part and a map part: each is computed once per
    item (B rows, not B*B) and every pair is their broadcast sum.
    """

    def __init__(self, map_shape: Sequence[int], code_dim: int, hidden: int = 512):
        super().__init__()
        c, h, w = (int(s) for s in map_shape)
        self.map_net = nn.Sequential(nn.Conv2d(c, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 32, 3, padding=1))
        self.code_dim = int(code_dim)
        self.first = nn.Linear(self.code_dim + 32 * h * w, int(hidden))  # input order: [code, map features]
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(int(hidden), int(hidden)), nn.ReLU(), nn.Linear(int(hidden), 1))

    def scores(self, code: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        m = self.map_net(maps).flatten(1)  # (B, C, h, w) -> (B, 32, h, w) -> (B, 32*h*w)
        w_code, w_map = self.first.weight.split([self.code_dim, m.shape[1]], dim=1)  # (H, K), (H, 32*h*w)
        a = code @ w_code.T  # (B, H): code i's part
        b = m @ w_map.T + self.first.bias  # (B, H): map j's part
        pre = a[:, None, :] + b[None, :, :]  # (B, 1, H) + (1, B, H) -> (B, B, H): pair (i, j)
        return self.rest(pre).squeeze(-1).float()  # (B, B)

    def forward(self, code: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return self.scores(code, maps)  # (B, B)


class _EmbedBlock(nn.Module):
    """Official ``MI1x1ConvNet`` on ``(B, C, ...)``: [1x1 conv, BN, ReLU, 1x1 conv] + linear shortcut, LayerNorm.

    A 1x1 conv is a linear map of each position's channel vector, so the code (a 1x1 map) uses
    ``nn.Linear`` + ``BatchNorm1d`` here; ``spatial`` picks the conv form.
    """

    def __init__(self, c_in: int, dim: int, spatial: bool):
        super().__init__()
        if spatial:
            lin = lambda a, b, bias: nn.Conv2d(a, b, 1, bias=bias)  # noqa: E731
            bn = nn.BatchNorm2d(dim)
        else:
            lin = lambda a, b, bias: nn.Linear(a, b, bias=bias)  # noqa: E731
            bn = nn.BatchNorm1d(dim)
        self.block = nn.Sequential(lin(c_in, dim, False), bn, nn.ReLU(), lin(dim, dim, True))
        self.shortcut = lin(c_in, dim, False)
        _noisy_identity_(self.shortcut.weight)
        self.norm = nn.LayerNorm(dim)
        self.spatial = spatial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block(x) + self.shortcut(x)  # (B, dim) or (B, dim, h, w)
        if self.spatial:
            return self.norm(h.movedim(1, -1)).movedim(-1, 1)  # LayerNorm over channels: (B, h, w, dim) and back
        return self.norm(h)


class LocalDiscriminator(nn.Module):
    """Local DIM's "encoder-and-dot" critic: ``scores(code, local)[i, j, p] = <E_c(code_i), E_l(local_j)[:, p]>``.

    ``local`` is ``(B, C, h, w)``; positions are flattened row-major, ``p = y * w + x``.
    """

    def __init__(self, local_channels: int, code_dim: int, dim: int = 512):
        super().__init__()
        self.local_net = _EmbedBlock(int(local_channels), int(dim), spatial=True)
        self.code_net = _EmbedBlock(int(code_dim), int(dim), spatial=False)

    def scores(self, code: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        c = self.code_net(code)  # (B, dim)
        lo = self.local_net(local).flatten(2)  # (B, dim, h, w) -> (B, dim, P)
        # The dot products in fp32 even under bf16 autocast: B*B*P sums of `dim` terms feed exp/softplus.
        with torch.autocast(device_type=code.device.type, enabled=False):
            return torch.einsum("id,jdp->ijp", c.float(), lo.float())  # (B, B, P)

    def forward(self, code: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        return self.scores(code, local)  # (B, B, P)


class PriorDiscriminator(nn.Module):
    """The prior-matching adversary: code ``(B, K)`` -> one logit ``(B,)`` (real = drawn from the prior)."""

    def __init__(self, code_dim: int, hidden: Sequence[int] = (1000, 200)):
        super().__init__()
        widths = [int(code_dim), *(int(h) for h in hidden)]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).squeeze(-1).float()  # (B, 1) -> (B,)


# ---- the part ----------------------------------------------------------------------------------------
class DIMDecoder(nn.Module):
    """The mirror of ``DIMEncoder`` (ours: DIM has no decoder; the AE, VAE and AAE baselines on DIM's encoder
    need one): code -> Linear(fc) BN ReLU -> Linear(C*h*w) BN ReLU -> per stage, last to first, a 4x4
    transposed conv stride 2 restoring that stage's input size (BN and ReLU between, none after the last):
    ``(B, code_dim) -> (B, C, H, W)`` raw."""

    def __init__(self, out_channels: int, image_size: Sequence[int], code_dim: int,
                 channels: Sequence[int] = (64, 128, 256), fc: int = 1024):
        super().__init__()
        sizes = stage_sizes(tuple(int(s) for s in image_size), len(channels))  # input size of every stage, then the last map's
        self.map_shape = (int(channels[-1]), *sizes[-1])
        self.sizes = sizes[:-1]
        flat = self.map_shape[0] * sizes[-1][0] * sizes[-1][1]
        self.fc = nn.Sequential(nn.Linear(int(code_dim), int(fc), bias=False), nn.BatchNorm1d(int(fc)), nn.ReLU(),
                                nn.Linear(int(fc), flat, bias=False), nn.BatchNorm1d(flat), nn.ReLU())
        widths = [int(out_channels), *(int(c) for c in channels)][::-1]  # C_last ... C_0, out
        self.stages = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=i == len(widths) - 2)
                                    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])))
        self.norms = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(b), nn.ReLU()) for b in widths[1:-1])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(z.shape[0], *self.map_shape)  # (B, K) -> (B, C_last, h, w)
        for i, stage in enumerate(self.stages):
            h = stage(h, output_size=list(self.sizes[len(self.stages) - 1 - i]))  # (B, C, H_s, W_s) exactly
            if i < len(self.norms):
                h = self.norms[i](h)
        return h  # (B, C, H, W)


@register_part("dim")
class DIMPart(Part):
    """Deep InfoMax's encoder (``DIMEncoder``, its 32x32 CIFAR network at any size) and our mirror decoder.
    The model's ``code_activation`` applies to the code; ``channels``, ``fc`` and ``local_stage`` are options."""

    defaults = {"channels": (64, 128, 256), "fc": 1024, "local_stage": 1}

    def encoder(self, input_shape, latent_dim, heads, net: NetArgs, options) -> nn.Module:
        c, h, w = image_shape(self.name, input_shape)
        encoder = DIMEncoder(c, (h, w), heads * latent_dim, channels=options["channels"], fc=int(options["fc"]),
                             local_stage=int(options["local_stage"]))
        if net.code_activation:
            from aekit.nn.mlp import make_activation

            encoder.head = nn.Sequential(encoder.head, make_activation(net.code_activation))
        return encoder

    def decoder(self, input_shape, latent_dim, net: NetArgs, options) -> nn.Module:
        c, h, w = image_shape(self.name, input_shape)
        return DIMDecoder(c, (h, w), latent_dim, channels=options["channels"], fc=int(options["fc"]))
