"""Greedy layer-wise pretraining of a stack of shallow autoencoders (Hinton & Salakhutdinov 2006;
Bengio et al., "Greedy Layer-Wise Training of Deep Networks", NIPS 2007; with noise: Vincent et al. 2010).

Train 784->1000->784, freeze it, train 1000->500->1000 on its codes, and so on; the trained layers
then initialise a deep autoencoder (encoder layers in order, decoder layers mirrored) or a classifier,
which is fine-tuned end to end. Every shallow AE is an ordinary registered model trained by the one loop.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
from torch import nn

from aekit import inference
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.nn.mlp import TiedLinear, make_activation
from aekit.registry import build
from aekit.train.config import TrainConfig
from aekit.train.loop import fit


@dataclass
class LayerStack:
    """The pretrained layers: ``encoders[i]`` maps width i to width i+1, ``decoders[i]`` maps back."""

    widths: list[int]
    encoders: list[nn.Linear]
    decoders: list[nn.Linear]
    activation: str
    code_activation: str | None


def pretrain_stack(data, widths: Sequence[int], *, activation: str = "relu", code_activation: str | None = None,
                   loss: str = "bce", config: TrainConfig | None = None, noise: str | None = None,
                   noise_level: float = 0.0, layer_model: str | None = None,
                   layer_options: dict | None = None) -> LayerStack:
    """Greedily train one shallow AE per layer of ``widths`` (input width first).

    The first layer reconstructs the data with ``loss``; deeper layers reconstruct the previous
    layer's codes with ``sse`` (they are not probabilities). ``noise`` makes each layer a denoising AE;
    ``layer_model`` names another registered one-layer AE (e.g. ``contractive``) with its own
    hyperparameters in ``layer_options`` (e.g. ``{"weight": 0.1}``).
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2:
        raise AekitError(f"pretraining needs at least two widths (input and one layer), got {widths}")
    cfg = config or TrainConfig()
    x = data.x.reshape(data.x.shape[0], -1)  # (N, D)
    if x.shape[1] != widths[0]:
        raise AekitError(f"the data has {x.shape[1]} features but the first width is {widths[0]}: "
                         f"start the widths with {x.shape[1]}")
    encoders, decoders = [], []
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = i == len(widths) - 2
        options = dict(input_shape=[w_in], latent_dim=w_out, hidden=[], activation=activation,
                       code_activation=code_activation if last else activation,
                       loss=loss if i == 0 else "sse")
        torch.manual_seed(cfg.seed + i)
        if noise:
            options.update(noise=noise, noise_level=noise_level)
        layer_ae = build(layer_model or ("denoising" if noise else "ae"), **options, **(layer_options or {}))
        fit(layer_ae, ArrayDataset(x=x, y=None, name=f"layer{i}"), replace(cfg, seed=cfg.seed + i))
        encoders.append(layer_ae.encoder.linears[0])
        decoders.append(layer_ae.decoder.linears[0])
        x = inference.encode(layer_ae, x, cfg.eval_batch_size)  # (N, w_out): the next layer's data
    return LayerStack(widths, encoders, decoders, activation, code_activation)


def init_autoencoder(model, stack: LayerStack) -> None:
    """Copy the stack into a deep AE built with the same widths (``hidden`` + ``latent_dim``)."""
    enc = model.encoder.linears
    if [l.in_features for l in enc] + [enc[-1].out_features] != stack.widths:
        raise AekitError(f"the model's widths do not match the pretrained stack {stack.widths}")
    with torch.no_grad():
        for dst, src in zip(enc, stack.encoders):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
        if model.hparams.get("tied"):
            tied = [m for m in model.decoder if isinstance(m, TiedLinear)]
            for dst, src in zip(tied, stack.decoders[::-1]):
                dst.bias.copy_(src.bias)  # tied decoders share the encoder weights; only biases are their own
        else:
            for dst, src in zip(model.decoder.linears, stack.decoders[::-1]):
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)


def pretrained_classifier(stack: LayerStack, n_classes: int) -> nn.Sequential:
    """An MLP classifier whose hidden layers are the pretrained encoders, plus a fresh softmax layer."""
    layers: list[nn.Module] = []
    for lin in stack.encoders:
        copy = nn.Linear(lin.in_features, lin.out_features)
        copy.load_state_dict(lin.state_dict())
        layers += [copy, make_activation(stack.activation)]
    layers.append(nn.Linear(stack.widths[-1], int(n_classes)))
    return nn.Sequential(*layers)
