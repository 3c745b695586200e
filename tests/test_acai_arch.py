"""The ACAI conv stack (aekit.nn.acai): shapes, parameter counts and initialisation of the official code."""

import math

import pytest
import torch
from torch import nn

from aekit.errors import AekitError
from aekit.nn.acai import ACAICritic, ACAIDecoder, ACAIEncoder, latent_shape

# (C, H, W), scales: square grey and colour, and a non-square size that halves 3 times (16x24 -> 2x3)
SHAPES = [((1, 32, 32), 3), ((3, 32, 32), 3), ((2, 16, 24), 3)]
DEPTH, LATENT = 4, 5  # tiny widths: these tests check shapes, not learning


@pytest.mark.parametrize("shape,scales", SHAPES)
def test_encoder_gives_latent_shape_and_decoder_gives_back_the_input_shape(shape, scales):
    torch.manual_seed(0)
    c, h, w = shape
    enc, dec = ACAIEncoder(c, DEPTH, scales, LATENT), ACAIDecoder(c, DEPTH, scales, LATENT)
    x = torch.randn(2, c, h, w)
    z = enc(x)  # (2, LATENT, h / 8, w / 8)
    assert tuple(z.shape) == (2, *latent_shape((h, w), scales, LATENT))
    assert tuple(z.shape[2:]) == (h // 2**scales, w // 2**scales)
    assert dec(z).shape == x.shape


@pytest.mark.parametrize("shape,scales", SHAPES)
def test_critic_is_one_differentiable_scalar_per_example_the_mean_of_its_encoder(shape, scales):
    torch.manual_seed(0)
    critic = ACAICritic(shape[0], DEPTH, scales, LATENT)
    x = torch.randn(3, *shape, requires_grad=True)
    c = critic(x)
    assert c.shape == (3,)
    # the official reduction: mean over channels AND positions of the encoder-shaped net's output
    assert torch.allclose(c, critic.encoder(x).mean(dim=(1, 2, 3)))
    c.pow(2).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and x.grad.abs().sum() > 0


def test_sizes_that_do_not_halve_evenly_are_refused_with_a_one_line_fix():
    with pytest.raises(AekitError, match="pad or resize to 32x32, or use scales <= 1") as info:
        latent_shape((30, 32), 3, 16)
    assert "\n" not in str(info.value)
    assert latent_shape((30, 32), 1, 16) == (16, 15, 16)
    enc = ACAIEncoder(1, DEPTH, 2, LATENT)
    with pytest.raises(AekitError, match="divisible by 2\\*\\*2 = 4"):
        enc(torch.zeros(1, 1, 16, 18))
    with pytest.raises(AekitError, match="spatial codes"):
        ACAIDecoder(1, DEPTH, 2, LATENT)(torch.zeros(1, LATENT * 4))  # a flat code must be reshaped first


def test_layer_pattern_leaky_relu_02_and_raw_outputs():
    scales = 3
    for net in (ACAIEncoder(1, DEPTH, scales, LATENT), ACAIDecoder(1, DEPTH, scales, LATENT)):
        acts = [m for m in net if isinstance(m, nn.LeakyReLU)]
        assert len(acts) == 2 * scales + 1 and all(a.negative_slope == 0.2 for a in acts)
        assert isinstance(net[-1], nn.Conv2d)  # no activation on the code nor on the image
    enc = ACAIEncoder(1, DEPTH, scales, LATENT)
    assert isinstance(enc[1], nn.Conv2d) and enc[0].kernel_size == (1, 1)  # 1x1 conv, then no activation
    assert sum(isinstance(m, nn.AvgPool2d) for m in enc) == scales
    dec = ACAIDecoder(1, DEPTH, scales, LATENT)
    ups = [m for m in dec if isinstance(m, nn.Upsample)]
    assert len(ups) == scales and all(u.mode == "nearest" and u.scale_factor == 2 for u in ups)


def conv_params(k: int, c_in: int, c_out: int) -> int:
    """A k x k conv with bias: k*k*c_in*c_out weights + c_out biases."""
    return k * k * c_in * c_out + c_out


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_the_official_mnist_configuration():
    # runs/acai.sh: mnist32 with depth=16, latent=16, latent_width=4 -> scales=log2(32/4)=3, 1 colour.
    # Encoder, from lib/layers.py::encoder (widths depth << s):
    #   1x1 1->16; scale 0: 3x3 16->16, 16->16; scale 1: 16->32, 32->32; scale 2: 32->64, 64->64;
    #   3x3 64->128 (depth << scales); 3x3 128->16 (latent)
    enc_layers = [(1, 1, 16), (3, 16, 16), (3, 16, 16), (3, 16, 32), (3, 32, 32), (3, 32, 64), (3, 64, 64),
                  (3, 64, 128), (3, 128, 16)]
    # Decoder, from lib/layers.py::decoder: scale 2: 16->64, 64->64; scale 1: 64->32, 32->32;
    #   scale 0: 32->16, 16->16; 3x3 16->16 (depth); 3x3 16->1 (colours)
    dec_layers = [(3, 16, 64), (3, 64, 64), (3, 64, 32), (3, 32, 32), (3, 32, 16), (3, 16, 16), (3, 16, 16),
                  (3, 16, 1)]
    enc_count = sum(conv_params(*layer) for layer in enc_layers)
    dec_count = sum(conv_params(*layer) for layer in dec_layers)
    # worked out by hand: 32 + 2*2320 + 4640 + 9248 + 18496 + 36928 + 73856 + 18448
    assert enc_count == 166_288
    # 9280 + 36928 + 18464 + 9248 + 4624 + 2320 + 2320 + 145
    assert dec_count == 83_329
    assert n_params(ACAIEncoder(1, 16, 3, 16)) == enc_count
    assert n_params(ACAIDecoder(1, 16, 3, 16)) == dec_count
    # the critic is an encoder-shaped net (advdepth defaults to depth): same count, its own weights
    critic = ACAICritic(1, 16, 3, 16)
    assert n_params(critic) == enc_count


def test_parameter_count_formula_for_any_configuration():
    # General formula, with w_s = depth * 2**s and k(a, b) = conv_params(3, a, b):
    #   encoder = conv_params(1, C, d) + sum_s [k(w_{s-1} or d, w_s) + k(w_s, w_s)] + k(w_{S-1} or d, w_S) + k(w_S, L)
    #   decoder = sum_{s=S-1..0} [k(w_{s+1} or L, w_s) + k(w_s, w_s)] + k(d, d) + k(d, C)
    k = lambda a, b: conv_params(3, a, b)  # noqa: E731
    for c, d, scales, lat in [(3, 8, 2, 4), (2, 5, 4, 7), (1, 6, 0, 3)]:
        w = [d << s for s in range(scales + 1)]
        enc = conv_params(1, c, d) + sum(k(w[s - 1] if s else d, w[s]) + k(w[s], w[s]) for s in range(scales))
        enc += k(w[scales - 1] if scales else d, w[scales]) + k(w[scales], lat)
        dec = sum(k(w[s + 1] if s < scales - 1 else lat, w[s]) + k(w[s], w[s]) for s in range(scales))
        dec += k(w[0] if scales else lat, d) + k(d, c)
        assert n_params(ACAIEncoder(c, d, scales, lat)) == enc
        assert n_params(ACAIDecoder(c, d, scales, lat)) == dec


def test_initialisation_is_the_official_he_modified_normal():
    # lib/layers.py::HeModifiedNormalInitializer(0.2): N(0, std) with std = 1 / sqrt(1.04 * k*k*C_in),
    # biases zero. PyTorch's default would give std = 1 / sqrt(3 * fan_in), far outside the tolerance.
    torch.manual_seed(0)
    enc = ACAIEncoder(1, 32, 2, 8)
    for conv in (m for m in enc.modules() if isinstance(m, nn.Conv2d)):
        assert torch.count_nonzero(conv.bias) == 0
    wide = enc[-3]  # the 3x3 64 -> 128 conv: 73,728 weights, so the sample std is within ~0.3% of the truth
    assert isinstance(wide, nn.Conv2d) and (wide.in_channels, wide.out_channels) == (64, 128)
    expected = 1.0 / math.sqrt(1.04 * 9 * 64)
    weight = wide.weight.detach().flatten()
    assert abs(weight.std().item() / expected - 1) < 0.02
    assert abs(weight.mean().item()) < 0.02 * expected
    # normal, not uniform: ~68.3% of a normal lies within one std (a uniform would give ~57.7%)
    assert abs((weight.abs() < expected).float().mean().item() - 0.6827) < 0.01
    # every layer large enough to estimate follows the same rule for its own fan-in
    for conv in (m for m in enc.modules() if isinstance(m, nn.Conv2d) and m.weight.numel() >= 2000):
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert abs(conv.weight.std().item() * math.sqrt(1.04 * fan_in) - 1) < 0.1
