"""Autoencoders over word counts: the document model of Hinton & Salakhutdinov, "Reducing the
Dimensionality of Data with Neural Networks" (Science 2006): 2000 word counts -> 500 -> 250 -> 125 -> 10,
with a softmax output over the vocabulary (``losses.reconstruction(..., "softmax")``).

``CountInput`` is what a count model adds to any deep AE: a transform of the counts before the encoder
(the loss still sees the raw counts). ``text_ae`` is the deep AE with it and the paper's defaults; the
``binary`` model (``discrete.py``) takes the same ``input_transform``, so the 32- and 64-bit codes of
"Semantic Hashing" (Salakhutdinov & Hinton 2009) are trained on the same documents with
``--set loss=softmax input_transform=log1p``.

Why ``log1p`` by default: a word repeated in a document says less each time (burstiness), and the number
of words per message varies from a handful to thousands (20 Newsgroups: median 48 counted words, max
about 3000), so raw counts would let a few long messages and a few repeated words set the scale of the
first layer. ``log(1 + counts)`` compresses both while keeping which words occur and roughly how often;
Salakhutdinov & Hinton's constrained Poisson input layer also modelled counts relative to the document
length, as ``frequency`` (counts / number of words) does here (on 20 Newsgroups it retrieved worse in the
recipe search: `python benchmarks/text_retrieval.py --only ae10 --set input_transform=frequency`).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.ae import DeepAutoEncoder
from aekit.registry import register

INPUT_TRANSFORMS = ("none", "log1p", "frequency")


class CountTransform(nn.Module):
    """``log1p``: ``log(1 + x)``; ``frequency``: ``x / sum(x)`` per example (an empty document stays 0)."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in INPUT_TRANSFORMS:
            raise AekitError(f"unknown input_transform {kind!r}: choose one of {', '.join(INPUT_TRANSFORMS)}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "log1p":
            return torch.log1p(x.clamp_min(0))
        if self.kind == "frequency":
            flat = x.reshape(x.shape[0], -1)  # (B, D)
            return (flat / flat.sum(dim=1, keepdim=True).clamp_min(1.0)).reshape(x.shape)
        return x

    def extra_repr(self) -> str:
        return self.kind


class TransformedInputEncoder(nn.Module):
    """An encoder that sees transformed inputs: ``net(transform(x))``. Exposes ``linears`` of an MLP encoder
    so greedy layer-wise pretraining (``train/pretrain.py``) still finds its layers."""

    def __init__(self, transform: nn.Module, net: nn.Module):
        super().__init__()
        self.transform, self.net = transform, net

    @property
    def linears(self) -> list[nn.Linear]:
        return self.net.linears

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.transform(x))


class CountInput(DeepAutoEncoder):
    """Mixin for models fed counts: ``input_transform`` (``none`` | ``log1p`` | ``frequency``) and
    ``input_dropout`` (a fraction of the transformed inputs zeroed in training) apply to the encoder's input only; the reconstruction loss compares the output with the untransformed counts.
    Every path to the code goes through ``self.encoder``, so wrapping it covers them all (the discrete
    models' ``forward`` and ``code_indices`` call it directly)."""

    def __init__(self, input_transform: str = "none", input_dropout: float = 0.0, **ae_options):
        transform = CountTransform(input_transform)  # a bad name fails before the networks are built
        if not 0.0 <= float(input_dropout) < 1.0:
            raise AekitError(f"input_dropout is the fraction of input words dropped in training: choose it in "
                             f"[0, 1), got {input_dropout}")
        super().__init__(**ae_options)
        self.input_transform, self.input_dropout = input_transform, float(input_dropout)
        if input_transform != "none" or input_dropout:  # otherwise the plain encoder (and its parameter names)
            if input_dropout:  # drops words of the encoder's input only: a denoising AE over documents
                transform = nn.Sequential(transform, nn.Dropout(float(input_dropout)))
            self.encoder = TransformedInputEncoder(transform, self.encoder)


@register("text_ae")
class TextAutoEncoder(CountInput):
    """Deep autoencoder for documents as word counts (Hinton & Salakhutdinov, Science 2006): 2000 counts ->
    500 -> 250 -> 125 -> 10-d code -> back to a softmax over the vocabulary, trained with the multinomial
    cross-entropy of the document's words (``loss="softmax"``); the encoder sees ``log(1 + counts)``, with
    batch normalisation in its hidden layers and half of its input words dropped in training.

    Use it with a text dataset (``aekit train text_ae --data 20newsgroups``); its codes are compared by
    cosine for retrieval. Any option of the deep AE (``activation``, ``norm``, ``tied``, ...) applies.
    """

    def __init__(self, input_shape: Sequence[int] | int = 2000, latent_dim: int = 10,
                 hidden: Sequence[int] = (500, 250, 125), loss: str = "softmax", input_transform: str = "log1p",
                 norm: str | None = "batch", input_dropout: float = 0.5, **ae_options):
        # norm "batch": without it the codes of 20 Newsgroups stayed near chance for the first epochs;
        # input_dropout 0.5: without it the codes overfit (benchmarks/text_retrieval.py; README, text section)
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, hidden=hidden, loss=loss,
                         input_transform=input_transform, norm=norm, input_dropout=input_dropout, **ae_options)
