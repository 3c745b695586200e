"""Embedding score L_D*: how well codes represent their inputs, judged by a discriminator.

Hung-yi Lee's lecture "More than minimizing reconstruction error" (ML 2020, *Beyond reconstruction:
discriminator*): train a binary classifier D(x, z) to tell whether an input x and a code z belong
together; its lowest loss L_D* = min_phi L_D measures how representative the codes are. A code that
says much about its input is easy to match (L_D* near 0); codes that look alike for every input cannot
be told apart from swapped ones, and L_D* stays at chance, log 2 = 0.693. Deep InfoMax (Hjelm et al.
2019) trains an encoder against the same kind of critic; here the encoder is frozen and only scored.

What it measures. For the best possible discriminator, L_D* = log 2 - JSD(p(x, z) || p(x) p(z)),
the Jensen-Shannon mutual information that Deep InfoMax maximises; for a deterministic code that
never maps two inputs to the same point that would be 0 for *any* such code, even a random one. What
separates codes is therefore how easily a small discriminator, trained on a small budget, matches
codes to their inputs: the score is relative to the protocol below (network, budget, data), so
compare encoders only under the same settings and data, and read differences of about 0.01 as noise
(changing ``seed`` moved the score by 0.02-0.04 on 120 held-out items of tiny synthetic data and by
about 0.01 on 2,000 held-out MNIST images).

Protocol (every step is seeded, so two calls give the same dict bitwise on the CPU):

1. Encode all of ``data`` once with the frozen encoder (eval mode, no gradients); codes are flattened
   to ``(N, D)``. Split the items into a training part and a ``held_out`` part (a seeded permutation).
2. PCA-whiten the codes with statistics of the training part only: centre, rotate onto the principal
   axes, divide each axis by its standard deviation. Each axis's sign makes the third moment of its
   whitened coordinate positive (or, for an axis that is symmetric, its largest-magnitude loading
   positive), so the result is reproducible. Each variance is regularised by adding ``1e-8`` times
   the largest one, so directions with (numerically) no variance, such as those of a duplicated unit,
   stay near zero instead of blowing rounding noise up (the price: a direction whose standard
   deviation is under about 1e-4 of the largest one is damped too); a constant code whitens to zeros.
   Why: the score must measure what the code says about its input, not its scale or which unit is
   which. After whitening, ``z`` and ``z @ A + b`` for any invertible ``A`` differ only by a rotation,
   which the discriminator's first linear layer absorbs, so the best discriminator, and L_D*, are
   the same for both. When ``A`` maps principal axes onto principal axes (a permutation of units, sign
   flips, one common scale, any orthogonal ``A``) the whitened codes themselves are the same up to float
   rounding, so the score is too (a permutation of units gives the identical score); for other maps
   the training differs and the score moves by the optimisation noise (measured on tiny data: at
   most 0.007). Exactly tied variances would leave the axes inside their eigenspace arbitrary; real
   codes do not have them.
3. Train a fresh discriminator with binary cross-entropy: positives are the matched pairs
   ``(x_i, z_i)``, negatives the pairs ``(x_i, z_perm(i))`` shuffled within the batch by a fresh random
   derangement every step (a random single cycle: no item is ever paired with itself). Positives and
   negatives weigh the same.
4. After each epoch, evaluate on the held-out part: mean BCE over its positives and negatives (equal
   weight), the negatives drawn from one fixed seeded derangement of the whole held-out part.
   ``embedding_score`` is the lowest of these losses over the epochs (L_D*, lower is better),
   ``embedding_score_accuracy`` the held-out accuracy at that epoch (a positive is right when its logit
   is > 0, a negative when < 0), ``embedding_score_epoch`` that epoch (1-based). A constant code
   leaves the discriminator only x, which cannot tell a pair from its swap: the score is then
   log 2 or above and the accuracy 0.5.

The discriminator is the same for every encoder on the same data, so encoders with codes of different
sizes are compared fairly; only the first layer of the code branch depends on the code's size:

* input branch ``h(x)`` (inputs standardised with training-part statistics: per channel for images,
  per feature otherwise): for images ``(C, H, W)`` with ``H, W >= 4`` stride-2 3x3 convolutions with
  ReLU (16 and 32 channels; a third with 64 when ``min(H, W) >= 16``), an adaptive average pool to
  at most 4x4 and a linear layer to 128 features with ReLU; for anything else the flattened item
  goes through an MLP ``D_in -> 128 -> 128``. ``input_net`` replaces it (see :func:`embedding_score`).
* code branch ``g(z)``: an MLP ``D -> 128 -> 128`` on the whitened code.
* joint head: ``[h(x), g(z)]`` concatenated, then an MLP ``256 -> 128 -> 1`` giving the logit.

Why concatenation + MLP rather than a bilinear score ``h(x)^T W g(z)``: it is the lecture's classifier,
which reads the input and the code together and can learn any decision about the pair, including
"is the code near where this input's code should be", which ReLU units on ``[h, g]`` express
directly; a bilinear (separable) critic must embed both in one space and compare them by a dot
product. The separable form is what contrastive bounds need to score all pairs of a batch at once;
this score uses one negative per positive, so it does not need it. Measured on the 10,000 MNIST test
images with the defaults (L_D*, concatenation vs bilinear): PCA-2 0.051 vs 0.137, an AE-30 trained 3
epochs 0.035 vs 0.046, PCA-30 0.034 vs 0.024, an untrained 30-d AE 0.158 vs 0.100. On the trained
30-d codes they agree within about the seed noise, and they rank the three 30-d codes the same; they
disagree most on the small code, which the bilinear head ranks below the untrained 30-d encoder and
concatenation above it: we keep the head that does not handicap small codes, since codes of
different sizes must compare fairly.

Cost and noise: with the defaults (``epochs=8``, ``batch_size=256``, ``lr=1e-3``, Adam) one call on a
30-d code of the 10,000 MNIST test images (8,000 train / 2,000 held out, 28x28, so three convolutions)
took 7.4-8.1 s on one CPU core (``torch.set_num_threads(1)``, a shared 2-core machine, encoding
included), measured over 9 calls. Across seeds 0, 1, 2 the score moved by about 0.01: PCA-30
0.025-0.035, AE-30 0.035-0.043, untrained 0.157-0.166. Doubling the epochs (with a cosine learning
rate) lowered every score by 0.01-0.02 and kept the ranking. The discriminator always runs on the CPU.
"""

