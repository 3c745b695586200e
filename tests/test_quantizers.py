"""Invariants of the discrete bottlenecks, checked on tiny random tensors."""
from __future__ import annotations

import math

import pytest
import torch

from aekit.errors import AekitError
from aekit.quantizers import BinaryST, OneHotST, Quantized, VectorQuantizer

SHAPES = [(6, 3), (2, 3, 4, 5)]  # (B, D) and (B, D, H, W), D = 3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def vq(**kw) -> VectorQuantizer:
    torch.manual_seed(0)
    return VectorQuantizer(num_codes=kw.pop("num_codes", 8), dim=kw.pop("dim", 3), **kw)


def rows_of(z: torch.Tensor) -> torch.Tensor:
    """(B, D, *S) -> (N, D), written independently of the module's own helper."""
    if z.dim() == 2:
        return z
    return z.permute(0, *range(2, z.dim()), 1).reshape(-1, z.shape[1])


# --- VectorQuantizer ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ema", [True, False])
def test_vq_output_is_codebook_rows_of_its_indices(shape, ema):
    q = vq(ema=ema).eval()
    z = torch.randn(*shape, generator=gen())
    out = q(z)
    assert isinstance(out, Quantized)
    assert out.z_q.shape == z.shape and out.codes.shape == (shape[0], *shape[2:])
    assert out.codes.dtype == torch.long
    expected = q.codebook[out.codes.reshape(-1)]  # (N, D)
    assert torch.equal(rows_of(out.z_q), expected)
    assert torch.equal(out.z_q, q.lookup(out.codes))


@pytest.mark.parametrize("shape", SHAPES)
def test_vq_indices_are_nearest_codebook_rows(shape):
    q = vq(num_codes=16).eval()
    z = torch.randn(*shape, generator=gen(1))
    idx = q(z).codes.reshape(-1)
    dist = torch.cdist(rows_of(z), q.codebook)  # (N, K)
    chosen = dist.gather(1, idx[:, None]).squeeze(1)
    assert torch.allclose(chosen, dist.min(1).values, atol=1e-6)
    assert torch.equal(idx, dist.argmin(1))


def test_vq_ema_update_matches_the_closed_form():
    gamma, eps = 0.9, 0.1  # a large eps, so that the Laplace smoothing is visible
    q = vq(num_codes=3, dim=2, decay=gamma, eps=eps, dead_code_threshold=0.0).train()
    with torch.no_grad():
        q.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]]))
        q.embed_sum.copy_(q.codebook)  # the pseudo-count-one start: cluster_size = 1, embed_sum = e
    assert dict(q.named_parameters()) == {}
    assert {"codebook", "cluster_size", "embed_sum"} <= dict(q.named_buffers()).keys()

    # The paper's Appendix A.1, by hand: N <- g N + (1-g) n, m <- g m + (1-g) sum z, e = m / N~ with
    # Laplace smoothing N~_k = (N_k + eps) / (sum N + K eps) * sum N.
    N = torch.ones(3)
    m = q.codebook.clone()
    batches = [
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 11.0]]),  # codes 0, 0, 1; code 2 unused
        torch.tensor([[2.0, 2.0], [11.0, 9.0], [12.0, 12.0], [-9.0, 4.0]]),  # codes 0, 1, 1, 2
    ]
    assignments = [[0, 0, 1], [0, 1, 1, 2]]
    for z, assign in zip(batches, assignments):
        out = q(z)
        assert out.codes.tolist() == assign
        counts = torch.tensor([assign.count(k) for k in range(3)], dtype=torch.float)
        sums = torch.stack([z[[i for i, a in enumerate(assign) if a == k]].sum(0) for k in range(3)])
        N = gamma * N + (1 - gamma) * counts
        m = gamma * m + (1 - gamma) * sums
        smoothed = (N + eps) / (N.sum() + 3 * eps) * N.sum()
        assert torch.allclose(q.cluster_size, N, atol=1e-6)
        assert torch.allclose(q.embed_sum, m, atol=1e-5)
        assert torch.allclose(q.codebook, m / smoothed[:, None], atol=1e-5)


def test_vq_eval_mode_changes_nothing():
    q = vq(dead_code_threshold=0.5).eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    for _ in range(3):
        q(torch.randn(5, 3, generator=gen(2)))
    for k, v in q.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ema", [True, False])
