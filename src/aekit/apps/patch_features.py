"""Single-layer patch features: an autoencoder trained on small whitened image patches, applied at every
position of an image, its rectified responses pooled over the image's quadrants.

The recipe of Coates, Lee & Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature Learning"
(AISTATS 2011), where a sparse autoencoder on 6x6 patches of CIFAR-10 gave features a linear classifier
reads at about 73% accuracy (as recalled). An image descriptor made this way is a convolutional
encoder whose filters an autoencoder learned; what makes it strong is the encoding (contrast
normalisation, whitening, rectification, pooling over positions), which is why the image-search benchmark
also measures it with random filters.

* :func:`sample_patches`: ``n`` random ``size x size`` patches of a set of images, one index gather.
* :class:`PatchWhitener`: per-patch contrast normalisation (subtract the patch mean, divide by its std)
  then ZCA whitening, fitted on sampled patches; the autoencoder trains on its output.
* :class:`PatchFeatures`: filters ``(K, C*size*size)`` acting on whitened patches -> image features
  ``(N, pool*pool*K)``. The whitening is folded into the filters, so a batch of images costs one matrix
  product over its unfolded, contrast-normalised patches (bf16 on CPU: about 3x fp32's speed for this product
  on our 2-core machine, and exact enough for ranking neighbours) and no per-patch Python.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aekit.errors import AekitError

__all__ = ["PatchFeatures", "PatchWhitener", "sample_patches"]

# Coates et al.'s regularisers, for pixels in [0, 1]: 10 on the 0-255 scale for the contrast
# normalisation (so flat patches are not blown up into noise), 0.1 for ZCA (on normalised patches)
CONTRAST_EPS = 10 / 255 ** 2
ZCA_EPS = 0.1


def _check_images(images: torch.Tensor, size: int) -> None:
    if images.ndim != 4:
        raise AekitError(f"patch features need images shaped (N, C, H, W), got shape {tuple(images.shape)}")
    if not 1 <= size <= min(images.shape[-2:]):
        raise AekitError(f"patch size {size} does not fit images of {images.shape[-2]}x{images.shape[-1]}: "
                         "choose a size between 1 and the smaller side")


def sample_patches(images: torch.Tensor, size: int, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` patches of ``size x size`` at random images and positions: ``(n, C * size * size)``, channel-major
    like ``F.unfold``'s columns."""
    _check_images(images, size)
    count, channels, height, width = images.shape
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, count, (n,), generator=g)
    top = torch.randint(0, height - size + 1, (n,), generator=g)
    left = torch.randint(0, width - size + 1, (n,), generator=g)
    offsets = torch.arange(size)
    rows = (top[:, None] + offsets)[:, None, :, None]  # (n, 1, size, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]  # (n, 1, 1, size)
    patches = images[which[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]
    return patches.reshape(n, -1)


def _contrast_normalise(patches: torch.Tensor, eps: float) -> torch.Tensor:
    """Each patch (the last axis) minus its mean, over its std regularised by ``eps``."""
    mean = patches.mean(-1, keepdim=True)
    return (patches - mean) / (patches.var(-1, keepdim=True) + eps).sqrt()


@dataclass
class PatchWhitener:
    """Contrast normalisation then ZCA whitening of ``size x size`` patches:
    ``transform(p) = (norm(p) - mean) @ zca``."""

    size: int
    mean: torch.Tensor  # (D,) mean of the normalised patches
    zca: torch.Tensor  # (D, D) symmetric whitening matrix
    contrast_eps: float = CONTRAST_EPS

    @classmethod
    def fit(cls, patches: torch.Tensor, size: int, contrast_eps: float = CONTRAST_EPS,
            zca_eps: float = ZCA_EPS) -> "PatchWhitener":
        if patches.ndim != 2 or patches.shape[1] % (size * size) or len(patches) < 2:
            raise AekitError(f"fit the whitener on patches shaped (n >= 2, C*{size}*{size}), "
                             f"got shape {tuple(patches.shape)}")
        if zca_eps < 0 or contrast_eps < 0:
            raise AekitError(f"whitening regularisers must be >= 0, got zca_eps={zca_eps}, contrast_eps={contrast_eps}")
        normalised = _contrast_normalise(patches.double(), contrast_eps)
        mean = normalised.mean(0)
        centred = normalised - mean
        eigenvalues, vectors = torch.linalg.eigh(centred.T @ centred / len(centred))
        # contrast normalisation removes the mean direction (eigenvalue ~0): zca_eps keeps it from exploding
        zca = vectors @ torch.diag((eigenvalues.clamp_min(0) + zca_eps).rsqrt()) @ vectors.T
        return cls(size, mean.float(), zca.float(), contrast_eps)

    def transform(self, patches: torch.Tensor) -> torch.Tensor:
        return (_contrast_normalise(patches, self.contrast_eps) - self.mean) @ self.zca


@dataclass
class PatchFeatures:
    """``relu(W p + b)`` at every position of an image (``p``: the whitened patch there), averaged over a
    ``pool x pool`` grid of regions (2: the four quadrants; Coates et al. sum, which differs by a constant
    factor no distance used for search sees) -> ``(N, pool * pool * K)`` features."""

    filters: torch.Tensor  # (K, C*size*size), acting on whitened patches
    whitener: PatchWhitener
    bias: torch.Tensor | None = None  # (K,)
    pool: int = 2

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
        size = self.whitener.size
        _check_images(images, size)
        dims = images.shape[1] * size * size
        if self.filters.shape[1] != dims:
            raise AekitError(f"the filters take patches of {self.filters.shape[1]} values, but {size}x{size} patches "
                             f"of these {images.shape[1]}-channel images have {dims}")
        # W ((norm(p) - m) zca) + b = norm(p) Wz^T - (Wz m - b), with Wz = W zca: the whitening folds into the
        # filters, so each batch is one GEMM over its contrast-normalised patches, with the shift as its bias
        folded = self.filters.float() @ self.whitener.zca
        shift = folded @ self.whitener.mean - (0 if self.bias is None else self.bias.float())
        compute = torch.bfloat16 if images.device.type == "cpu" else torch.float32
        rows, cols_out = images.shape[-2] - size + 1, images.shape[-1] - size + 1  # positions of a patch
        out = []
        for start in range(0, len(images), batch_size):
            cols = F.unfold(images[start:start + batch_size].float(), size).transpose(1, 2)  # (B, L, D): every patch
            normalised = _contrast_normalise(cols, self.whitener.contrast_eps).to(compute).flatten(0, 1)
            response = torch.addmm(-shift.to(compute), normalised, folded.T.to(compute)).relu_()  # (B*L, K)
            maps = response.reshape(-1, rows, cols_out, len(folded)).permute(0, 3, 1, 2)
            out.append(F.adaptive_avg_pool2d(maps, self.pool).flatten(1).float())
        return torch.cat(out)
