"""PCA as an autoencoder: the linear baseline with the same encode/decode interface as every AE."""
from __future__ import annotations

from typing import Sequence

import torch

from aekit import losses as L
from aekit.errors import AekitError
from aekit.models.base import Model, Output
from aekit.registry import register


@register("pca")
class PCA(Model):
    """Principal component analysis fitted in closed form (Pearson 1901; Hotelling 1933).

    ``encode`` projects centred inputs on the top ``latent_dim`` principal directions and ``decode``
    maps back: the best rank-k linear reconstruction in squared error, which a linear AE can only match.
    """

    closed_form = True
    capabilities = frozenset({"decode", "trainable_encoder"})

    def __init__(self, input_shape: Sequence[int] | int = 784, latent_dim: int = 30):
        super().__init__()
        self._set_input_shape(input_shape)
        if int(latent_dim) <= 0 or int(latent_dim) > self.input_dim:
            raise AekitError(f"pca latent_dim must lie in 1..n_features (n_features={self.input_dim} here: PCA has "
                             f"no more directions than features), got {latent_dim!r}: choose one in that range")
        k = int(latent_dim)
        self.code_shape = (k,)
        self.register_buffer("mean", torch.zeros(self.input_dim))
        self.register_buffer("components", torch.zeros(k, self.input_dim))  # (K, D), orthonormal rows
        self.register_buffer("explained_variance", torch.zeros(k))

    @torch.no_grad()
    def fit_closed_form(self, x: torch.Tensor) -> None:
        x = x.reshape(x.shape[0], -1).double()  # (N, D); float64 so small eigenvalues stay accurate
        k = self.components.shape[0]
        if x.shape[0] < 2:
            raise AekitError(f"PCA needs at least 2 examples to estimate a covariance, got n_samples={x.shape[0]}: "
                             f"pass more examples")
        mean = x.mean(dim=0)
        xc = x - mean
        # Eigendecomposition of the D x D covariance: cheaper than an SVD of N x D when N >> D.
        cov = xc.T @ xc / (x.shape[0] - 1)
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        order = torch.argsort(evals, descending=True)[:k]
        comps = evecs[:, order].T  # (K, D)
        # Fix each component's sign (largest |entry| positive) so fits are reproducible across runs.
        signs = torch.sign(comps.gather(1, comps.abs().argmax(dim=1, keepdim=True)))
        self.mean.copy_(mean.float())
        self.components.copy_((comps * signs).float())
        self.explained_variance.copy_(evals[order].float())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) - self.mean) @ self.components.T  # (B, K)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.components + self.mean).reshape(z.shape[0], *self.input_shape)

    def code_network(self) -> torch.nn.Module:
        """The projection as a linear layer (weights = components, bias = -components @ mean), which fine-tunes
        like any other (a copy: the PCA itself stays as it was fitted)."""
        k, d = self.components.shape
        linear = torch.nn.Linear(d, k)
        with torch.no_grad():
            linear.weight.copy_(self.components)
            linear.bias.copy_(-self.components @ self.mean)
        return torch.nn.Sequential(torch.nn.Flatten(), linear)  # (B, *item) -> (B, D) -> (B, K)

    def forward(self, batch) -> Output:
        x = batch["x"]
        z = self.encode(x)
        x_hat = self.decode(z)
        return Output(x_hat, z, {"recon": L.reconstruction(x_hat, x, "sse")}, {})