def test_vq_straight_through_gradient_reaches_the_input(shape, ema):
    q = vq(ema=ema).train()
    z = torch.randn(*shape, generator=gen(3)).requires_grad_()
    w = torch.randn(*shape, generator=gen(4))
    out = q(z)
    (out.z_q * w).sum().backward()  # dL/dz_q = w
    assert torch.equal(z.grad, w)
    if not ema:  # the decoder's gradient skips the codebook: it learns from the codebook loss only
        assert q.codebook.grad is None


@pytest.mark.parametrize("shape", SHAPES)
def test_vq_commitment_and_codebook_losses(shape):
    beta = 0.4
    z = torch.randn(*shape, generator=gen(5)).requires_grad_()
    q = vq(commitment=beta, ema=False).eval()
    out = q(z)
    sq = (z - q.lookup(out.codes)).pow(2).mean()
    assert torch.allclose(out.losses["commit"], beta * sq)
    assert torch.allclose(out.losses["codebook"], sq)
    out.losses["commit"].backward(retain_graph=True)  # commitment moves the encoder, not the codebook
    assert q.codebook.grad is None and z.grad.abs().sum() > 0
    z.grad = None
    out.losses["codebook"].backward()  # the codebook loss moves the codebook, not the encoder
    assert z.grad is None and q.codebook.grad.abs().sum() > 0
    assert set(vq(ema=True)(z).losses) == {"commit"}


def test_vq_dead_codes_restart_at_encoder_outputs():
    def run(threshold: float) -> tuple[VectorQuantizer, torch.Tensor]:
        q = vq(num_codes=8, dim=2, decay=0.5, dead_code_threshold=threshold).train()
        with torch.no_grad():
            far = 50.0 + 10 * torch.rand(7, 2, generator=gen(6))
            q.codebook.copy_(torch.cat([torch.zeros(1, 2), far]))  # code 0 at the origin, 1..7 far away
            q.embed_sum.copy_(q.codebook)
        z = 0.1 * torch.randn(32, 2, generator=gen(7))  # every input is nearest to code 0
        torch.manual_seed(8)
        for _ in range(4):
            q(z)
        return q, z

    # Unused codes' cluster_size: 1 -> 0.5 -> 0.25 < 0.3 on the second step: restarted at batch vectors.
    q, z = run(0.3)
    to_inputs = torch.cdist(q.codebook, z).min(1).values  # (K,) distance to the nearest input
    assert to_inputs.max() < 0.5
    assert (q.cluster_size >= 0.3).all()
    assert q.eval()(z).metrics["usage"] > 1 / 8
    q, z = run(0.0)  # restarts disabled: the far codes stay far
    assert torch.cdist(q.codebook[1:], z).min() > 40


def test_vq_perplexity_and_usage():
    q = vq(num_codes=4, dim=2).eval()
    with torch.no_grad():
        q.codebook.copy_(torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]]))
    uniform = q(q.codebook.repeat(3, 1)).metrics  # each code used 3 times
    assert math.isclose(uniform["perplexity"].item(), 4.0, rel_tol=1e-5)
    assert uniform["usage"].item() == 1.0
    single = q(q.codebook[:1].repeat(6, 1)).metrics
    assert math.isclose(single["perplexity"].item(), 1.0, rel_tol=1e-6)
    assert single["usage"].item() == 0.25


def test_vq_kmeans_init_finds_the_clusters_once():
    centers = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 8.0]])
    z = (centers[:, None, :] + 0.05 * torch.randn(3, 20, 2, generator=gen(9))).reshape(-1, 2)  # (60, 2)
    q = vq(num_codes=3, dim=2, init="kmeans", dead_code_threshold=0.0).train()
    assert not q.initted
    q(z)
    assert q.initted
    # each true center has a code next to it (the EMA step after init moves codes by < 0.1 here)
    assert torch.cdist(centers, q.codebook).min(1).values.max() < 0.1
    fresh = vq(num_codes=3, dim=2, init="kmeans").train()
    fresh.load_state_dict(q.state_dict())
    book = fresh.codebook.clone()
    fresh(z + 100)  # a loaded codebook is not re-initialised: k-means would move all three codes
    moved = (fresh.codebook - book).norm(dim=1) > 1e-3
    assert moved.sum() == 1  # only the code nearest to the shifted batch follows it by EMA


def test_vq_rejects_bad_arguments():
    with pytest.raises(AekitError, match="codebook size must be at least 1"):
        VectorQuantizer(0, 3)
    with pytest.raises(AekitError, match="codebook size must be at least 1"):
        VectorQuantizer(4, 0)
    with pytest.raises(AekitError, match="init"):
        VectorQuantizer(4, 3, init="uniform")
    q = vq()
    with pytest.raises(AekitError, match="dim 1"):
        q(torch.randn(2, 4))
    with pytest.raises(AekitError, match=r"\[0, 8\)"):
        q.lookup(torch.tensor([0, 8]))


