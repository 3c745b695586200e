"""Properties of the discrete-code models (vqvae, onehot, binary), on tiny inputs and both kinds of backbone.

The registry-parametrised contract (forward, save/reload, gradients per phase) is in test_models.py;
here: codes are exactly codebook rows / one-hot blocks / bits, straight-through gradients reach the
encoder, the VQ-VAE's two phases leave each other's weights alone, and its prior samples and learns.
"""
from __future__ import annotations

import math

import pytest
import torch

from aekit.cli import main
from aekit.errors import AekitError
from aekit.registry import build
from aekit.data.batch import Batch
from aekit.train.phases import PhaseContext

# mlp: latent 8 -> code_dim 4 (largest divisor <= 4), 2 codes per example;
# acai at scales 2 on 8x8: a (2, 2, 2) code map -> code_dim 2 (the channels), 4 codes (the positions).
BACKBONES = {
    "mlp": dict(input_shape=[1, 8, 8], latent_dim=8, hidden=[16]),
    "acai": dict(input_shape=[1, 8, 8], latent_dim=8, backbone="acai", backbone_options={"depth": 4, "scales": 2}),
}
GROUPS = {"mlp": 2, "acai": 4}


def make(name: str, backbone: str, **hparams):
    torch.manual_seed(0)
    if name == "vqvae":
        hparams = {"codebook_size": 16, "prior_width": 16, **hparams}
    return build(name, **BACKBONES[backbone], **hparams)


