"""Contract tests, parametrised over the registry: registering a model is enough to have it tested."""
from __future__ import annotations

import math

import pytest
import torch

import aekit
from aekit import io
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.models.base import Model
from aekit.registry import MODELS, build, hparam_names, model_names, part_names
from aekit.data.batch import Batch
from aekit.train.phases import PhaseContext

IMAGE_SHAPE = [1, 8, 8]


def small(name: str) -> Model:
    torch.manual_seed(0)
    return build(name, input_shape=IMAGE_SHAPE, latent_dim=4)


def batch(n: int = 16) -> torch.Tensor:
    return torch.rand(n, *IMAGE_SHAPE, generator=torch.Generator().manual_seed(1))


def test_core_models_registered():
    assert {"pca", "ae", "denoising", "dropout", "sparse", "contractive", "conv_ae"} <= set(model_names())


@pytest.mark.parametrize("name", model_names())
def test_docstring_names_a_paper(name):
    doc = MODELS[name].__doc__ or ""
    assert any(ch.isdigit() for ch in doc) and len(doc) > 80, f"{name} must name its paper (authors, year)"


@pytest.mark.parametrize("name", model_names())
def test_forward_contract(name):
    model, x = small(name), batch()
    if model.closed_form:
        model.fit_closed_form(x)
    model.train()
    out = model(Batch(x=x))
    assert out.z.shape == (x.shape[0], *model.code_shape)
    assert out.losses and all(v.ndim == 0 and torch.isfinite(v) for v in out.losses.values())
    model.eval()
    assert model.encode(x).shape == (x.shape[0], *model.code_shape)
    if not model.can("decode"):  # no decoder: no reconstruction, and asking for one is a clear error
        assert out.x_hat is None
        with pytest.raises(AekitError, match=r"has no decoder.*capability 'decode'.*use a run of .*\bae\b"):
            model.reconstruct(x)
        return
    assert out.x_hat.shape == x.shape and "recon" in out.losses
    torch.testing.assert_close(model.reconstruct(x), model(Batch(x=x)).x_hat)
    assert model.decode(model.encode(x)).shape == x.shape


@pytest.mark.parametrize("name", model_names())
def test_hparams_round_trip(name):
    model = small(name)
    again = build(name, **model.hparams)
    assert again.hparams == model.hparams
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", model_names())
def test_saved_model_reloads_to_identical_outputs(name, tmp_path):
    model, x = small(name), batch()
    if model.closed_form:
        model.fit_closed_form(x)
    model.eval()
    io.write_json(tmp_path / io.CONFIG, {"model": name, "hparams": model.hparams})
    io.save_model(tmp_path, model)
    loaded = aekit.load(tmp_path)
    assert torch.equal(loaded.encode(x), model.encode(x))
    if model.can("decode"):
        assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("name", model_names())
def test_wrong_input_shape_is_refused(name):
    model = small(name)
    with pytest.raises(AekitError, match="shape"):
        model.check_input(torch.rand(2, 3, 5, 5))


@pytest.mark.parametrize("name", [n for n in model_names() if not MODELS[n].closed_form])
def test_every_parameter_gets_a_gradient(name):
    model, x = small(name), batch()
    model.train()
    for phase in model.phases:
        model.zero_grad()
        sum(model.phase_losses(Batch(x=x), phase, PhaseContext()).values()).backward()
        for pname, p in model.named_parameters():
            if any(p is q for q in model.phase_parameters(phase)):
                assert p.grad is not None and torch.isfinite(p.grad).all(), f"{pname} got no gradient in {phase}"


def test_unknown_model_and_setting_are_user_errors():
    with pytest.raises(AekitError, match="unknown model"):
        build("nope")
    with pytest.raises(AekitError, match="no setting"):
        build("ae", widthz=3)


