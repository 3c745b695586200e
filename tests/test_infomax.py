"""Deep InfoMax: the first model without a decoder, on the one loop, runs, CLI and evaluation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from aekit.data.batch import Batch
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.train.phases import PhaseContext

SHAPE = (3, 16, 16)


def images(n=96, seed=0) -> ArrayDataset:
    """Two classes of 16x16 colour images: a bright square top-left or bottom-right, with noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.3 * torch.rand(n, *SHAPE, generator=g)
    x[y == 0, :, :8, :8] += 0.6
    x[y == 1, :, 8:, 8:] += 0.6
    return ArrayDataset(x.clamp(0, 1), y, name="squares", scale="01")


@pytest.mark.parametrize("which", ["local", "global"])
def test_infonce_of_a_constant_encoder_is_log_batch_size(which):
    """When every item of the batch has the same code and features, no pairing is better than another."""
    torch.manual_seed(0)
    weights = {"local_weight": 1.0, "global_weight": 0.0} if which == "local" else \
        {"local_weight": 0.0, "global_weight": 1.0}
    model = aekit.build("infomax", input_shape=list(SHAPE), latent_dim=8, estimator="infonce", **weights).eval()
    x = images(1).x.repeat(12, 1, 1, 1)  # one image, 12 times: the encoder's output is constant over the batch
    loss = model(Batch(x=x)).losses[f"mi_{which}"]
    assert float(loss.detach()) == pytest.approx(math.log(12), abs=1e-5)


def test_local_discriminator_sees_every_position():
    torch.manual_seed(0)
    model = aekit.build("infomax", input_shape=list(SHAPE), latent_dim=8).train()
    x = images(8).x
    seen = {}
    model.local_disc.local_net.register_forward_hook(lambda m, inp, out: seen.__setitem__("local", inp[0]))
    loss = model(Batch(x=x)).losses["mi_local"]
    local = seen["local"]
    grad, = torch.autograd.grad(loss, local)
    assert local.shape[-2:] == (4, 4)  # 16x16 images: the map after the second stage
    assert bool((grad.abs().sum(dim=(0, 1)) > 0).all())  # every position moves the loss


def test_infomax_trains_saves_reloads_and_evaluates_without_a_decoder(tmp_path):
    train, test = images(256, 0), images(128, 1)
    run = aekit.train("infomax", train, test=test, latent_dim=8, disc_units=32, epochs=3, batch_size=32, lr=1e-3,
                      progress=False, out=tmp_path / "run")
    m = run.metrics
    assert "recon_sse" not in m and "decoder" in m["skipped"]["reconstruction"]
    assert m["probe_accuracy"] > 0.9 and "cluster_accuracy" in m
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["skipped"] == m["skipped"]
    again = aekit.load(tmp_path / "run")
    torch.testing.assert_close(aekit.encode(again, test.x), aekit.encode(run.model, test.x), rtol=0, atol=0)


def test_prior_matching_is_its_own_phase_fed_by_the_context():
    torch.manual_seed(0)
    model = aekit.build("infomax", input_shape=list(SHAPE), latent_dim=8, prior_weight=0.1).train()
    assert model.phases == ("mi", "prior")
    batch, ctx = Batch(x=images(8).x), PhaseContext()
    mi = model.phase_losses(batch, "mi", ctx)
    assert set(mi) == {"mi_local", "adv"} and not ctx["z"].requires_grad
    critic = model.phase_losses(batch, "prior", ctx)["critic"]
    critic.backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # the adversary's step leaves the encoder
    assert all(p.grad is not None for p in model.prior_disc.parameters())
    run = aekit.train(model, images(64), epochs=1, batch_size=16, progress=False)
    assert {"train_mi/mi_local", "train_mi/adv", "train_prior/critic"} <= set(run.metrics["final"])


@pytest.mark.parametrize("estimator", ["jsd", "infonce", "dv"])
def test_every_estimator_trains_codes_that_separate_the_classes(estimator):
    run = aekit.train("infomax", images(256, 0), test=images(128, 1), latent_dim=8, disc_units=32, estimator=estimator,
                      epochs=3, batch_size=32, progress=False)
    assert run.metrics["probe_accuracy"] > 0.9


