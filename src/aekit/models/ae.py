"""Deep MLP autoencoders and the regularised variants the lectures describe.

A variant is the deep AE with one hook overridden, not a copy:
``_corrupt`` (denoising), ``_perturb_code`` (dropout), ``_penalties`` (sparse, contractive).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from aekit import losses as L
from aekit.errors import AekitError
from aekit.models.base import Model, Output
from aekit.nn.parts import NetArgs, build_decoder, build_encoder
from aekit.registry import register


@register("ae")
class DeepAutoEncoder(Model):
    """Deep fully connected autoencoder (Hinton & Salakhutdinov, "Reducing the Dimensionality of Data
    with Neural Networks", Science 2006).

    ``hidden`` are the encoder widths before the code (the decoder mirrors them); ``tied=True`` makes
    the decoder use the transposed encoder weights. ``loss`` is ``bce`` for inputs in [0, 1] (the
    decoder then ends in a sigmoid) or ``sse``/``mse`` for real-valued inputs (linear output); ``auto``
    (the default) picks ``bce`` or ``sse`` by the training data's range and records the choice in the run.
    With ``hidden=()``, ``activation`` irrelevant and ``loss="sse"`` it is a linear AE, which reaches PCA.

    ``backbone`` picks the networks, a registered part (``nn/parts.py``): ``mlp`` (the arguments above),
    ``conv``, ``acai`` (ACAI's conv net) or ``dim`` (Deep InfoMax's encoder), with their own settings in
    ``backbone_options`` (e.g. ``{"depth": 16, "scales": 4}``). ``encoder`` / ``decoder`` are part specs
    (``{"part": "dim", "fc": 1024}``) that replace the backbone's for that network alone. Every model built
    on this class (the variants below, VAE, AAE, ACAI, VQ-VAE, one-hot and binary codes) takes them.
    """

    capabilities = frozenset({"decode", "trainable_encoder"})
    code_heads: int = 1  # blocks of latent_dim numbers the encoder outputs (2 for a VAE: mean, log-variance)

    def __init__(
        self,
        input_shape: Sequence[int] | int = 784,
        latent_dim: int = 30,
        hidden: Sequence[int] = (1000, 500, 250),
        activation: str = "relu",
        norm: str | None = None,
        tied: bool = False,
        loss: str = "auto",
        output: str | None = None,
        code_activation: str | None = None,
        backbone: str = "mlp",
        backbone_options: dict | None = None,
        encoder: dict | None = None,
        decoder: dict | None = None,
    ):
        super().__init__()
        shape = self._set_input_shape(input_shape)
        self._set_reconstruction(loss, output)
        self.latent_dim = self._set_latent_dim(latent_dim)
        self.code_shape = (self.latent_dim,)
        self.net_args = NetArgs(tuple(int(h) for h in hidden), activation, norm, code_activation)
        self.backbone_spec = {"part": backbone, **(backbone_options or {})}
        self.encoder_spec, self.decoder_spec = encoder or self.backbone_spec, decoder or self.backbone_spec
        self.encoder = build_encoder(self.encoder_spec, shape, self.latent_dim, self.net_args, heads=self.code_heads)
        self.decoder = build_decoder(self.decoder_spec, shape, self.latent_dim, self.net_args,
                                     tied_to=self.encoder if tied else None)

    # ---- hooks the variants override --------------------------------------------------------
    def _corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _perturb_code(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def _penalties(self, x_in: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    # ---- the contract -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, *input_shape) -> (B, K)

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, D) or (B, *input_shape): logits for bce

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.output_act(self._decode_raw(z)).reshape(z.shape[0], *self.input_shape)

    def code_network(self) -> torch.nn.Module:
        return self.encoder

    def forward(self, batch) -> Output:
        x = batch["x"]
        x_in = self._corrupt(x) if self.training else x
        z = self.encode(x_in)
        raw = self._decode_raw(self._perturb_code(z) if self.training else z)
        out = self.output_act(raw)
        losses = {"recon": self._reconstruction_loss(raw, out, x), **self._penalties(x_in, z)}
        return Output(out.reshape(x.shape), z, losses, {})


@register("denoising")
class DenoisingAutoEncoder(DeepAutoEncoder):
    """Denoising autoencoder (Vincent et al., "Extracting and Composing Robust Features with Denoising
    Autoencoders", ICML 2008): reconstruct the clean input from a corrupted one.

    ``noise`` is ``masking`` (zero a fraction ``noise_level`` of the inputs), ``gaussian`` (std
    ``noise_level``) or ``salt_and_pepper`` (a fraction set to 0 or 1).
    """

    def __init__(self, noise: str = "masking", noise_level: float = 0.3, **ae_options):
        super().__init__(**ae_options)
        from aekit.data.corrupt import corrupt  # data imports stay out of `import aekit.models`

        corrupt(torch.zeros(1, 1), noise, noise_level)  # a bad name or level fails at build time
        self.noise, self.noise_level = noise, float(noise_level)

    def _corrupt(self, x: torch.Tensor) -> torch.Tensor:
        from aekit.data.corrupt import corrupt

        return corrupt(x, self.noise, self.noise_level)


@register("dropout")
class DropoutAutoEncoder(DeepAutoEncoder):
    """Autoencoder with dropout on the code while training: the "Dropout" baseline of Berthelot et al.,
    "Understanding and Improving Interpolation in Autoencoders via an Adversarial Regularizer",
    ICLR 2019 (dropout: Srivastava et al., JMLR 2014). ``input_p`` also drops input values.
    """

    def __init__(self, p: float = 0.5, input_p: float = 0.0, **ae_options):
        super().__init__(**ae_options)
        if not (0 <= p < 1 and 0 <= input_p < 1):
            raise AekitError(f"dropout probabilities must lie in [0, 1), got p={p}, input_p={input_p}")
        self.p, self.input_p = float(p), float(input_p)

    def _corrupt(self, x: torch.Tensor) -> torch.Tensor:
        # Dropped inputs become 0 without rescaling: the decoder must still produce the clean input.
        return x * (torch.rand_like(x) >= self.input_p) if self.input_p else x

    def _perturb_code(self, z: torch.Tensor) -> torch.Tensor:
        return F.dropout(z, self.p, training=True)


@register("sparse")
class SparseAutoEncoder(DeepAutoEncoder):
    """Sparse autoencoder: a penalty keeps few code units active (Ng, "Sparse autoencoder", CS294A
    notes, 2011, for the KL target; Lee et al., NIPS 2008 for L1). Works with overcomplete codes (e.g.
    ``latent_dim=1000`` from 784 inputs), where an unpenalised AE could learn to copy its input.

    ``penalty="kl"`` pulls each unit's mean activation towards ``target`` (sigmoid code);
    ``penalty="l1"`` adds the L1 norm of the (ReLU) code. ``weight`` scales the penalty.
    """

    def __init__(self, penalty: str = "kl", target: float = 0.05, weight: float | None = None,
                 hidden: Sequence[int] = (), code_activation: str | None = None, **ae_options):
        if penalty not in ("kl", "l1"):
            raise AekitError(f"unknown sparsity penalty {penalty!r}: choose kl or l1")
        code_activation = code_activation or ("sigmoid" if penalty == "kl" else "relu")
        super().__init__(hidden=hidden, code_activation=code_activation, **ae_options)
        self.penalty, self.target = penalty, float(target)
        self.weight = float(weight if weight is not None else (1.0 if penalty == "kl" else 1e-2))

    def _penalties(self, x_in: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        term = L.sparsity_kl(z, self.target) if self.penalty == "kl" else L.sparsity_l1(z)
        return {"sparsity": self.weight * term}


@register("contractive")
class ContractiveAutoEncoder(DeepAutoEncoder):
    """Contractive autoencoder (Rifai et al., "Contractive Auto-Encoders: Explicit Invariance During
    Feature Extraction", ICML 2011): penalises the squared Frobenius norm of the encoder's Jacobian, so
    the code moves little when the input moves off the data manifold. Default: one sigmoid layer, as in
    the paper; deeper encoders work too (the Jacobian is exact, one product per code unit).
    """

    def __init__(self, weight: float = 0.1, hidden: Sequence[int] = (),
                 code_activation: str | None = "sigmoid", **ae_options):
        if ae_options.get("norm") == "batch":
            raise AekitError("contractive AE cannot use norm 'batch' (the per-example Jacobian needs "
                             "independent examples): use norm 'layer' or none")
        super().__init__(hidden=hidden, code_activation=code_activation, **ae_options)
        self.weight = float(weight)

    def _penalties(self, x_in: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        linears = getattr(self.encoder, "linears", None)
        if linears is not None and len(linears) == 1:  # the paper's one layer (and each layer of a greedy stack)
            pre = linears[0](x_in.reshape(x_in.shape[0], -1))  # (B, K) before the activation
            activation = torch.nn.Sequential(*list(self.encoder.net)[1:])  # what follows the linear layer
            term = L.contractive_one_layer(pre, linears[0].weight, activation)
        else:
            term = L.contractive(self.encoder, x_in)
        return {"contractive": self.weight * term}
