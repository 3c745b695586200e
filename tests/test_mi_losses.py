"""The MI estimators of aekit.losses on score tensors (B, B, *positions): exact values and orderings."""

import math

import pytest
import torch
import torch.nn.functional as F

from aekit.errors import AekitError
from aekit.losses import MI_ESTIMATORS, mi_dv, mi_infonce, mi_jsd

B, P = 5, 7


def _separated(b: int, p: int | None, pos: float, neg: float) -> torch.Tensor:
    """Scores equal to ``pos`` on the diagonal (i == j) and ``neg`` elsewhere, with optional positions."""
    s = torch.full((b, b), neg) + torch.eye(b) * (pos - neg)
    return s if p is None else s[:, :, None].expand(b, b, p).clone()


@pytest.mark.parametrize("shape", [(B, B), (B, B, P), (B, B, 2, 3)])
def test_infonce_of_equal_scores_is_exactly_log_b(shape):
    for value in (0.0, 3.7, -250.0):  # any constant: a critic that cannot tell pairs apart
        assert abs(mi_infonce(torch.full(shape, value)).item() - math.log(B)) < 1e-6


def test_infonce_is_the_cross_entropy_of_picking_the_own_input_and_falls_as_the_diagonal_rises():
    torch.manual_seed(0)
    s = torch.randn(B, B, P)
    target = torch.arange(B)[:, None].expand(B, P)  # (B, P): code i's right answer is input i at every p
    assert torch.allclose(mi_infonce(s), F.cross_entropy(s, target))  # classes along dim 1
    losses = [mi_infonce(s + lift * torch.eye(B)[:, :, None]).item() for lift in (0.0, 1.0, 3.0, 10.0)]
    assert all(a > b for a, b in zip(losses, losses[1:])) and losses[-1] < 1e-3


@pytest.mark.parametrize("p", [None, P])
@pytest.mark.parametrize("name", ["jsd", "dv", "infonce"])
def test_every_estimator_prefers_positives_above_negatives(name, p):
    loss = MI_ESTIMATORS[name]
    good, bad = _separated(B, p, pos=2.0, neg=-1.0), _separated(B, p, pos=-1.0, neg=2.0)
    assert loss(good) < loss(bad)


def test_jsd_and_dv_equal_their_naive_formulas():
    torch.manual_seed(1)
    for shape in [(4, 4), (4, 4, 3)]:
        s = torch.randn(shape) * 3
        pos = torch.stack([s[i, i] for i in range(4)])  # (4, ...) positives
        neg = torch.stack([s[i, j] for i in range(4) for j in range(4) if i != j])  # (12, ...) negatives
        jsd = F.softplus(-pos).mean() + F.softplus(neg).mean()
        dv = -(pos.mean() - torch.log(torch.exp(neg).mean()))
        assert torch.allclose(mi_jsd(s), jsd, atol=1e-6)
        assert torch.allclose(mi_dv(s), dv, atol=1e-6)


def test_dv_is_stable_for_large_scores_and_all_return_fp32():
    s = _separated(B, P, pos=900.0, neg=800.0)  # exp(800) overflows fp32 without logsumexp
    assert torch.isfinite(mi_dv(s)) and abs(mi_dv(s).item() - (-100.0)) < 1e-3
    for loss in MI_ESTIMATORS.values():
        out = loss(torch.randn(B, B, P).to(torch.bfloat16))
        assert out.dtype == torch.float32 and out.dim() == 0 and torch.isfinite(out)


def test_gradients_push_positives_up_and_negatives_down():
    for loss in MI_ESTIMATORS.values():
        s = torch.randn(B, B, P, requires_grad=True)
        loss(s).backward()
        eye = torch.eye(B, dtype=torch.bool)
        assert (s.grad[eye] < 0).all()  # minimising raises every positive
        assert (s.grad[~eye] > 0).all()  # and lowers every negative


@pytest.mark.parametrize("shape", [(B,), (B, B + 1), (1, 1, 3)])
def test_scores_that_are_not_a_square_batch_matrix_are_refused(shape):
    for loss in MI_ESTIMATORS.values():
        with pytest.raises(AekitError, match="score every code against every input") as info:
            loss(torch.zeros(shape))
        assert "\n" not in str(info.value)
