"""Deep InfoMax parts (aekit.nn.dim): encoder shapes, score matrices equal to per-pair loops, gradients."""

import pytest
import torch
from torch import nn

from aekit.errors import AekitError
from aekit.losses import MI_ESTIMATORS
from aekit.nn.dim import DIMEncoder, GlobalDiscriminator, LocalDiscriminator, PriorDiscriminator

TINY = dict(code_dim=8, channels=(4, 8, 16), fc=32)  # widths for tests of wiring, not of learning


@pytest.mark.parametrize("shape,local_hw,conv_hw", [
    ((3, 32, 32), (8, 8), (4, 4)),  # the paper's CIFAR setting: local DIM on the 8x8 map
    ((1, 28, 28), (7, 7), (3, 3)),  # odd sizes floor: 28 -> 14 -> 7 -> 3
    ((3, 64, 64), (16, 16), (8, 8)),
])
def test_encoder_feature_shapes_on_any_image_size(shape, local_hw, conv_hw):
    torch.manual_seed(0)
    enc = DIMEncoder(shape[0], shape[1:])  # the defaults: channels 64-128-256, fc 1024, code 64, local_stage 1
    f = enc.features(torch.randn(2, *shape))
    assert f.local.shape == (2, 128, *local_hw) and f.conv.shape == (2, 256, *conv_hw)
    assert f.fc.shape == (2, 1024) and (f.fc >= 0).all()  # after its ReLU
    assert f.code.shape == (2, 64) and (f.code < 0).any()  # the code is linear
    assert (f.local >= 0).all() and (f.conv >= 0).all()  # maps after their ReLU, as the official outputs
    assert enc.local_shape == tuple(f.local.shape[1:]) and enc.conv_shape == tuple(f.conv.shape[1:])


def test_encoder_has_the_official_layers_and_parameter_count_on_32x32():
    enc = DIMEncoder(3, (32, 32), code_dim=64)
    for stage in enc.stages:  # conv (k4 s2 p1, no bias: BN follows) -> BN -> ReLU
        conv, bn, act = stage
        assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((4, 4), (2, 2), (1, 1), None)
        assert isinstance(bn, nn.BatchNorm2d) and isinstance(act, nn.ReLU)
    convs = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16
    norms = 2 * (64 + 128 + 256 + 1024)
    linears = 256 * 4 * 4 * 1024 + 1024 * 64 + 64  # fc without bias (BN follows), code layer with bias
    assert sum(p.numel() for p in enc.parameters()) == convs + norms + linears


def test_encoder_takes_flat_inputs_and_refuses_wrong_sizes_with_the_fix():
    torch.manual_seed(0)
    enc = DIMEncoder(1, (12, 20), **TINY).eval()  # non-square: 12x20 -> 6x10 -> 3x5 -> 1x2
    x = torch.randn(3, 1, 12, 20)
    assert torch.equal(enc(x.flatten(1)), enc(x))
    assert enc.conv_shape == (16, 1, 2)
    with pytest.raises(AekitError, match="build it with in_channels and image_size"):
        enc(torch.randn(3, 1, 20, 12))
    with pytest.raises(AekitError, match="too small for 3 downsampling stages") as info:
        DIMEncoder(3, (4, 4))  # 4 -> 2 -> 1 -> cannot halve again
    assert "\n" not in str(info.value) and "larger images" in str(info.value)
    assert DIMEncoder(3, (8, 8), **TINY).conv_shape == (16, 1, 1)  # the smallest that fits 3 stages
    with pytest.raises(AekitError, match="choose 0 .. 2"):
        DIMEncoder(3, (32, 32), local_stage=3)
    assert DIMEncoder(3, (32, 32), local_stage=2, **TINY).local_shape == (16, 4, 4)


def _warm(module: nn.Module, *inputs: torch.Tensor) -> nn.Module:
    """One train-mode pass (BN running stats leave their init), then eval: per-item calls equal batch calls."""
    with torch.no_grad():
        module.train()(*inputs)
    return module.eval()