from __future__ import annotations

import copy
import math
from numbers import Integral, Real
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from aekit.errors import AekitError

WIDTH = 128  # features of the input branch, of the code branch and of the joint head
EPS_REL = 1e-8  # whitening: variance regulariser, relative to the largest code variance
SKEW_TOL = 1e-6  # whitening: below this third moment an axis counts as symmetric (sign by loading)
MIN_PART = 10  # fewest items the training part and the held-out part may have
EVAL_CHUNK = 4096  # items per pass when whitening codes and scoring the held-out part (bounds memory)


# ---- the pieces ------------------------------------------------------------------------------------
def pca_whitener(z: torch.Tensor, eps: float = EPS_REL) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, W)`` such that ``(z - mean) @ W`` is ``z`` PCA-whitened, fitted on ``z`` ``(N, D)`` (float64).

    Columns of ``W`` are the principal axes (largest variance first) divided by ``sqrt(var + eps * var_max)``.
    Each axis's sign makes the third moment of the whitened coordinate positive (a property of the codes,
    not of the units' order or signs); where that moment is ~0 (a symmetric axis) the axis's
    largest-magnitude loading is made positive instead. A constant ``z`` gives ``W = 0``.
    """
    z = z.double()
    mean = z.mean(dim=0)
    zc = z - mean  # (N, D)
    cov = zc.T @ zc / max(z.shape[0] - 1, 1)  # (D, D)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(evals, descending=True, stable=True)
    evals, evecs = evals[order].clamp_min(0.0), evecs[:, order]  # (D,), (D, D): one axis per column
    top = float(evals[0])
    if not top > 0.0:  # a constant code: nothing to whiten, every item maps to 0
        return mean, torch.zeros_like(evecs)
    w = evecs / torch.sqrt(evals + eps * top)  # (D, D)
    skew = ((zc @ w) ** 3).mean(dim=0)  # (D,) third moment of each whitened coordinate
    by_loading = torch.sign(evecs.gather(0, evecs.abs().argmax(dim=0, keepdim=True))).squeeze(0)  # (D,)
    signs = torch.where(skew.abs() > SKEW_TOL, torch.sign(skew), by_loading)
    return mean, w * signs


def _derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random single n-cycle as an index ``(n,)``: ``idx[i] != i`` for every ``i`` (n >= 2)."""
    order = torch.randperm(n, generator=gen)
    idx = torch.empty(n, dtype=torch.long)
    idx[order] = order.roll(-1)  # order[k] is paired with order[k + 1]
    return idx


def _mlp(d_in: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU())


