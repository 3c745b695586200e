"""Tests for the convolutional autoencoder and its building blocks: properties wrong code would break."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.conv import ConvAutoEncoder
from aekit.nn.conv import DECODERS, ConvDecoder, ConvEncoder, UpStage, fixed_pool_indices
from aekit.registry import build
from aekit.data.batch import Batch

SHAPES = [(1, 28, 28), (3, 32, 32), (2, 13, 17)]




def unpool_stage(kind="unpool"):
    return UpStage(3, 3, kind=kind)


# ---- building blocks ----------------------------------------------------------------------------
def test_max_unpool_puts_maxima_back_at_their_indices():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 11)  # odd sizes: pooling drops the last row and column
    pooled, idx = nn.MaxPool2d(2, return_indices=True)(x)  # (2, 3, 4, 5)
    up = unpool_stage().unpool(pooled, idx, output_size=(9, 11))  # (2, 3, 9, 11)
    assert up.shape == x.shape
    flat_x, flat_up = x.flatten(2), up.flatten(2)  # (B, C, H * W)
    # every maximum is back at its original position, and that position held it in the input
    assert torch.equal(flat_up.gather(2, idx.flatten(2)), pooled.flatten(2))
    assert torch.equal(flat_x.gather(2, idx.flatten(2)), pooled.flatten(2))
    # ... everything else is zero (random values: the maxima are distinct and nonzero)
    mask = torch.zeros_like(flat_up, dtype=torch.bool).scatter_(2, idx.flatten(2), True)
    assert (flat_up[~mask] == 0).all() and (flat_up[mask] != 0).all()
    # ... and each index lies inside its own 2x2 window, where it is the maximum
    rows, cols = idx // 11, idx % 11
    i, j = torch.meshgrid(torch.arange(4), torch.arange(5), indexing="ij")
    assert torch.equal(rows // 2, i.expand_as(rows)) and torch.equal(cols // 2, j.expand_as(cols))
    windows = x[:, :, :8, :10].unfold(2, 2, 2).unfold(3, 2, 2)  # (B, C, 4, 5, 2, 2)
    assert torch.equal(windows.amax(dim=(-1, -2)), pooled)


def test_fixed_indices_unpool_at_the_top_left_of_each_window():
    pooled = torch.rand(2, 3, 3, 4) + 1  # (B, C, 3, 4), nonzero
    up = unpool_stage().unpool(pooled, fixed_pool_indices(pooled, (7, 9)), output_size=(7, 9))  # (2, 3, 7, 9)
    expected = torch.zeros(2, 3, 7, 9)
    expected[:, :, 0:6:2, 0:8:2] = pooled
    assert torch.equal(up, expected)


@pytest.mark.parametrize("kind", DECODERS)
@pytest.mark.parametrize("down", ["pool", "stride"])
def test_decoder_restores_every_stage_size(kind, down):
    # 28 -> 14 -> 7 -> 3 and 13 -> 6 -> 3 -> 1: odd sizes at several stages.
    enc = ConvEncoder(2, [4, 4, 4], down=down)
    dec = ConvDecoder(2, [4, 4, 4], kind=kind)
    x = torch.rand(2, 2, 28, 13)
    h, indices, sizes = enc(x)
    assert sizes == [(28, 13), (14, 6), (7, 3)] and h.shape == (2, 4, 3, 1)
    assert (all(i is not None for i in indices) if down == "pool" else indices == [None] * 3)
    assert dec(h, sizes, indices).shape == x.shape
    assert dec(h, sizes).shape == x.shape  # no indices: fixed positions for unpool


# ---- the model ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("decoder", DECODERS)
def test_forward_shapes_finite_losses_and_gradients_everywhere(decoder, shape):
    torch.manual_seed(0)
    model = ConvAutoEncoder(input_shape=shape, latent_dim=8, channels=(8, 16), decoder=decoder)
    x = torch.rand(3, *shape)
    out = model(Batch(x=x))
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (3, 8)
    assert set(out.losses) == {"recon"} and all(torch.isfinite(v) for v in out.losses.values())
    assert ((out.x_hat >= 0) & (out.x_hat <= 1)).all()  # bce: sigmoid output
    sum(out.losses.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    indices = out.extras["pool_indices"]  # one (B, C_i, h_i, w_i) tensor per stage, encoder order
    assert [i.shape[1] for i in indices] == [8, 16]
    assert indices[0].shape[-2:] == (shape[1] // 2, shape[2] // 2)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("loss", ["bce", "sse"])
def test_reconstruct_equals_forward_in_eval_mode(decoder, loss):
    torch.manual_seed(0)
    model = ConvAutoEncoder(input_shape=(2, 13, 17), latent_dim=6, channels=(4, 8), decoder=decoder,
                            loss=loss, norm="batch")
    x = torch.rand(4, 2, 13, 17)
    model(Batch(x=x))  # a training step moves BatchNorm's running statistics away from their initial values
    model.eval()
    with torch.no_grad():
        out = model(Batch(x=x))
        assert torch.allclose(model.reconstruct(x), out.x_hat, atol=1e-6)
        assert torch.allclose(model.encode(x), out.z, atol=1e-6)
        assert torch.allclose(model.encode(x.flatten(1)), out.z, atol=1e-6)  # flat items of the right size
        via_code = model.decode(model.encode(x))
    assert via_code.shape == x.shape
    if decoder == "unpool":
        # reconstruct uses the input's switches, decode(z) the fixed positions: they must differ
        assert not torch.allclose(via_code, out.x_hat, atol=1e-4)
    else:
        assert torch.allclose(via_code, out.x_hat, atol=1e-6)


@pytest.mark.parametrize("decoder", DECODERS)
def test_decode_generates_images_from_codes_alone(decoder):
    model = ConvAutoEncoder(input_shape=(3, 13, 17), latent_dim=5, channels=(4, 8), decoder=decoder)
    x_hat = model.decode(torch.randn(6, 5))
    assert x_hat.shape == (6, 3, 13, 17) and torch.isfinite(x_hat).all()


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data[:8], dtype=torch.float32) / 16.0  # 8 images in [0, 1]
    return x.reshape(8, 1, 8, 8)  # (B, C, H, W)


@pytest.mark.parametrize("decoder", DECODERS)
def test_adam_fits_a_tiny_batch_of_digits(decoder, digits):
    torch.manual_seed(0)
    model = ConvAutoEncoder(input_shape=(1, 8, 8), latent_dim=16, channels=(16, 32), decoder=decoder, loss="sse")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(400):
        loss = model(Batch(x=digits)).losses["recon"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = model(Batch(x=digits)).losses["recon"].item()
    # A decoder that ignores the code can do no better than the batch's mean image.
    mean_image = (digits - digits.mean(0, keepdim=True)).pow(2).sum(dim=(1, 2, 3)).mean().item()
    assert final < first / 30, (first, final)
    assert final < mean_image / 10, (mean_image, final)


@pytest.mark.parametrize("shape", [784, (784,), [784], (28, 28)])
def test_flat_input_shapes_are_refused(shape):
    # a bare number is not the list its signature declares: refused by the schema before the constructor runs
    message = r"conv_ae' setting 'input_shape' must be a list" if isinstance(shape, int) else "conv_ae needs images"
    with pytest.raises(AekitError, match=message):
        build("conv_ae", input_shape=shape)


@pytest.mark.parametrize("settings, message", [
    ({"input_shape": (1, 4, 4), "channels": (4, 4, 4)}, "too small"),
    ({"decoder": "deconv"}, "unknown decoder"),
    ({"downsample": "avg"}, "unknown downsample"),
    ({"norm": "layer"}, "unknown norm"),
    ({"channels": ()}, "channels"),
    ({"loss": "bce", "output": "identity"}, "needs output 'sigmoid'"),
])
def test_bad_settings_are_user_errors(settings, message):
    with pytest.raises(AekitError, match=message):
        build("conv_ae", **settings)


@pytest.mark.parametrize("decoder", DECODERS)
def test_hyperparameters_round_trip(decoder):
    model = build("conv_ae", input_shape=(3, 13, 17), latent_dim=7, channels=(4, 6, 8), decoder=decoder,
                  norm="batch", loss="sse", downsample="stride" if decoder == "transpose" else "pool")
    saved = json.loads(json.dumps(model.hparams))  # what a run's config.json holds
    assert saved["decoder"] == decoder and saved["channels"] == [4, 6, 8] and saved["input_shape"] == [3, 13, 17]
    again = build("conv_ae", **saved)
    assert again.hparams == model.hparams
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in again.state_dict().items()} == shapes
    again.load_state_dict(model.state_dict())
    model.eval(), again.eval()
    x = torch.rand(2, 3, 13, 17)
    with torch.no_grad():
        np.testing.assert_allclose(again(Batch(x=x)).x_hat.numpy(), model(Batch(x=x)).x_hat.numpy(), atol=1e-6)