# ---- the mathematics -------------------------------------------------------------------------------
def low_rank(n=512, d=20, k=3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(k, d, generator=g)
    return torch.randn(n, k, generator=g) * torch.tensor([3.0, 2.0, 1.0])[:k] @ basis + 0.05 * torch.randn(n, d, generator=g) + 1.0


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA as SkPCA

    x = low_rank()
    model = build("pca", input_shape=20, latent_dim=3)
    model.fit_closed_form(x)
    sk = SkPCA(3).fit(x.numpy())
    ours = ((model.reconstruct(x) - x) ** 2).sum(1).mean()
    theirs = ((torch.tensor(sk.inverse_transform(sk.transform(x.numpy()))) - x) ** 2).sum(1).mean()
    assert math.isclose(float(ours), float(theirs), rel_tol=1e-4)
    torch.testing.assert_close(model.components @ model.components.T, torch.eye(3), atol=1e-5, rtol=0)


def test_linear_tied_ae_reaches_pca_error():
    """A linear AE with SSE loss spans the principal subspace (Baldi & Hornik 1989): same error as PCA."""
    x = low_rank(n=1024)
    pca = build("pca", input_shape=20, latent_dim=3)
    pca.fit_closed_form(x)
    pca_sse = float(((pca.reconstruct(x) - x) ** 2).sum(1).mean())
    data = ArrayDataset(x=x, name="low-rank")
    run = aekit.train("ae", data, hidden=[], latent_dim=3, tied=True, loss="sse", epochs=300, batch_size=256,
                      lr=1e-2, schedule="cosine", progress=False)
    ae_sse = float(((aekit.reconstruct(run.model, x) - x) ** 2).sum(1).mean())
    assert ae_sse <= pca_sse * 1.01, (ae_sse, pca_sse)


def test_tied_decoder_uses_encoder_weights():
    model = build("ae", input_shape=6, latent_dim=2, hidden=[4], tied=True)
    assert len(model.state_dict()) < len(build("ae", input_shape=6, latent_dim=2, hidden=[4]).state_dict())
    z = torch.randn(3, 2)
    before = model.decode(z)
    with torch.no_grad():
        model.encoder.linears[-1].weight.mul_(2.0)
    assert not torch.allclose(before, model.decode(z))


def test_contractive_penalty_equals_autograd_jacobian_norm():
    torch.manual_seed(0)
    model = build("contractive", input_shape=10, latent_dim=4, hidden=[7], weight=1.0, activation="tanh")
    x = torch.rand(5, 10)
    expected = torch.stack([
        torch.autograd.functional.jacobian(lambda v: model.encode(v.unsqueeze(0)).squeeze(0), xi).pow(2).sum()
        for xi in x]).mean()
    model.train()
    got = model(Batch(x=x)).losses["contractive"]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    got.backward()  # the penalty trains the encoder
    assert model.encoder.linears[0].weight.grad.abs().sum() > 0


def test_single_layer_contractive_matches_closed_form():
    """Rifai et al.'s closed form for a sigmoid layer: sum_j (h_j (1 - h_j))^2 ||W_j||^2."""
    torch.manual_seed(0)
    model = build("contractive", input_shape=10, latent_dim=4, weight=1.0)
    x = torch.rand(5, 10)
    h = model.encode(x)
    w = model.encoder.linears[0].weight  # (K, D)
    closed = ((h * (1 - h)) ** 2 @ (w ** 2).sum(1)).mean()
    model.train()
    torch.testing.assert_close(model(Batch(x=x)).losses["contractive"], closed, rtol=1e-5, atol=1e-6)


def test_sparse_kl_penalty_formula_and_sparsity_effect():
    from aekit import losses

    z = torch.full((4, 3), 0.2)
    expected = 3 * (0.05 * math.log(0.05 / 0.2) + 0.95 * math.log(0.95 / 0.8))
    assert math.isclose(float(losses.sparsity_kl(z, 0.05)), expected, rel_tol=1e-5)
    # Overcomplete code (more units than inputs): the penalty keeps the mean activation near the target.
    x = torch.rand(512, 16, generator=torch.Generator().manual_seed(0))
    data = ArrayDataset(x=x, name="rand")
    settings = dict(latent_dim=64, epochs=100, batch_size=64, lr=3e-3, progress=False)
    dense = aekit.encode(aekit.train("sparse", data, weight=0.0, **settings).model, x)
    sparse = aekit.encode(aekit.train("sparse", data, weight=3.0, **settings).model, x)
    assert float(sparse.mean()) < 0.5 * float(dense.mean())
    assert float(sparse.mean()) < 0.1


def test_denoising_corrupts_only_in_training():
    model = build("denoising", input_shape=20, latent_dim=3, hidden=[8], noise="masking", noise_level=0.5)
    x = torch.rand(6, 20)
    model.eval()
    assert torch.equal(model(Batch(x=x)).x_hat, model.reconstruct(x))
    model.train()
    assert (model._corrupt(x) == 0).float().mean() > 0.3


# ---- backbones and phases --------------------------------------------------------------------------
GRADIENT_MODELS = [n for n in model_names() if not MODELS[n].closed_form and "backbone" in hparam_names(n)]


@pytest.mark.parametrize("backbone", [p for p in part_names() if p != "mlp"])
@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_every_model_runs_on_every_backbone(name, backbone, tmp_path):
    """The same model on a conv network: contract shapes hold, every phase's parameters get gradients,
    and a saved model reloads to identical outputs (channels-last conv weights included)."""
    if name == "contractive" and backbone != "mlp":
        pytest.skip("the contractive penalty's per-example Jacobian is tested on the MLP (conv Jacobians are slow)")
    torch.manual_seed(0)
    model = build(name, input_shape=IMAGE_SHAPE, latent_dim=4, backbone=backbone)
    x = batch()
    model.train()
    out = model(Batch(x=x))
    assert out.x_hat.shape == x.shape and out.z.shape == (x.shape[0], 4)
    for phase in model.phases:
        model.zero_grad()
        sum(model.phase_losses(Batch(x=x), phase, PhaseContext()).values()).backward()
        assert all(p.grad is not None for p in model.phase_parameters(phase))
    model.eval()
    io.write_json(tmp_path / io.CONFIG, {"model": name, "hparams": model.hparams})
    io.save_model(tmp_path, model)
    assert torch.equal(aekit.load(tmp_path).reconstruct(x), model.reconstruct(x))


@pytest.mark.parametrize("name", [n for n in model_names() if len(MODELS[n].phases) > 1])
def test_each_phase_updates_only_its_own_parameters(name):
    model, x = small(name), batch()
    model.train()
    for phase in model.phases:
        own = {id(p) for p in model.phase_parameters(phase)}
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt = torch.optim.SGD(model.phase_parameters(phase), lr=0.1)
        opt.zero_grad()
        sum(model.phase_losses(Batch(x=x), phase, PhaseContext()).values()).backward()
        opt.step()
        for n, p in model.named_parameters():
            moved = not torch.equal(before[n], p.detach())
            assert moved == (id(p) in own) or (id(p) in own and p.grad.abs().sum() == 0), \
                f"{n}: moved={moved} in phase {phase}"
