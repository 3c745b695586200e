"""Properties of the VAE, the AAE and ACAI (the contract itself is tested over the registry in test_models)."""
from __future__ import annotations

import math

import pytest
import torch

import aekit
from aekit import losses as L
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.registry import build
from aekit.data.batch import Batch
from aekit.train.phases import PhaseContext


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g) * 0.5
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (S, 3, 4)
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean()  # average over samples and the batch
    assert math.isclose(float(L.kl_normal(mu, logvar)), float(mc), rel_tol=2e-2)


def test_vae_encode_is_the_mean_and_training_samples():
    torch.manual_seed(0)
    model = build("vae", input_shape=12, latent_dim=3, hidden=[16])
    x = torch.rand(8, 12)
    mu, logvar = model.posterior(x)
    assert torch.equal(model.encode(x), mu)
    model.eval()
    assert torch.equal(model(Batch(x=x)).x_hat, model.decode(mu))  # eval: no sampling
    model.train()
    torch.manual_seed(1)
    a = model(Batch(x=x)).x_hat
    torch.manual_seed(2)
    assert not torch.allclose(a, model(Batch(x=x)).x_hat)  # training decodes a sample


@torch.no_grad()
def test_vae_kl_warmup_ramps_the_kl_weight():
    model = build("vae", input_shape=12, latent_dim=3, hidden=[16], beta=2.0, kl_warmup=0.5)
    x = torch.rand(8, 12)
    model.train()
    model.set_progress(0.0)
    assert float(model(Batch(x=x)).losses["kl"]) == 0.0
    model.set_progress(0.25)
    torch.manual_seed(0)
    half = float(model(Batch(x=x)).losses["kl"])
    model.set_progress(0.9)
    torch.manual_seed(0)
    assert math.isclose(float(model(Batch(x=x)).losses["kl"]), 2 * half, rel_tol=1e-5)
    model.eval()  # evaluation reports the full beta * KL
    assert math.isclose(float(model(Batch(x=x)).losses["kl"]), 2.0 * float(L.kl_normal(*model.posterior(x))), rel_tol=1e-5)


@pytest.mark.parametrize("loss", ["bce", "sse"])
def test_vae_importance_sampled_nll_bounds(loss):
    """k=1 estimates -ELBO (up to Monte Carlo noise); more samples give a tighter (lower) estimate."""
    torch.manual_seed(0)
    model = build("vae", input_shape=10, latent_dim=2, hidden=[8], loss=loss, sigma=0.5)
    x = (torch.rand(64, 10) > 0.5).float()
    model.eval()
    g = torch.Generator().manual_seed(0)
    one = model.nll(x, k=1, generator=g)
    out = model(Batch(x=x))  # eval: recon at the mean; ELBO needs a sample, so compare averages over many draws
    elbo_terms = []
    model.train()
    for s in range(400):
        torch.manual_seed(s)
        losses = model(Batch(x=x)).losses
        elbo_terms.append(float(losses["recon"] + losses["kl"]))
    neg_elbo = sum(elbo_terms) / len(elbo_terms)
    if loss == "sse":  # the training loss leaves out the Gaussian's normalising constant
        neg_elbo += 10 * math.log(0.5 * math.sqrt(2 * math.pi))
    model.eval()
    assert out.x_hat.shape == x.shape
    assert math.isclose(float(one.mean()), neg_elbo, rel_tol=0.05)
    many = model.nll(x, k=256, chunk=64, generator=g)
    assert float(many.mean()) < float(one.mean())


def test_vae_refuses_mse_and_bad_settings():
    with pytest.raises(AekitError, match="likelihood"):
        build("vae", input_shape=4, latent_dim=2, loss="mse")
    with pytest.raises(AekitError, match="kl_warmup"):
        build("vae", input_shape=4, latent_dim=2, kl_warmup=2)