def _default_input_net(item_shape: tuple[int, ...]) -> nn.Module:
    """A small conv net for images ``(C, H, W)`` with ``H, W >= 4``, an MLP on the flattened item otherwise."""
    if len(item_shape) == 3 and min(item_shape[1:]) >= 4:
        c, h, w = item_shape
        channels = (16, 32, 64) if min(h, w) >= 16 else (16, 32)
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), nn.ReLU()]
            c, h, w = c_out, (h + 1) // 2, (w + 1) // 2  # (B, c_out, ceil(h/2), ceil(w/2))
        ph, pw = min(h, 4), min(w, 4)
        layers += [nn.AdaptiveAvgPool2d((ph, pw)), nn.Flatten(), nn.Linear(c * ph * pw, WIDTH), nn.ReLU()]
        return nn.Sequential(*layers)
    return nn.Sequential(nn.Flatten(), _mlp(math.prod(item_shape)))


class _Discriminator(nn.Module):
    """D(x, z) -> logit: input branch, code branch, concatenation, MLP head."""

    def __init__(self, input_net: nn.Module, n_features: int, code_dim: int):
        super().__init__()
        self.input_net = input_net
        self.code_net = _mlp(code_dim)
        self.head = nn.Sequential(nn.Linear(n_features + WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 1))

    def logits(self, hx: torch.Tensor, gz: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([hx, gz], dim=1)).squeeze(1)  # (B,)