# --- OneHotST and BinaryST ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", OneHotST.MODES)
@pytest.mark.parametrize("shape", [(7, 5), (2, 5, 3, 3)])
def test_one_hot_codes_are_exact_and_gradients_flow(mode, shape):
    torch.manual_seed(10)
    onehot = OneHotST(5, mode=mode, temperature=0.7).train()
    logits = torch.randn(*shape, generator=gen(11)).requires_grad_()
    out = onehot(logits)
    assert out.z_q.shape == logits.shape and out.codes.shape == (shape[0], *shape[2:])
    assert set(out.z_q.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out.z_q.sum(1), torch.ones_like(out.z_q.sum(1)))
    assert torch.equal(out.z_q.argmax(1), out.codes)
    (out.z_q * torch.randn(*shape, generator=gen(12))).sum().backward()
    assert logits.grad.abs().sum() > 0


def test_one_hot_straight_through_gradient_is_the_softmax_gradient():
    t = 0.5
    logits = torch.randn(4, 6, generator=gen(13)).requires_grad_()
    w = torch.randn(4, 6, generator=gen(14))
    out = OneHotST(6, temperature=t)(logits)
    assert torch.equal(out.codes, logits.argmax(1))
    (out.z_q * w).sum().backward()
    s = torch.softmax(logits.detach() / t, 1)
    expected = s * (w - (s * w).sum(1, keepdim=True)) / t  # softmax Jacobian-vector product
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_gumbel_samples_follow_the_softmax():
    torch.manual_seed(15)
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5]])
    out = OneHotST(4, mode="gumbel", temperature=0.5).train()(logits.expand(20000, 4))
    freq = torch.bincount(out.codes, minlength=4).float() / 20000
    assert torch.allclose(freq, torch.softmax(logits[0], 0), atol=0.015)
    assert out.metrics["usage"].item() == 1.0


def test_one_hot_eval_mode_is_deterministic():
    logits = torch.randn(50, 4, generator=gen(16))
    gumbel = OneHotST(4, mode="gumbel").eval()
    a, b = gumbel(logits), gumbel(logits)
    assert torch.equal(a.z_q, b.z_q) and torch.equal(a.codes, logits.argmax(1))


@pytest.mark.parametrize("mode", BinaryST.MODES)
def test_binary_codes_are_exact_and_gradients_flow(mode):
    torch.manual_seed(17)
    logits = torch.randn(6, 10, generator=gen(18)).requires_grad_()
    out = BinaryST(mode=mode).train()(logits)
    assert out.z_q.shape == out.codes.shape == logits.shape
    assert set(out.codes.unique().tolist()) <= {0.0, 1.0}
    if mode == "straight_through":
        assert torch.equal(out.z_q, (torch.sigmoid(logits) > 0.5).float())
        assert torch.equal(out.codes, out.z_q)
    else:  # noisy: a soft code in training, bits are the rounded noisy activities
        assert torch.equal(out.codes, (out.z_q > 0.5).float())
    w = torch.randn(6, 10, generator=gen(19))
    (out.z_q * w).sum().backward()
    assert (logits.grad != 0).all()
    if mode == "straight_through":
        p = torch.sigmoid(logits.detach())
        assert torch.allclose(logits.grad, p * (1 - p) * w, atol=1e-7)


def test_binary_noise_only_in_training():
    logits = torch.randn(8, 16, generator=gen(20))
    noisy = BinaryST(mode="noisy")
    torch.manual_seed(21)
    assert not torch.equal(noisy.train()(logits).z_q, noisy(logits).z_q)
    a, b = noisy.eval()(logits), noisy(logits)
    assert torch.equal(a.z_q, b.z_q)
    assert torch.equal(a.z_q, BinaryST()(logits).z_q) and torch.equal(a.codes, (logits > 0).float())


def test_estimators_reject_bad_arguments():
    with pytest.raises(AekitError, match="one-hot size"):
        OneHotST(1)
    with pytest.raises(AekitError, match="gumbel"):
        OneHotST(4, mode="softmax")
    with pytest.raises(AekitError, match="temperature"):
        OneHotST(4, temperature=0.0)
    with pytest.raises(AekitError, match="noisy"):
        BinaryST(mode="gumbel")
    with pytest.raises(AekitError, match="dim 1"):
        OneHotST(4)(torch.randn(3, 5))