def test_acai_alpha_lies_in_zero_half_and_mixes_with_the_reversed_batch():
    model = build("acai", input_shape=12, latent_dim=3, hidden=[16])
    z = torch.randn(10_000, 3)
    torch.manual_seed(0)
    alpha, z_mix = model.mix(z)
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 0.5
    assert 0.2 < float(alpha.mean()) < 0.3  # U[0, 0.5] has mean 0.25
    torch.testing.assert_close(z_mix, alpha * z + (1 - alpha) * z.flip(0))


def test_acai_critic_loss_matches_the_official_formula():
    torch.manual_seed(0)
    model = build("acai", input_shape=12, latent_dim=3, hidden=[16], loss="mse")
    x = torch.rand(6, 12)
    torch.manual_seed(5)
    got = model.phase_losses(Batch(x=x), "critic", PhaseContext())["critic"]
    torch.manual_seed(5)
    with torch.no_grad():
        z = model.encode(x)
        x_hat = model.decode(z)
        alpha = 0.5 - (torch.rand(6, 1) - 0.5).abs()
        x_mix = model.decode(alpha * z + (1 - alpha) * z.flip(0))
    expected = (model.critic(x_mix) - alpha[:, 0]).pow(2).mean() + model.critic(0.2 * x + 0.8 * x_hat).pow(2).mean()
    torch.testing.assert_close(got, expected)


def test_acai_critic_learns_from_the_batch_the_ae_phase_decoded():
    """The loop runs ACAI's ``ae`` phase, then its ``critic`` phase on the same batch and context: the critic
    reuses the images (and alphas) the ae phase decoded, as the official code's single forward pass, without
    decoding again; with an empty context (the critic first, or alone) it decodes the batch itself."""
    torch.manual_seed(0)
    model = build("acai", input_shape=12, latent_dim=3, hidden=[16], loss="mse").train()
    assert model.phases == ("ae", "critic")
    batch = Batch(x=torch.rand(6, 12))
    decodes = []
    model.decoder.register_forward_hook(lambda *_: decodes.append(1))
    torch.manual_seed(5)
    ctx = PhaseContext()
    model.phase_losses(batch, "ae", ctx)
    before = len(decodes)
    got = model.phase_losses(batch, "critic", ctx)["critic"]
    assert len(decodes) == before  # nothing decoded in the critic phase
    assert all(not ctx[k].requires_grad for k in ("alpha", "x_mix", "x_hat"))  # stored detached
    torch.manual_seed(5)  # the same alpha draw, decoded afresh from an empty context
    expected = model.phase_losses(batch, "critic", PhaseContext())["critic"]
    assert len(decodes) == before + 2
    torch.testing.assert_close(got, expected)


def test_aae_pulls_codes_towards_the_prior():
    """Codes of an AAE trained against N(0, I) are closer to N(0, I) than those of the same AE without it."""
    x = torch.rand(2048, 16, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.1, 3, 16)
    data = ArrayDataset(x=x, name="toy")
    settings = dict(latent_dim=2, hidden=[32], loss="mse", epochs=40, batch_size=32, lr=1e-3, betas=(0.5, 0.999),
                    progress=False)
    plain = aekit.encode(aekit.train("aae", data, adv_weight=0.0, **settings).model, x)
    matched = aekit.encode(aekit.train("aae", data, adv_weight=1.0, **settings).model, x)

    def distance_to_standard_normal(z):  # moments: |mean| + |cov - I|
        return float(z.mean(0).abs().sum() + (torch.cov(z.T) - torch.eye(2)).abs().sum())

    assert distance_to_standard_normal(matched) < 0.5 * distance_to_standard_normal(plain)


def test_aae_mixture_prior_has_its_components_on_a_circle():
    model = build("aae", input_shape=8, latent_dim=2, hidden=[8], prior="mixture", mixture_components=4,
                  mixture_radius=5.0, mixture_std=0.1)
    z = model.sample_prior(4000, generator=torch.Generator().manual_seed(0))
    radius = z.norm(dim=1)
    assert float((radius - 5.0).abs().max()) < 1.0
    angles = torch.atan2(z[:, 1], z[:, 0])
    nearest = torch.round(angles / (math.pi / 2)) * (math.pi / 2)
    assert float((angles - nearest).abs().max()) < 0.2  # four clusters at multiples of 90 degrees
