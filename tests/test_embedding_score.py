"""Tests for aekit.eval.embedding_score (L_D* of an (input, code) discriminator): properties on tiny data."""

import math

import pytest
import torch
from torch import nn

import aekit
from aekit.data import ArrayDataset
from aekit.errors import AekitError
from aekit.eval import embedding_score
from aekit.eval.embedding_score import _derangement, pca_whitener

LOG2 = math.log(2.0)
FAST = dict(epochs=12, batch_size=64)  # the discriminator's budget in these tests


def bumps(n=1000, seed=0) -> ArrayDataset:
    """1x8x8 images of one Gaussian bump: 4 latent factors (centre x, y, width, height) + a little noise."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 2, generator=g) * 7
    width = 0.8 + torch.rand(n, 1, generator=g) * 1.5
    height = 0.5 + torch.rand(n, 1, generator=g) * 0.5
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    d2 = (xx.reshape(1, -1) - centre[:, :1]) ** 2 + (yy.reshape(1, -1) - centre[:, 1:]) ** 2  # (N, 64)
    img = height * torch.exp(-d2 / (2 * width ** 2)) + 0.02 * torch.randn(n, 64, generator=g)
    return ArrayDataset(img.reshape(n, 1, 8, 8), name="bumps")


def vectors(n=600, seed=0) -> ArrayDataset:
    """64-d vectors from 12 Gaussian factors, 4 of them strong, on orthonormal directions, + noise."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 12, generator=g) * torch.tensor([3.0, 2.5, 2.0, 1.5] + [0.3] * 8)
    directions = torch.linalg.qr(torch.randn(64, 12, generator=g))[0].T  # (12, 64)
    return ArrayDataset(f @ directions + 0.05 * torch.randn(n, 64, generator=g), name="vectors")


class Mapped(nn.Module):
    """A model whose codes are ``fn(inner codes)``."""

    def __init__(self, inner, fn):
        super().__init__()
        self.inner, self.fn, self.input_shape = inner, fn, inner.input_shape

    def check_input(self, x):
        self.inner.check_input(x)

    def encode(self, x):
        return self.fn(self.inner.encode(x))


class Constant(nn.Module):
    """An encoder that says nothing: the same code for every input."""

    def __init__(self, input_shape, code_shape=(3,)):
        super().__init__()
        self.input_shape, self.code_shape = tuple(input_shape), tuple(code_shape)

    def check_input(self, x):
        assert tuple(x.shape[1:]) == self.input_shape

    def encode(self, x):
        return torch.full((x.shape[0], *self.code_shape), 2.5)


@pytest.fixture(scope="module")
def image_models():
    data = bumps()
    ae = aekit.train("ae", data, latent_dim=4, hidden=[32], epochs=40, progress=False, seed=0).model
    pca = aekit.train("pca", data, latent_dim=4).model
    torch.manual_seed(1)
    untrained = aekit.build("ae", input_shape=list(data.item_shape), latent_dim=4, hidden=[32])
    return data, ae, pca, untrained


@pytest.fixture(scope="module")
def vector_ae():
    data = vectors()
    return data, aekit.train("ae", data, latent_dim=4, hidden=[32], epochs=40, progress=False, seed=0).model


# ---- the pieces -----------------------------------------------------------------------------------
def test_derangement_is_a_permutation_without_fixed_points():
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 7, 100):
        for _ in range(5):
            idx = _derangement(n, g)
            assert sorted(idx.tolist()) == list(range(n))
            assert (idx != torch.arange(n)).all()


def test_whitener_gives_identity_covariance_and_ignores_unit_order():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 5, generator=g, dtype=torch.float64)
    z = z + torch.randn(500, 5, generator=g, dtype=torch.float64) ** 2  # skewed, so every axis has a sign
    mean, w = pca_whitener(z)
    u = (z - mean) @ w
    assert torch.allclose(u.T @ u / (len(u) - 1), torch.eye(5, dtype=torch.float64), atol=1e-6)
    perm = torch.tensor([3, 0, 4, 1, 2])
    mean_p, w_p = pca_whitener(-2.0 * z[:, perm] + 1.0)  # units reordered, flipped, rescaled, shifted
    assert torch.allclose((-2.0 * z[:, perm] + 1.0 - mean_p) @ w_p, u, atol=1e-8)


def test_whitener_maps_a_constant_code_to_zeros_and_damps_a_duplicated_unit():
    z = torch.full((50, 3), 7.0, dtype=torch.float64)
    mean, w = pca_whitener(z)
    assert torch.equal((z - mean) @ w, torch.zeros(50, 3, dtype=torch.float64))
    z = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = torch.cat([z, z[:, :1]], dim=1)  # the third unit repeats the first: one direction has no variance
    mean, w = pca_whitener(z)
    u = (z - mean) @ w
    assert torch.isfinite(u).all() and u[:, 2].abs().max() < 1e-3  # not blown up to unit variance
    assert torch.allclose(u[:, :2].std(dim=0), torch.ones(2, dtype=torch.float64), atol=1e-6)


# ---- the score ------------------------------------------------------------------------------------
def test_untrained_encoder_scores_worse_than_trained_ae_and_pca(image_models):
    data, ae, pca, untrained = image_models
    scores = {name: embedding_score(m, data, held_out=0.3, **FAST)
              for name, m in (("ae", ae), ("pca", pca), ("untrained", untrained))}
    for s in scores.values():
        assert set(s) == {"embedding_score", "embedding_score_accuracy", "embedding_score_epoch"}
        assert 0.0 < s["embedding_score"] < LOG2 and 0.5 < s["embedding_score_accuracy"] <= 1.0
        assert 1 <= s["embedding_score_epoch"] <= FAST["epochs"]
    worst_trained = max(scores["ae"]["embedding_score"], scores["pca"]["embedding_score"])
    assert scores["untrained"]["embedding_score"] > worst_trained + 0.02, scores