def _pair_losses(d: _Discriminator, x: torch.Tensor, z: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean BCE of positives (x_i, z_i) and negatives (x_i, z[neg[i]]), equal weight."""
    hx, gz = d.input_net(x), d.code_net(z)  # (B, F), (B, WIDTH): x's features serve both pairs
    pos, negl = d.logits(hx, gz), d.logits(hx, gz[neg])  # (B,), (B,)
    return 0.5 * (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                  + F.binary_cross_entropy_with_logits(negl, torch.zeros_like(negl)))


# ---- checks --------------------------------------------------------------------------------------
def _resolve_model(model_or_run):
    from aekit.io import Run, load_run  # imported here: io builds models through the registry

    if isinstance(model_or_run, (str, Path)):
        return load_run(model_or_run).model
    model = model_or_run.model if isinstance(model_or_run, Run) else model_or_run
    if not all(hasattr(model, a) for a in ("encode", "check_input", "input_shape")):
        raise AekitError(f"embedding_score cannot score a {type(model_or_run).__name__}: pass a model (with encode, "
                         "check_input and input_shape), an aekit.io.Run or a run directory")
    return model


def _check_settings(held_out, epochs, batch_size, lr, batch_encode) -> None:
    if isinstance(held_out, bool) or not (isinstance(held_out, Real) and 0.0 < float(held_out) < 1.0):
        raise AekitError(f"held_out must lie strictly between 0 and 1 (the held-out fraction), got {held_out!r}; "
                         "e.g. held_out=0.2")
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 2), ("batch_encode", batch_encode, 1)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise AekitError(f"{name} must be an integer of at least {low}, got {value!r}")
    if isinstance(lr, bool) or not (isinstance(lr, Real) and math.isfinite(lr) and lr > 0):
        raise AekitError(f"lr must be a positive number, got {lr!r}; e.g. lr=1e-3")


# ---- the score -----------------------------------------------------------------------------------
def embedding_score(
    model_or_run,
    data,
    *,
    held_out: float = 0.2,
    epochs: int = 8,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    input_net=None,
    batch_encode: int = 2048,
) -> dict[str, float]:
    """L_D*: the lowest held-out loss of a discriminator telling matched (input, code) pairs from shuffled ones.

    ``model_or_run`` is a model (anything with ``encode``, ``check_input`` and ``input_shape``), an
    :class:`aekit.io.Run` or a run directory; ``data`` an :class:`aekit.data.ArrayDataset` whose items
    the model accepts. ``held_out`` is the fraction of items scored (never trained on); ``epochs``,
    ``batch_size`` and ``lr`` (Adam) the discriminator's budget; ``batch_encode`` the encoding batch.
    ``input_net`` replaces the default input branch: an ``nn.Module`` mapping a batch ``(B, *item)`` of
    standardised inputs to features ``(B, F)`` (deep-copied, so every call starts from its weights), or a
    callable ``item_shape -> nn.Module`` (built under ``seed``). See the module docstring for the protocol.

    Returns ``{"embedding_score": L_D* (log 2 = 0.693 is chance, lower is better),
    "embedding_score_accuracy": held-out accuracy at that epoch, "embedding_score_epoch": that epoch}``.
    """
    _check_settings(held_out, epochs, batch_size, lr, batch_encode)
    model = _resolve_model(model_or_run)
    x = getattr(data, "x", None)
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise AekitError(f"embedding_score needs an in-memory dataset with items in .x, got {type(data).__name__}; "
                         "pass an aekit.data.ArrayDataset (e.g. aekit.data.load(...) or ArrayDataset(x))")
    x = x.detach().cpu().float()
    n = x.shape[0]
    n_held = int(round(float(held_out) * n))
    n_train = n - n_held
    if min(n_train, n_held) < MIN_PART:
        raise AekitError(f"embedding_score needs at least {MIN_PART} training and {MIN_PART} held-out items, but "
                         f"{n} items with held_out={held_out} give {n_train} and {n_held}: pass more data or "
                         "change held_out")

    from aekit.inference import encode

    z = encode(model, x, batch_size=batch_encode)  # checks the shape; eval mode, no gradients
    z = z.reshape(n, -1)  # (N, D)
    if not torch.isfinite(z).all():
        raise AekitError("the encoder produced NaN or inf codes; check the model for divergence before scoring it")

    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=gen)
    train_idx, held_idx = order[:n_train], order[n_train:]
    held_neg = _derangement(n_held, gen)  # fixed negatives: the held-out loss is deterministic

    mean, w = pca_whitener(z[train_idx])
    # (N, D) whitened with training-part statistics only; float64 in chunks, float32 kept
    z = torch.cat([((z[i:i + EVAL_CHUNK].double() - mean) @ w).float() for i in range(0, n, EVAL_CHUNK)])

    x_train = x[train_idx]
    item_shape = tuple(x.shape[1:])
    # standardise inputs: per channel for images, per feature otherwise; constant ones are only centred
    dims = (0, 2, 3) if len(item_shape) == 3 else (0,)
    x_mean = x_train.mean(dim=dims, keepdim=True)
    x_std = x_train.std(dim=dims, keepdim=True)
    x_std = torch.where(x_std > 0, x_std, torch.ones_like(x_std))

    def inputs(idx: torch.Tensor) -> torch.Tensor:
        return (x[idx] - x_mean) / x_std  # (B, *item)

    with torch.random.fork_rng(devices=[]):  # seeded initialisation, the caller's RNG left as it was
        torch.manual_seed(int(seed))
        if input_net is None:
            net = _default_input_net(item_shape)
        elif isinstance(input_net, nn.Module):
            net = copy.deepcopy(input_net).cpu().float()
        elif callable(input_net):
            net = input_net(item_shape)
        else:
            raise AekitError(f"input_net must be an nn.Module or a callable item_shape -> nn.Module, "
                             f"got {type(input_net).__name__}")
        net.eval()  # the probe must not move batch-norm statistics of a user's net
        with torch.no_grad():
            probe = net(inputs(train_idx[:2]))
        if probe.ndim != 2 or probe.shape[0] != 2:
            raise AekitError(f"input_net must map a batch (B, *item) to features (B, F), got shape "
                             f"{tuple(probe.shape)} for B=2")
        d = _Discriminator(net, probe.shape[1], z.shape[1])
    opt = torch.optim.Adam(d.parameters(), lr=float(lr))

    batch_size, epochs = int(batch_size), int(epochs)
    n_batches = max(1, n_train // batch_size)  # every batch has >= min(batch_size, n_train) >= 2 items
    best = (math.inf, 0.0, 0)
    for epoch in range(1, epochs + 1):
        d.train()
        for idx in torch.tensor_split(train_idx[torch.randperm(n_train, generator=gen)], n_batches):
            neg = _derangement(idx.shape[0], gen)
            loss = _pair_losses(d, inputs(idx), z[idx], neg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        loss, accuracy = _held_out(d, inputs, z, held_idx, held_neg)
        if loss < best[0]:
            best = (loss, accuracy, epoch)
    return {"embedding_score": best[0], "embedding_score_accuracy": best[1], "embedding_score_epoch": best[2]}


@torch.no_grad()
def _held_out(d: _Discriminator, inputs, z: torch.Tensor, held_idx: torch.Tensor, held_neg: torch.Tensor):
    """Mean BCE and accuracy over the held-out positives and their fixed negatives (equal weight)."""
    d.eval()
    hx = torch.cat([d.input_net(inputs(held_idx[i:i + EVAL_CHUNK])) for i in range(0, len(held_idx), EVAL_CHUNK)])
    gz = d.code_net(z[held_idx])  # (M, WIDTH)
    total, right = 0.0, 0
    for i in range(0, len(held_idx), EVAL_CHUNK):
        rows = slice(i, i + EVAL_CHUNK)
        pos, negl = d.logits(hx[rows], gz[rows]), d.logits(hx[rows], gz[held_neg[rows]])
        total += float(F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction="sum")
                       + F.binary_cross_entropy_with_logits(negl, torch.zeros_like(negl), reduction="sum"))
        right += int((pos > 0).sum() + (negl < 0).sum())
    m = 2 * len(held_idx)
    return total / m, right / m