def batch(n: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def trained_step(model, x):
    """One training forward (runs the k-means initialisation of a VQ codebook), then eval mode."""
    model.train()
    with torch.no_grad():
        model(Batch(x=x))
    return model.eval()


# ---- VQ-VAE: codes are codebook rows ---------------------------------------------------------------
@pytest.mark.parametrize("backbone", BACKBONES)
def test_vq_default_layout(backbone):
    model = make("vqvae", backbone)
    assert model.groups == GROUPS[backbone] and model.code_dim * model.groups == model.latent_dim
    assert build("vqvae", input_shape=784).code_dim == 3  # the default latent_dim 30: ten 3-d codes


@pytest.mark.parametrize("backbone", BACKBONES)
def test_vq_code_is_codebook_rows_of_its_indices(backbone):
    model, x = make("vqvae", backbone), batch()
    trained_step(model, x)
    z, idx = model.encode(x), model.code_indices(x)
    assert idx.shape == (x.shape[0], model.groups) and idx.dtype == torch.long
    assert torch.equal(z.reshape(x.shape[0], model.groups, model.code_dim), model.quantizer.codebook[idx])
    assert torch.equal(model.decode_indices(idx), model.reconstruct(x))
    assert torch.equal(model(Batch(x=x)).z, z) and torch.equal(model(Batch(x=x)).x_hat, model.reconstruct(x))
    assert torch.equal(model.decode(z), model.decode(model.encode(x)))  # decode snaps: idempotent on rows
    noisy = z + 1e-4 * torch.randn_like(z)
    assert torch.equal(model.decode(noisy), model.decode(z))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_vq_code_metrics_count_every_example(backbone):
    model, x = make("vqvae", backbone), batch(50)
    trained_step(model, x)
    with torch.no_grad():
        got = model.code_metrics(x, batch_size=7)  # chunks, the last one short
    counts = torch.bincount(model.code_indices(x).reshape(-1), minlength=16).float()
    p = counts / counts.sum()
    assert got["usage"] == pytest.approx(float((counts > 0).float().mean()))
    assert got["perplexity"] == pytest.approx(math.exp(-float(torch.special.xlogy(p, p).sum())), rel=1e-5)


# ---- straight-through gradients and exact codes ----------------------------------------------------
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("name,hparams", [("vqvae", {}), ("onehot", {}), ("onehot", {"mode": "gumbel"}),
                                          ("binary", {}), ("binary", {"mode": "noisy"})])
def test_straight_through_gradient_reaches_the_first_layer(backbone, name, hparams):
    model, x = make(name, backbone, **hparams), batch()
    model.train()
    model(Batch(x=x)).losses["recon"].backward()  # the reconstruction alone: its gradient must cross the bottleneck
    first = next(model.encoder.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0


@pytest.mark.parametrize("backbone", BACKBONES)
def test_binary_codes_are_exact_bits(backbone):
    for mode in ("straight_through", "noisy"):
        model, x = make("binary", backbone, mode=mode), batch()
        z = model.encode(x)
        assert z.shape == (x.shape[0], 8) and set(z.unique().tolist()) <= {0.0, 1.0}
        model.eval()
        assert torch.equal(model(Batch(x=x)).z, z)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_onehot_codes_have_one_one_per_block(backbone):
    model, x = make("onehot", backbone, groups=2), batch()
    z = model.encode(x).reshape(x.shape[0], 2, 4)  # (B, groups, categories)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(z.sum(-1), torch.ones(x.shape[0], 2))
    assert torch.equal(z.argmax(-1), model.code_indices(x))


def test_onehot_temperature_is_annealed():
    model = make("onehot", "mlp", mode="gumbel", temperature=2.0, min_temperature=0.5)
    model.set_progress(0.0)
    assert model.quantizer.temperature == pytest.approx(2.0)
    model.set_progress(0.5)
    assert model.quantizer.temperature == pytest.approx(1.0)  # geometric: sqrt(2 * 0.5)
    model.set_progress(1.0)
    assert model.quantizer.temperature == pytest.approx(0.5)


# ---- the VQ-VAE's two phases and its prior ------------------------------------------------------
def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def step(model, x, phase: str) -> None:
    """One step of the training loop's phase: that phase's losses, optimiser over its parameters."""
    opt = torch.optim.Adam(model.phase_parameters(phase), lr=1e-2)
    opt.zero_grad()
    sum(model.phase_losses(Batch(x=x), phase, PhaseContext()).values()).backward()
    opt.step()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_phases_leave_each_other_alone(backbone):
    model, x = make("vqvae", backbone, norm="batch" if backbone == "mlp" else None), batch()
    model.train()
    step(model, x, "ae")  # initialises the codebook
    ae_before, prior_before = snapshot(model), snapshot(model.prior)
    assert set(model.phase_losses(Batch(x=x), "prior", PhaseContext())) == {"prior"}
    step(model, x, "prior")
    after = snapshot(model)
    changed = {k for k in after if not torch.equal(after[k], ae_before[k])}
    assert changed and all(k.startswith("prior.") for k in changed), changed  # codebook, BN stats, weights kept
    assert model.training and model.encoder.training  # the prior's eval-mode pass restored the modes
    prior_before = snapshot(model.prior)
    step(model, x, "ae")
    assert all(torch.equal(v, prior_before[k]) for k, v in snapshot(model.prior).items())
    assert not torch.equal(model.quantizer.codebook, ae_before["quantizer.codebook"])  # the ae phase moves it


@pytest.mark.parametrize("backbone", BACKBONES)
def test_sample_prior_gives_codebook_rows_that_decode(backbone):
    model = trained_step(make("vqvae", backbone), batch())
    z = model.sample_prior(5, generator=torch.Generator().manual_seed(0))
    assert z.shape == (5, model.latent_dim)
    rows = z.reshape(5 * model.groups, model.code_dim)
    assert all(any(torch.equal(r, e) for e in model.quantizer.codebook) for r in rows)
    assert model.decode(z).shape == (5, 1, 8, 8)
    again = model.sample_prior(5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z, again)  # the generator drives the sampling


def test_prior_learns_predictable_indices():
    """Four distinct inputs -> at most four index sequences of 8 codes: the prior's loss falls from about
    log(K) to at most log(4) / 8 nats per index, plus what 200 steps leave."""
    torch.manual_seed(0)
    model = build("vqvae", input_shape=[1, 8, 8], latent_dim=8, hidden=[16], code_dim=1, codebook_size=16,
                  prior_width=32)
    x = batch(4).repeat(16, 1, 1, 1)  # (64, 1, 8, 8)
    trained_step(model, x).train()
    opt = torch.optim.Adam(model.phase_parameters("prior"), lr=1e-2)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = model.phase_losses(Batch(x=x), "prior", PhaseContext())["prior"]
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 2.0  # about log(16) = 2.77 at the start
    assert losses[-1] < math.log(4) / 8 + 0.1, losses[-1]


def test_training_runs_both_phases():
    import aekit
    from aekit.data.dataset import ArrayDataset

    data = ArrayDataset(x=batch(64), name="rand")
    run = aekit.train("vqvae", data, **BACKBONES["mlp"], codebook_size=16, prior_width=16, epochs=2,
                      batch_size=32, progress=False)
    assert {"train_ae/recon", "train_ae/commit", "train_prior/prior"} <= set(run.metrics["final"])


# ---- refused settings --------------------------------------------------------------------------------
def test_bad_vq_settings_are_refused():
    with pytest.raises(AekitError, match="codebook_size"):
        build("vqvae", input_shape=64, latent_dim=8, codebook_size=0)
    with pytest.raises(AekitError, match=r"code_dim among \[1, 2, 4, 8\]"):
        build("vqvae", input_shape=64, latent_dim=8, code_dim=3)
    with pytest.raises(AekitError, match="groups"):
        build("onehot", input_shape=64, latent_dim=8, groups=8)  # blocks of one category
    with pytest.raises(AekitError, match="binary mode"):
        build("binary", input_shape=64, latent_dim=8, mode="ternary")


def test_codebook_size_zero_is_a_one_line_cli_error(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "vqvae", "--data", "digits", "--set", "codebook_size=0", "--epochs", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aekit: error: ") and "codebook_size" in lines[0], err
    assert rc == 2 and not out.exists()