def test_score_ignores_the_order_of_code_units(vector_ae, image_models):
    data, ae = vector_ae
    perm = torch.tensor([2, 0, 3, 1])
    base = embedding_score(ae, data, **FAST)
    permuted = embedding_score(Mapped(ae, lambda z: z[:, perm]), data, **FAST)
    assert permuted["embedding_score"] == pytest.approx(base["embedding_score"], abs=1e-4)
    assert permuted["embedding_score_accuracy"] == pytest.approx(base["embedding_score_accuracy"], abs=1e-2)
    # flipped, rescaled, shifted units: the same whitened code up to float rounding
    data, ae, _, _ = image_models
    base = embedding_score(ae, data, **FAST)["embedding_score"]
    moved = embedding_score(Mapped(ae, lambda z: -3.0 * z[:, perm] + 7.0), data, **FAST)["embedding_score"]
    assert moved == pytest.approx(base, abs=1e-3)


def test_score_barely_moves_under_an_ill_conditioned_linear_map_of_the_code(image_models):
    """Whitening leaves only a rotation, which the discriminator's first layer absorbs: only training noise."""
    data, ae, _, _ = image_models
    g = torch.Generator().manual_seed(3)
    a = torch.linalg.qr(torch.randn(4, 4, generator=g))[0] * torch.tensor([100.0, 0.1, 5.0, 1.0])  # (4, 4)
    base = embedding_score(ae, data, **FAST)["embedding_score"]
    mapped = embedding_score(Mapped(ae, lambda z: z @ a), data, **FAST)["embedding_score"]
    assert mapped == pytest.approx(base, abs=0.03)


@pytest.mark.parametrize("dataset, code_shape", [("vectors", (3,)), ("bumps", (2, 2, 2))])
def test_constant_encoder_scores_chance(dataset, code_shape):
    data = vectors() if dataset == "vectors" else bumps(600)
    s = embedding_score(Constant(data.item_shape, code_shape), data, epochs=4, batch_size=64)
    # x alone cannot tell (x_i, z) from (x_i, z): each pair's mean loss is >= log 2, equal when its logit is 0
    assert LOG2 - 1e-6 <= s["embedding_score"] < LOG2 + 0.02
    assert s["embedding_score_accuracy"] == pytest.approx(0.5, abs=1e-9)


def test_same_call_twice_gives_the_same_dict_and_leaves_the_global_rng_alone(vector_ae):
    data, ae = vector_ae
    state = torch.get_rng_state()
    first = embedding_score(ae, data, epochs=3, batch_size=64, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert embedding_score(ae, data, epochs=3, batch_size=64, seed=5) == first
    assert embedding_score(ae, data, epochs=3, batch_size=64, seed=6) != first


def test_accepts_a_run_directory_and_a_run(tmp_path):
    data = vectors(300)
    run = aekit.train("ae", data, latent_dim=4, hidden=[32], epochs=3, progress=False, out=tmp_path / "run")
    by_path = embedding_score(str(tmp_path / "run"), data, epochs=2, batch_size=64)
    assert embedding_score(tmp_path / "run", data, epochs=2, batch_size=64) == by_path
    assert embedding_score(run, data, epochs=2, batch_size=64) == by_path
    assert embedding_score(run.model, data, epochs=2, batch_size=64) == by_path


def test_custom_input_net_is_copied_and_a_factory_is_built():
    data = vectors(300)
    model = aekit.train("pca", data, latent_dim=4).model
    net = nn.Sequential(nn.Linear(64, 16), nn.ReLU())
    before = [p.detach().clone() for p in net.parameters()]
    first = embedding_score(model, data, epochs=2, batch_size=64, input_net=net)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the caller's net is untouched
    assert embedding_score(model, data, epochs=2, batch_size=64, input_net=net) == first
    s = embedding_score(model, data, epochs=2, batch_size=64,
                        input_net=lambda shape: nn.Sequential(nn.Linear(shape[0], 8), nn.ReLU()))
    assert 0.0 < s["embedding_score"] < 1.0


@pytest.mark.parametrize("kwargs", [
    dict(held_out=0.0), dict(held_out=1.0), dict(held_out=1.5), dict(held_out=-0.2), dict(held_out=True),
    dict(epochs=0), dict(batch_size=1), dict(lr=0.0), dict(lr=float("nan")), dict(batch_encode=0),
    dict(input_net=3),
])
def test_bad_settings_are_refused(kwargs):
    data = vectors(100)
    with pytest.raises(AekitError) as err:
        embedding_score(Constant(data.item_shape), data, **kwargs)
    assert "\n" not in str(err.value)


def test_bad_data_and_models_are_refused(tmp_path):
    data = vectors(100)
    model = Mapped(aekit.build("ae", input_shape=[64], latent_dim=4, hidden=[32]), lambda z: z)
    cases = [
        (model, vectors(12)),  # 12 items at held_out=0.2: 10 / 2, too few held out
        (model, ArrayDataset(torch.randn(100, 10))),  # items of another shape than the model's
        (model, data.x),  # a bare tensor, not a dataset
        (42, data),  # not a model
        (tmp_path / "missing", data),  # not a run directory
        (Mapped(model, lambda z: z * float("nan")), data),  # a diverged encoder
    ]
    for m, d in cases:
        with pytest.raises(AekitError) as err:
            embedding_score(m, d, epochs=1)
        assert "\n" not in str(err.value)