def test_bad_infomax_settings_are_one_line():
    with pytest.raises(AekitError, match="unknown MI estimator 'nce'"):
        aekit.build("infomax", input_shape=list(SHAPE), estimator="nce")
    with pytest.raises(AekitError, match="infomax needs images"):
        aekit.build("infomax", input_shape=[64])
    with pytest.raises(AekitError, match="global_weight \\+ local_weight > 0"):
        aekit.build("infomax", input_shape=list(SHAPE), local_weight=0)
    with pytest.raises(AekitError, match="exposes its feature maps"):
        aekit.build("infomax", input_shape=list(SHAPE), encoder={"part": "conv"})


# ---- everything a user does with codes, through the CLI ---------------------------------------------------
@pytest.fixture(scope="module")
def infomax_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("infomax")
    train, test = images(256, 0), images(128, 1)
    np.savez(folder / "train.npz", x=train.x.numpy(), y=train.y.numpy())
    np.savez(folder / "test.npz", x=test.x.numpy(), y=test.y.numpy())
    out = folder / "run"
    assert main(["train", "infomax", "--data", str(folder / "train.npz"), "--latent-dim", "8", "--epochs", "2",
                 "--set", "disc_units=32", "--batch-size", "32", "--quiet", "--out", str(out)]) == 0
    return out


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_codes_commands_work_on_an_infomax_run(infomax_run, tmp_path, capsys):
    rc, out, err = cli(capsys, "evaluate", infomax_run, "--json")
    assert rc == 0, err
    metrics = json.loads(out)
    assert metrics["probe_accuracy"] > 0.5  # the .npz carries labels: the probe runs
    assert "decoder" in metrics["skipped"]["reconstruction"]
    rc, _, err = cli(capsys, "embed", infomax_run, "--out", tmp_path / "codes.npz")
    assert rc == 0, err
    assert np.load(tmp_path / "codes.npz")["z"].shape == (51, 8)  # a bare .npz: its held-out 20% is the test split
    rc, _, err = cli(capsys, "index", infomax_run, "--out", tmp_path / "index")
    assert rc == 0, err
    rc, out, err = cli(capsys, "search", tmp_path / "index", "3", "-k", "4", "--json")
    assert rc == 0, err
    assert json.loads(out)["results"][0]["id"] == 3
    rc, out, err = cli(capsys, "finetune", infomax_run, "--labels", "20", "--epochs", "2", "--out", tmp_path / "cls",
                       "--json")
    assert rc == 0, err
    assert json.loads(out)["test_accuracy"] > 0.5


@pytest.mark.parametrize("command", [
    ["reconstruct", "{run}", "--out", "{tmp}/r.png"],
    ["interpolate", "{run}", "0", "1", "--out", "{tmp}/i.png"],
    ["generate", "{run}", "--n", "4", "--out", "{tmp}/g.png"],
    ["generate", "{run}", "--grid", "3", "--out", "{tmp}/g.png"],
    ["anomaly", "{run}", "--out", "{tmp}/a.csv"],
])
def test_commands_that_need_a_decoder_name_the_capability(infomax_run, tmp_path, capsys, command):
    args = [a.format(run=infomax_run, tmp=tmp_path) for a in command]
    rc, out, err = cli(capsys, *args)
    assert rc == 2 and err.count("\n") == 1
    assert "model 'infomax' has no" in err and "capability" in err and "use a run of" in err
    assert list(tmp_path.iterdir()) == []


def test_evaluate_embedding_score_on_the_cli(infomax_run, capsys):
    rc, out, err = cli(capsys, "evaluate", infomax_run, "--metrics", "embedding_score", "--json")
    assert rc == 0, err
    metrics = json.loads(out)
    assert 0 <= metrics["embedding_score"] < math.log(2) and 0.5 < metrics["embedding_score_accuracy"] <= 1
    rc, _, err = cli(capsys, "evaluate", infomax_run, "--metrics", "embedding_scor")
    assert rc == 2 and "unknown evaluation embedding_scor" in err
