"""Multi-layer perceptrons for flat inputs, and the tied decoder that reuses an encoder's weights."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError
from aekit.nn.parts import NetArgs, Part
from aekit.registry import register_part

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}
NORMS = {
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}


def make_activation(name: str | None) -> nn.Module:
    if name is None or name == "none":
        return nn.Identity()
    if name not in ACTIVATIONS:
        raise AekitError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def norm(name: str | None, width: int) -> nn.Module:
    if name is None or name == "none":
        return nn.Identity()
    if name not in NORMS:
        raise AekitError(f"unknown norm {name!r}: choose one of none, {', '.join(NORMS)}")
    return NORMS[name](width)


class MLP(nn.Sequential):
    """Linear layers ``widths[0] -> widths[1] -> ... -> widths[-1]``.

    Hidden layers get ``norm`` then ``act`` (and ``dropout``); the last layer gets ``last_act`` only,
    so an encoder's code and a decoder's output stay free unless asked otherwise.
    """

    def __init__(
        self,
        widths: Sequence[int],
        act: str = "relu",
        norm_name: str | None = None,
        dropout: float = 0.0,
        last_act: str | None = None,
    ):
        if len(widths) < 2:
            raise AekitError(f"an MLP needs at least an input and an output width, got {list(widths)}")
        if any(int(w) <= 0 for w in widths):
            raise AekitError(f"an MLP's widths must be positive, got {list(widths)}: check hidden and latent_dim")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers += [norm(norm_name, b), make_activation(act)]
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        layers.append(make_activation(last_act))
        super().__init__(*layers)

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self if isinstance(m, nn.Linear)]


class TiedLinear(nn.Module):
    """``y = x @ W + b`` with ``W`` the weight of another ``nn.Linear`` (so ``W.T`` of that layer).

    The source layer is held in a plain list, not as a sub-module, so its weight is saved once.
    """

    def __init__(self, source: nn.Linear):
        super().__init__()
        self._source = [source]
        self.bias = nn.Parameter(torch.zeros(source.in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self._source[0].weight.t(), self.bias)


class TiedMLP(nn.Sequential):
    """The mirror image of an encoder ``MLP``: its linear layers transposed, in reverse order."""

    def __init__(self, encoder: MLP, act: str = "relu", norm_name: str | None = None, last_act: str | None = None):
        linears = encoder.linears[::-1]
        layers: list[nn.Module] = []
        for i, lin in enumerate(linears):
            layers.append(TiedLinear(lin))
            if i < len(linears) - 1:
                layers += [norm(norm_name, lin.in_features), make_activation(act)]
        layers.append(make_activation(last_act))
        super().__init__(*layers)


# ---- the part ----------------------------------------------------------------------------------------
class MLPEncoder(nn.Module):
    """An ``MLP`` over flattened inputs: ``(B, *input_shape) -> (B, heads * K)``."""

    def __init__(self, net: MLP, input_shape: Sequence[int]):
        super().__init__()
        self.net, self.input_shape = net, tuple(input_shape)

    @property
    def linears(self) -> list[nn.Linear]:  # for greedy layer-wise pretraining (train/pretrain.py)
        return self.net.linears

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], -1))  # (B, D) -> (B, heads * K)


@register_part("mlp")
class MLPPart(Part):
    """Fully connected layers ``D -> hidden -> code`` and the mirror back; the widths, activation and norm are
    the model's own arguments (``hidden``, ``activation``, ``norm``), so this part takes no options."""

    defaults: dict = {}

    def encoder(self, input_shape, latent_dim, heads, net: NetArgs, options) -> nn.Module:
        widths = [math.prod(input_shape), *[int(h) for h in net.hidden], heads * latent_dim]
        return MLPEncoder(MLP(widths, act=net.activation, norm_name=net.norm, last_act=net.code_activation),
                          input_shape)

    def decoder(self, input_shape, latent_dim, net: NetArgs, options) -> nn.Module:
        widths = [math.prod(input_shape), *[int(h) for h in net.hidden], latent_dim]
        return MLP(widths[::-1], act=net.activation, norm_name=net.norm)

    def tied_decoder(self, encoder: nn.Module, net: NetArgs) -> nn.Module:
        return TiedMLP(encoder.net, act=net.activation, norm_name=net.norm)
