"""Discrete codes: vector-quantised (VQ-VAE), one-hot and binary autoencoders.

Each model is the deep AE of ``models/ae.py`` (any backbone: ``mlp``, ``conv``, ``acai``) with a
bottleneck from ``quantizers.py`` between its encoder and decoder; ``_DiscreteAutoEncoder`` holds the
shared plumbing and each family overrides two hooks: ``_blocks`` (the encoder output ``(B, latent_dim)``
in the quantiser's layout) and ``_hard`` (the deterministic code, with a straight-through gradient).

Papers: van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning" (VQ-VAE and
its autoregressive prior over code indices); Bengio, Léonard & Courville 2013 (straight-through
estimator); Jang, Gu & Poole 2017 and Maddison, Mnih & Teh 2017 (Gumbel-softmax); Salakhutdinov &
Hinton 2009, "Semantic Hashing" (noisy binary codes). ``quantizers.py`` names the papers of each part.

Loss scale: the quantisers average their ``commit``/``codebook`` terms over every number of the code;
here they are multiplied by ``latent_dim`` so that they are per-example sums averaged over the batch,
the convention of every aekit loss (``losses.py``), and the paper's ratio of reconstruction to
commitment (both per-element means in its code) is kept at ``commitment``.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import AekitError
from aekit.models.ae import DeepAutoEncoder
from aekit.models.base import Output
from aekit.models.text import CountInput
from aekit.nn.parts import resolve
from aekit.quantizers import BinaryST, OneHotST, Quantized, VectorQuantizer, _usage_metrics
from aekit.registry import register


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in eval mode (no batch-norm statistics or codebook updates), then restore each
    submodule's own mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _positive_int(value, what: str, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise AekitError(f"{what} must be a positive integer, got {value!r}: e.g. --set {example}")
    return int(value)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class _DiscreteAutoEncoder(DeepAutoEncoder):
    """Deep AE with a discrete bottleneck: encoder -> ``self.quantizer`` -> decoder (shared plumbing).

    Subclasses set ``self.quantizer``, ``self.groups`` (codes per example) and ``self.num_codes``
    (values each code takes; 0 for bits) and override ``_blocks`` / ``_unblocks`` and ``_hard``.
    """

    capabilities = frozenset({"decode"})  # discrete codes pass no gradient to fine-tune an encoder
    groups: int = 1
    num_codes: int = 0

    # ---- hooks the families override ---------------------------------------------------------
    def _blocks(self, h: torch.Tensor) -> torch.Tensor:
        """Encoder output (B, latent_dim) -> the quantiser's input (B, D, groups): D at dim 1."""
        return h.reshape(h.shape[0], self.groups, -1).transpose(1, 2)  # (B, groups, D) -> (B, D, groups)

    def _unblocks(self, q: torch.Tensor) -> torch.Tensor:
        """The inverse of ``_blocks``: (B, D, groups) -> (B, latent_dim)."""
        return q.transpose(1, 2).reshape(q.shape[0], -1)  # (B, groups, D) -> (B, latent_dim)

    def _hard(self, h: torch.Tensor) -> torch.Tensor:
        """The deterministic code of encoder output ``h`` (B, latent_dim), straight-through gradient.

        Unlike the quantiser's training forward it draws no noise and updates no state.
        """
        raise NotImplementedError

    def _indices(self, h: torch.Tensor) -> torch.Tensor:
        """Code indices (B, groups) of encoder output ``h``."""
        raise AekitError(f"model {self.name!r} has no code indices: its code is the vector encode returns")

    # ---- the contract -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._hard(self.encoder(x))  # (B, latent_dim): codebook rows, one-hot blocks or bits

    def forward(self, batch) -> Output:
        x = batch["x"]
        x_in = self._corrupt(x) if self.training else x
        h = self.encoder(x_in)  # (B, latent_dim)
        q: Quantized = self.quantizer(self._blocks(h))  # training mode: EMA updates, Gumbel/noise
        z = self._unblocks(q.z_q)  # (B, latent_dim)
        raw = self._decode_raw(z)
        out = self.output_act(raw)
        losses = {"recon": self._reconstruction_loss(raw, out, x),
                  **{k: v * self.latent_dim for k, v in q.losses.items()},  # per-example sums, see module doc
                  **self._penalties(x_in, z)}
        return Output(out.reshape(x.shape), z, losses, {"codes": q.codes, **q.metrics})

    @torch.no_grad()
    def code_indices(self, x: torch.Tensor) -> torch.Tensor:
        """The discrete code of each example of ``x`` as indices, ``(B, groups)`` long."""
        return self._indices(self.encoder(x))

    @torch.no_grad()
    def code_metrics(self, x: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
        """``usage`` (fraction of the ``num_codes`` values used anywhere in ``x``) and ``perplexity``
        (exp of the entropy of their frequencies), over all of ``x`` in chunks of ``batch_size`` moved
        to the model's device (``x`` may be a whole test set on the CPU)."""
        if not self.num_codes:
            return {}
        device = _model_device(self)
        counts = torch.zeros(self.num_codes, dtype=torch.long, device=device)  # (K,)
        for i in range(0, x.shape[0], batch_size):
            idx = self.code_indices(x[i:i + batch_size].to(device))  # (b, groups)
            counts += torch.bincount(idx.reshape(-1), minlength=self.num_codes)
        return {k: float(v) for k, v in _usage_metrics(counts).items()}


class IndexPrior(nn.Module):
    """Autoregressive prior over a sequence of code indices: a GRU over index embeddings.

    ``p(i_1..i_T) = prod_t p(i_t | i_<t)``; the input at step t is the embedding of ``i_{t-1}``, with a
    learned start token (embedding row ``num_codes``) at t = 1. (The VQ-VAE paper uses a PixelCNN over
    the code map; a GRU in raster order is the small version of the same factorisation.)
    """

    def __init__(self, num_codes: int, width: int, layers: int):
        super().__init__()
        self.num_codes = num_codes
        self.embed = nn.Embedding(num_codes + 1, width)  # row num_codes: the start token
        self.rnn = nn.GRU(width, width, num_layers=layers, batch_first=True)
        self.head = nn.Linear(width, num_codes)

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, T, K)`` of each index of ``idx`` (B, T) given the ones before it."""
        start = torch.full_like(idx[:, :1], self.num_codes)  # (B, 1)
        inputs = self.embed(torch.cat([start, idx[:, :-1]], dim=1))  # (B, T, width)
        return self.head(self.rnn(inputs)[0])  # (B, T, K)

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats per index) of ``idx`` (B, T) under the prior."""
        logits = self.logits(idx).float()  # (B, T, K)
        return F.cross_entropy(logits.reshape(-1, self.num_codes), idx.reshape(-1))

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` index sequences ``(n, length)`` drawn one index at a time, temperature 1."""
        device = self.head.weight.device
        token = torch.full((n, 1), self.num_codes, dtype=torch.long, device=device)  # (n, 1) start
        state, out = None, []
        for _ in range(length):
            h, state = self.rnn(self.embed(token), state)  # (n, 1, width)
            probs = F.softmax(self.head(h[:, -1]).float(), dim=-1)  # (n, K)
            # sample where the generator lives (a CPU generator cannot drive a CUDA multinomial)
            where = generator.device if generator is not None else device
            token = torch.multinomial(probs.to(where), 1, generator=generator).to(device)  # (n, 1)
            out.append(token)
        return torch.cat(out, dim=1)  # (n, length)


@register("vqvae")
class VQVAE(_DiscreteAutoEncoder):
    """Vector-quantised autoencoder, VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete
    Representation Learning", NeurIPS 2017), with an autoregressive prior over its code indices.

    The encoder's ``latent_dim`` numbers are cut into ``groups = latent_dim / code_dim`` consecutive
    blocks of ``code_dim``; each block is replaced by its nearest row of ONE shared codebook of
    ``codebook_size`` rows (``quantizers.VectorQuantizer``: EMA updates with ``decay`` when ``ema``,
    ``commitment`` weight, restarts of codes used less than ``dead_code_threshold`` times per batch,
    ``codebook_init`` ``kmeans`` on the first batch or ``normal``). ``encode`` returns the codebook rows,
    flattened ``(B, latent_dim)``; ``code_indices`` the ``(B, groups)`` indices; ``decode`` snaps its input
    to the nearest rows first (a no-op on codebook rows) and ``decode_indices`` decodes indices.

    ``code_dim`` default: with backbone ``acai`` the code is a map ``(L, h, w)`` flattened position by
    position, so ``code_dim = L`` makes one code per position, as in the paper. An ``mlp``/``conv`` code
    has no positions; quantising all of it as one vector would make the model a ``codebook_size``-means of
    the data (9 bits per example at 512 codes), so it is cut into small vectors: the largest divisor of
    ``latent_dim`` not above 4 (3 for the default 30: ten 3-d codes, 90 bits; a 512-row codebook is then
    about 8 levels per dimension). On MNIST (mlp, 3 epochs, bf16) that gives test ``recon_sse`` 14.2 with
    100% of the codes used, against 27.0 (99.8% used) for ``code_dim=30``.

    The prior (``IndexPrior``: a GRU of ``prior_width`` units and ``prior_layers`` layers over the
    ``groups`` indices in order) is trained in a second phase, ``prior``, on the indices of the current
    encoder in eval mode (detached; no codebook update), while phase ``ae`` trains everything else.
    ``sample_prior`` draws indices from it and returns their codebook rows, ready for ``decode``.
    Loss keys: ``recon``, ``commit`` (and ``codebook`` when ``ema=False``) in phase ``ae``; ``prior``.
    """

    phases = ("ae", "prior")
    capabilities = frozenset({"decode", "sample", "code_indices"})

    def __init__(self, codebook_size: int = 512, code_dim: int | None = None, commitment: float = 0.25,
                 ema: bool = True, decay: float = 0.99, dead_code_threshold: float = 1e-2,
                 codebook_init: str = "kmeans", prior_width: int = 128, prior_layers: int = 1,
                 **ae_options):
        codebook_size = _positive_int(codebook_size, "vqvae codebook_size", "codebook_size=512")
        prior_width = _positive_int(prior_width, "vqvae prior_width", "prior_width=128")
        prior_layers = _positive_int(prior_layers, "vqvae prior_layers", "prior_layers=1")
        super().__init__(**ae_options)
        if code_dim is None:
            code_dim = self._default_code_dim()
        code_dim = _positive_int(code_dim, "vqvae code_dim", "code_dim=4")
        if self.latent_dim % code_dim:
            raise AekitError(f"vqvae: latent_dim {self.latent_dim} is not a multiple of code_dim {code_dim}: choose "
                             f"code_dim among {_divisors(self.latent_dim)} or another latent_dim")
        self.code_dim, self.groups, self.num_codes = code_dim, self.latent_dim // code_dim, codebook_size
        self.quantizer = VectorQuantizer(codebook_size, code_dim, commitment=commitment, ema=ema, decay=decay,
                                         dead_code_threshold=dead_code_threshold, init=codebook_init)
        self.prior = IndexPrior(codebook_size, prior_width, prior_layers)

    def _default_code_dim(self) -> int:
        part, options = resolve(self.encoder_spec)
        positions = part.code_positions(self.input_shape, self.latent_dim, options)
        if positions > 1:  # a spatial code map (L, h, w): one code per position, code_dim = L
            return self.latent_dim // positions
        return max(d for d in _divisors(self.latent_dim) if d <= 4)

    # ---- hooks ----------------------------------------------------------------------------------
    def _indices(self, h: torch.Tensor) -> torch.Tensor:
        rows = h.reshape(-1, self.code_dim)  # (B * groups, code_dim): consecutive blocks
        return self.quantizer.nearest(rows).reshape(h.shape[0], self.groups)  # (B, groups)

    def _hard(self, h: torch.Tensor) -> torch.Tensor:
        e = self.quantizer.codebook[self._indices(h)].reshape(h.shape[0], -1)  # (B, groups, D) -> (B, latent_dim)
        return e.detach().to(h.dtype) + (h - h.detach())  # exactly the rows; identity gradient

    # ---- the contract ---------------------------------------------------------------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return super().decode(self._hard(z))  # snap to the codebook first: idempotent on its rows

    def decode_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """Decode code indices ``(B, groups)`` (long) to inputs ``(B, *input_shape)``."""
        if idx.dim() != 2 or idx.shape[1] != self.groups:
            raise AekitError(f"vqvae indices must have shape (B, {self.groups}), got {tuple(idx.shape)}: "
                             f"pass what code_indices returns")
        z = self._unblocks(self.quantizer.lookup(idx))  # (B, D, groups) -> (B, latent_dim)
        return super().decode(z)

    def phase_parameters(self, phase: str) -> Iterable[nn.Parameter]:
        return self.split_parameters(self.prior, inside=phase == "prior")

    def phase_losses(self, batch, phase: str, ctx) -> dict[str, torch.Tensor]:
        if phase == "prior":
            with _eval_mode(self.encoder):  # the indices the model gives at inference; no BN updates
                idx = self.code_indices(batch["x"])  # (B, groups), detached, no codebook update
            return {"prior": self.prior.loss(idx)}
        return self(batch).losses

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        idx = self.prior.sample(n, self.groups, generator)  # (n, groups)
        return self._unblocks(self.quantizer.lookup(idx))  # (n, latent_dim) codebook rows


@register("onehot")
class OneHotAutoEncoder(_DiscreteAutoEncoder):
    """Autoencoder with one-hot (categorical) codes: the encoder's logits are cut into ``groups`` blocks,
    each made one-hot at its argmax with the softmax's gradient (straight-through estimator, Bengio,
    Léonard & Courville 2013), or, with ``mode="gumbel"``, at a Gumbel-softmax sample (Jang, Gu & Poole,
    ICLR 2017; Maddison, Mnih & Teh, ICLR 2017) in training.

    The softmax temperature falls geometrically from ``temperature`` at the start of training to
    ``min_temperature`` at the end (``set_progress``; default 0.5, Jang et al.'s floor, or ``temperature``
    when that is lower). ``encode`` returns the
    hard one-hot code, ``(B, latent_dim)`` floats with one 1 per block; ``code_indices`` the ``(B, groups)``
    chosen categories.
    """

    capabilities = frozenset({"decode", "code_indices"})

    def __init__(self, groups: int = 1, mode: str = "straight_through", temperature: float = 1.0,
                 min_temperature: float | None = None, **ae_options):
        groups = _positive_int(groups, "onehot groups", "groups=1")
        if min_temperature is None:  # Jang et al.'s floor, or no annealing when starting below it
            min_temperature = min(0.5, temperature)
        if not 0 < min_temperature <= temperature:
            raise AekitError(f"onehot temperatures must satisfy 0 < min_temperature <= temperature, got "
                             f"{min_temperature} and {temperature}: e.g. temperature=1 min_temperature=0.5")
        super().__init__(**ae_options)
        if self.latent_dim % groups or self.latent_dim // groups < 2:
            fits = [d for d in _divisors(self.latent_dim) if self.latent_dim // d >= 2]
            raise AekitError(f"onehot: latent_dim {self.latent_dim} must split into {groups} blocks of at least 2 "
                             f"categories: choose groups among {fits}")
        self.groups, self.num_codes = groups, self.latent_dim // groups
        self.temperature, self.min_temperature = float(temperature), float(min_temperature)
        self.quantizer = OneHotST(self.num_codes, mode=mode, temperature=temperature)

    def set_progress(self, fraction: float) -> None:
        ratio = self.min_temperature / self.temperature
        self.quantizer.temperature = self.temperature * ratio ** min(max(fraction, 0.0), 1.0)

    def _indices(self, h: torch.Tensor) -> torch.Tensor:
        return h.reshape(h.shape[0], self.groups, self.num_codes).argmax(-1)  # (B, groups)

    def _hard(self, h: torch.Tensor) -> torch.Tensor:
        logits = h.reshape(h.shape[0], self.groups, self.num_codes)  # (B, groups, n)
        soft = F.softmax(logits / self.quantizer.temperature, dim=-1)
        hard = F.one_hot(logits.argmax(-1), self.num_codes).to(soft.dtype)  # (B, groups, n)
        return (hard + (soft - soft.detach())).reshape(h.shape[0], -1)  # (B, latent_dim)


@register("binary")
class BinaryAutoEncoder(CountInput, _DiscreteAutoEncoder):
    """Autoencoder with binary codes: bit = 1 where the encoder's logit is positive, trained through
    the sigmoid's gradient (straight-through estimator, Bengio, Léonard & Courville 2013) or, with
    ``mode="noisy"``, by adding Gaussian noise of std ``noise_std`` to the logits in training so that
    the sigmoid saturates (Salakhutdinov & Hinton, "Semantic Hashing", 2009). ``encode`` returns the
    ``latent_dim`` bits as exact 0.0/1.0 floats, usable as hash codes (Hamming search).

    On documents (word counts) train it as the paper did, with ``loss="softmax"`` and
    ``input_transform="log1p"`` (``CountInput``, ``models/text.py``) and e.g. ``hidden=[500, 250, 125]``.
    """

    def __init__(self, mode: str = "straight_through", noise_std: float = 4.0, **ae_options):
        quantizer = BinaryST(mode=mode, noise_std=noise_std)  # a bad mode fails before the networks are built
        super().__init__(**ae_options)
        self.quantizer = quantizer

    def _blocks(self, h: torch.Tensor) -> torch.Tensor:
        return h  # one bit per number

    def _unblocks(self, q: torch.Tensor) -> torch.Tensor:
        return q

    def _hard(self, h: torch.Tensor) -> torch.Tensor:
        soft = torch.sigmoid(h)
        return (h > 0).to(soft.dtype) + (soft - soft.detach())  # exactly 0/1; sigmoid gradient