def test_global_scores_equal_a_per_pair_loop_over_concatenated_inputs():
    torch.manual_seed(0)
    b, k, shape = 3, 6, (5, 2, 3)
    d = GlobalDiscriminator(shape, k, hidden=16)
    code, maps = torch.randn(b, k), torch.randn(b, *shape)
    s = d.scores(code, maps)
    assert s.shape == (b, b) and s.dtype == torch.float32
    slow = torch.empty(b, b)
    for i in range(b):
        for j in range(b):  # the plain critic T([code_i, flatten(map_net(map_j))]) with the unsplit first layer
            pair = torch.cat([code[i], d.map_net(maps[j:j + 1]).flatten()])
            slow[i, j] = d.rest(d.first(pair)).squeeze()
    assert torch.allclose(s, slow, atol=1e-5)
    maps2 = maps.clone()
    maps2[1, :, 1, 2] += 1.0  # one position of one map moves column 1 only
    diff = (d.scores(code, maps2) - s).abs()
    assert (diff[:, 1] > 1e-6).all() and diff[:, [0, 2]].max() < 1e-6


def test_local_scores_equal_a_per_pair_per_position_loop():
    torch.manual_seed(0)
    b, k, c, h, w = 3, 6, 5, 2, 3
    d = LocalDiscriminator(c, k, dim=8)
    code, local = torch.randn(b, k), torch.randn(b, c, h, w)
    _warm(d, code, local)
    s = d.scores(code, local)
    assert s.shape == (b, b, h * w) and s.dtype == torch.float32
    slow = torch.empty(b, b, h * w)
    for i in range(b):
        for j in range(b):
            for y in range(h):
                for x in range(w):  # item-by-item embeddings; position p = y * w + x (row-major)
                    e_code = d.code_net(code[i:i + 1])[0]
                    e_local = d.local_net(local[j:j + 1])[0, :, y, x]
                    slow[i, j, y * w + x] = e_code @ e_local
    assert torch.allclose(s, slow, atol=1e-5)


def test_every_local_position_moves_its_own_scores_and_no_others():
    torch.manual_seed(0)
    b, k, c, h, w = 3, 4, 5, 3, 2
    d = LocalDiscriminator(c, k, dim=8)
    code, local = torch.randn(b, k), torch.randn(b, c, h, w)
    _warm(d, code, local)  # eval: BN uses running stats, so items do not mix through batch statistics
    s = d.scores(code, local)
    j = 1
    for y in range(h):
        for x in range(w):
            moved = local.clone()
            moved[j, :, y, x] += torch.randn(c)
            diff = (d.scores(code, moved) - s).abs()  # (B, B, P)
            p = y * w + x
            assert (diff[:, j, p] > 1e-6).all()  # every code's score against (item j, position p) changes
            diff[:, j, p] = 0
            assert diff.max() < 1e-6  # and nothing else does


def test_prior_discriminator_is_one_logit_per_code_through_1000_200():
    d = PriorDiscriminator(7)
    widths = [(m.in_features, m.out_features) for m in d.modules() if isinstance(m, nn.Linear)]
    assert widths == [(7, 1000), (1000, 200), (200, 1)]
    out = d(torch.randn(4, 7))
    assert out.shape == (4,) and out.dtype == torch.float32


@pytest.mark.parametrize("estimator", sorted(MI_ESTIMATORS))
def test_gradients_reach_the_encoder_through_each_estimator_and_critic(estimator):
    torch.manual_seed(0)
    enc = DIMEncoder(3, (16, 16), **TINY)
    f = enc.features(torch.randn(4, 3, 16, 16))
    critics = {"local": (LocalDiscriminator(enc.local_shape[0], 8, dim=16), f.local),
               "global": (GlobalDiscriminator(enc.conv_shape, 8, hidden=16), f.conv)}
    for name, (critic, maps) in critics.items():
        enc.zero_grad()
        MI_ESTIMATORS[estimator](critic.scores(f.code, maps)).backward(retain_graph=True)
        for p in (enc.stages[0][0].weight, enc.head.weight):  # first conv (via the maps and the code), code layer
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
        assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in critic.parameters() if q.dim() > 1), name


def test_scores_are_float32_under_bf16_autocast():
    torch.manual_seed(0)
    enc = DIMEncoder(3, (16, 16), **TINY)
    local, glob = LocalDiscriminator(8, 8, dim=16), GlobalDiscriminator(enc.conv_shape, 8, hidden=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        f = enc.features(torch.randn(4, 3, 16, 16))
        for s in (local.scores(f.code, f.local), glob.scores(f.code, f.conv), PriorDiscriminator(8)(f.code)):
            assert s.dtype == torch.float32 and torch.isfinite(s).all()
