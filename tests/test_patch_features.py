"""Single-layer patch features: the fast path equals the definition, patches are the image's own, the
whitener whitens, and bad input gets one clear error."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from aekit.apps.patch_features import PatchFeatures, PatchWhitener, sample_patches
from aekit.errors import AekitError


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(40, 3, 10, 10, generator=torch.Generator().manual_seed(0))


def test_sampled_patches_are_slices_of_one_image():
    count, channels, height, width, size = 3, 2, 9, 7, 4
    image = torch.arange(count * channels * height * width, dtype=torch.float32).reshape(count, channels, height, width)
    patches = sample_patches(image, size, 500, seed=1).reshape(500, channels, size, size)
    corner = patches[:, :1, :1, :1]  # the value at (channel 0, top, left) fixes image and position
    c, i, j = torch.meshgrid(torch.arange(channels), torch.arange(size), torch.arange(size), indexing="ij")
    assert torch.equal(patches - corner, (c * height * width + i * width + j).float().expand_as(patches))
    assert len(torch.unique(corner)) > 50  # many images and positions, not one


def test_whitened_patches_have_identity_covariance_off_the_mean_direction(images):
    patches = sample_patches(images, 3, 20000)
    whitener = PatchWhitener.fit(patches, 3, zca_eps=1e-8)
    white = whitener.transform(patches).double()
    cov = (white - white.mean(0)).T @ (white - white.mean(0)) / len(white)
    dims = patches.shape[1]
    # contrast normalisation removes each patch's mean: the one direction left with no variance
    mean_direction = torch.full((dims, 1), dims ** -0.5, dtype=torch.float64)
    assert torch.allclose(cov, torch.eye(dims, dtype=torch.float64) - mean_direction @ mean_direction.T, atol=1e-3)
    assert torch.allclose(whitener.zca, whitener.zca.T)  # ZCA: the symmetric whitening, closest to the input


@pytest.mark.parametrize("width", [10, 12])  # square and not
def test_fast_features_equal_the_per_position_definition(width):
    images = torch.rand(2, 3, 10, width, generator=torch.Generator().manual_seed(1))
    size, filters = 3, 5
    whitener = PatchWhitener.fit(sample_patches(images, size, 5000), size)
    g = torch.Generator().manual_seed(2)
    weights, bias = torch.randn(filters, 3 * size * size, generator=g), torch.randn(filters, generator=g)
    fast = PatchFeatures(weights, whitener, bias)(images, batch_size=1)
    rows, cols = 10 - size + 1, width - size + 1  # even counts of positions: quadrants split them exactly
    expected, cut = torch.zeros(2, filters, 2, 2), 0
    for n in range(2):
        for r in range(rows):
            for c in range(cols):
                patch = images[n:n + 1, :, r:r + size, c:c + size].reshape(1, -1)
                response = F.relu(whitener.transform(patch) @ weights.T + bias)[0]
                expected[n, :, r // (rows // 2), c // (cols // 2)] += response / (rows // 2 * cols // 2)
                cut += int((response == 0).sum())
    assert fast.shape == (2, filters * 4)
    assert torch.allclose(fast, expected.flatten(1), rtol=2e-2, atol=2e-2)  # bf16 GEMM on CPU
    assert 0 < cut < 2 * rows * cols * filters  # the rectification both passes and cuts responses


def test_features_ignore_brightness_and_contrast(images):
    """Each patch is normalised to mean 0 and std 1, so a*x + b (a > 0) gives x's features."""
    whitener = PatchWhitener.fit(sample_patches(images, 3, 5000), 3, contrast_eps=0.0)
    features = PatchFeatures(torch.randn(8, 27, generator=torch.Generator().manual_seed(3)), whitener)
    original, changed = features(images[:4]), features(0.3 * images[:4] + 0.5)
    assert torch.allclose(original, changed, rtol=3e-2, atol=3e-2)
    assert not torch.allclose(original, features(images[4:8]), rtol=3e-2, atol=3e-2)  # other images differ


@pytest.mark.parametrize("call, message", [
    (lambda x, w: sample_patches(x[0], 3, 10), "(N, C, H, W)"),
    (lambda x, w: sample_patches(x, 11, 10), "does not fit"),
    (lambda x, w: PatchWhitener.fit(torch.rand(10, 26), 3), "shaped"),
    (lambda x, w: PatchWhitener.fit(torch.rand(10, 27), 3, zca_eps=-1), ">= 0"),
    (lambda x, w: PatchFeatures(torch.randn(4, 12), w)(x), "take patches of 12 values"),
])
def test_bad_input_gets_one_clear_error(images, call, message):
    whitener = PatchWhitener.fit(sample_patches(images, 3, 1000), 3)
    with pytest.raises(AekitError, match=re.escape(message)):
        call(images, whitener)
