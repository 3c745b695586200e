"""Greedy layer-wise pretraining: each layer learns to reconstruct its input, and the stack initialises
a deep AE (or a classifier) that is already a good autoencoder before any end-to-end step."""
from __future__ import annotations

import torch

import aekit
from aekit.data import load
from aekit.train import TrainConfig
from aekit.train.pretrain import init_autoencoder, pretrain_stack, pretrained_classifier

CFG = TrainConfig(epochs=15, batch_size=64, lr=3e-3, progress=False)


def _sse(model, x):
    return float(((aekit.reconstruct(model, x) - x) ** 2).flatten(1).sum(1).mean())


def test_stack_initialises_a_deep_ae_that_already_reconstructs():
    train = load("digits", split="train")
    stack = pretrain_stack(train, [64, 48, 16], activation="relu", loss="bce", config=CFG)
    assert [l.weight.shape for l in stack.encoders] == [(48, 64), (16, 48)]
    assert [l.weight.shape for l in stack.decoders] == [(64, 48), (48, 16)]

    torch.manual_seed(0)
    model = aekit.build("ae", input_shape=[1, 8, 8], hidden=[48], latent_dim=16)
    random_sse = _sse(model, train.x)
    init_autoencoder(model, stack)
    for dst, src in zip(model.encoder.linears, stack.encoders):
        assert torch.equal(dst.weight, src.weight)
    for dst, src in zip(model.decoder.linears, stack.decoders[::-1]):
        assert torch.equal(dst.weight, src.weight)
    mean_sse = float(((train.x - train.x.mean(0)) ** 2).flatten(1).sum(1).mean())
    pretrained_sse = _sse(model, train.x)
    assert pretrained_sse < 0.5 * mean_sse < random_sse, (pretrained_sse, mean_sse, random_sse)


def test_tied_model_takes_the_stack_biases_and_classifier_keeps_the_encoders():
    train = load("digits", split="train")
    stack = pretrain_stack(train, [64, 32, 8], config=TrainConfig(epochs=2, progress=False))
    tied = aekit.build("ae", input_shape=64, hidden=[32], latent_dim=8, tied=True)
    init_autoencoder(tied, stack)
    assert torch.equal(tied.encoder.linears[0].weight, stack.encoders[0].weight)
    clf = pretrained_classifier(stack, n_classes=10)
    assert torch.equal(clf[0].weight, stack.encoders[0].weight) and clf[0].weight is not stack.encoders[0].weight
    assert clf(train.x.flatten(1)[:5]).shape == (5, 10)
