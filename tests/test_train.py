"""The one training loop: resume is exact, divergence is caught, DDP equals a large batch, seeds repeat."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import torch

import aekit
from aekit import io
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.models.ae import DeepAutoEncoder
from aekit.train import TrainConfig, TrainingDiverged, fit
from aekit.train.checkpoint import load_checkpoint, save_checkpoint


def toy_data(n=256, d=12, seed=0) -> ArrayDataset:
    return ArrayDataset(x=torch.rand(n, d, generator=torch.Generator().manual_seed(seed)), name="toy")


SETTINGS = dict(hidden=[16], latent_dim=3, epochs=4, batch_size=32, lr=3e-3, schedule="cosine", progress=False)


class Stop(Exception):
    pass


def train_interrupted(name: str, data, out) -> None:
    """Train ``name`` for SETTINGS' epochs but stop after the second: a checkpoint and no final weights."""

    def interrupt(row):
        if row["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        aekit.train(name, data, out=out, on_epoch_end=interrupt, **SETTINGS)
    assert not (out / io.WEIGHTS).exists()  # an unfinished run has no final weights


def assert_same_weights(a, b) -> None:
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


@pytest.mark.parametrize("name", ["dropout", "acai"])  # dropout: RNG state matters; acai: two optimisers
def test_resumed_run_is_bitwise_equal_to_uninterrupted(tmp_path, name):
    data = toy_data()
    full = aekit.train(name, data, out=tmp_path / "full", **SETTINGS)
    train_interrupted(name, data, tmp_path / "cut")
    resumed = aekit.train(name, data, out=tmp_path / "cut", resume=True, **SETTINGS)
    assert_same_weights(full.model, resumed.model)
    rows = list(csv.DictReader(open(tmp_path / "cut" / io.LOG)))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    full_rows = list(csv.DictReader(open(tmp_path / "full" / io.LOG)))
    recon = "train_recon" if name == "dropout" else "train_ae/recon"
    assert [r[recon] for r in rows] == [r[recon] for r in full_rows]


def test_resume_matches_optimisers_to_phases_by_name(tmp_path):
    """A checkpoint lists its phases: one written with them in another order resumes exactly; one written
    for other phases is refused in one line (its optimiser moments belong to other parameters)."""
    data = toy_data()
    full = aekit.train("acai", data, out=tmp_path / "full", **SETTINGS)
    train_interrupted("acai", data, tmp_path / "cut")
    path = tmp_path / "cut" / io.CHECKPOINT
    state = load_checkpoint(path)
    assert state["phases"] == ["ae", "critic"]
    for key in ("phases", "optimizers", "schedulers"):
        state[key] = state[key][::-1]
    save_checkpoint(path, state)
    assert_same_weights(full.model, aekit.train("acai", data, out=tmp_path / "cut", resume=True, **SETTINGS).model)

    train_interrupted("acai", data, tmp_path / "other")
    path = tmp_path / "other" / io.CHECKPOINT
    state = load_checkpoint(path)
    save_checkpoint(path, {**state, "phases": ["ae", "prior"]})
    with pytest.raises(AekitError, match=r"trains phases \('ae', 'prior'\).*train anew"):
        aekit.train("acai", data, out=tmp_path / "other", resume=True, **SETTINGS)
    # Written before checkpoints named their phases, with ACAI's old order (critic first): one line, not
    # torch's error about parameter groups.
    save_checkpoint(path, {k: v[::-1] if k == "optimizers" else v for k, v in state.items() if k != "phases"})
    with pytest.raises(AekitError, match=r"optimiser state for other parameters in phase 'ae'.*train anew"):
        aekit.train("acai", data, out=tmp_path / "other", resume=True, **SETTINGS)


def test_same_seed_same_weights_other_seed_other_weights():
    data = toy_data()
    a = aekit.train("ae", data, seed=1, **SETTINGS).model.state_dict()
    b = aekit.train("ae", data, seed=1, **SETTINGS).model.state_dict()
    c = aekit.train("ae", data, seed=2, **SETTINGS).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


class Exploding(DeepAutoEncoder):
    """Loss turns NaN once ``explode`` is set: a stand-in for a diverging run."""

    explode = False

    def forward(self, batch):
        out = super().forward(batch)
        if self.explode:
            out.losses["recon"] = out.losses["recon"] * float("nan")
        return out


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    model = Exploding(input_shape=12, latent_dim=3, hidden=[8])

    def arm(row):
        model.explode = True

    good = {}

    def remember(row):
        good.update({k: v.clone() for k, v in model.state_dict().items()})
        arm(row)

    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 2.*recon.*checkpoint"):
        fit(model, toy_data(), TrainConfig(epochs=3, batch_size=32, progress=False), run_dir=tmp_path,
            on_epoch_end=remember)
    state = load_checkpoint(tmp_path / io.CHECKPOINT)
    assert state["epoch"] == 1
    assert all(torch.equal(state["model"][k], good[k]) for k in good)


def test_checkpoint_round_trips_nested_optimizer_state(tmp_path):
    # a whole training state (a checkpoint holding anything else is refused since issue 17)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sch.step()
    save_checkpoint(tmp_path / "c.safetensors", {"model": model.state_dict(), "optimizers": [opt.state_dict()],
                                                 "schedulers": [sch.state_dict()], "rng": torch.get_rng_state(),
                                                 "epoch": 1, "step": 1})
    back = load_checkpoint(tmp_path / "c.safetensors")
    assert back["epoch"] == 1
    ref = opt.state_dict()
    assert set(back["optimizers"][0]["state"]) == set(ref["state"])  # int keys survive
    for k in ref["state"]:
        for name, t in ref["state"][k].items():
            assert torch.equal(back["optimizers"][0]["state"][k][name], t)
    assert back["optimizers"][0]["param_groups"] == ref["param_groups"]


def test_bf16_mixed_precision_trains_as_well_as_fp32():
    data = toy_data()
    untrained = aekit.train("ae", data, test=data, **{**SETTINGS, "epochs": 1, "lr": 1e-9}).metrics["recon_sse"]
    fp32 = aekit.train("ae", data, test=data, **{**SETTINGS, "epochs": 30}).metrics["recon_sse"]
    bf16 = aekit.train("ae", data, test=data, precision="bf16-mixed", **{**SETTINGS, "epochs": 30}).metrics["recon_sse"]
    assert bf16 < 0.8 * untrained
    assert bf16 < 1.1 * fp32


def test_unknown_setting_and_existing_run_are_refused(tmp_path):
    data = toy_data()
    with pytest.raises(AekitError, match="unknown setting 'lrr'"):
        aekit.train("ae", data, lrr=1)
    aekit.train("ae", data, out=tmp_path / "r", **{**SETTINGS, "epochs": 1})
    with pytest.raises(AekitError, match="already holds a run"):
        aekit.train("ae", data, out=tmp_path / "r", **{**SETTINGS, "epochs": 1})


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_with_twice_the_batch(tmp_path):
    """DDP on CPU (gloo): 2 processes x batch 32 see the same examples per step as 1 x 64, so the
    averaged gradients, and the weights after training, agree up to float rounding."""
    import numpy as np

    x = torch.rand(512, 12, generator=torch.Generator().manual_seed(0)).numpy()
    np.save(tmp_path / "x.npy", x)
    common = ["--data", str(tmp_path / "x.npy"), "--epochs", "2", "--quiet", "--latent-dim", "3",
              "--set", "hidden=[16]", "--set", "accelerator=cpu", "--set", "loss=sse", "--lr", "1e-2"]
    cmd = [sys.executable, "-m", "aekit.cli", "train", "ae"]
    ddp = subprocess.run(cmd + common + ["--out", str(tmp_path / "ddp"), "--devices", "2", "--strategy", "ddp",
                                         "--batch-size", "32"], capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    one = subprocess.run(cmd + common + ["--out", str(tmp_path / "one"), "--batch-size", "64"],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = aekit.load(tmp_path / "ddp").state_dict(), aekit.load(tmp_path / "one").state_dict()
    torch.manual_seed(0)  # the CLI seeds the initial weights with the default seed 0
    initial = aekit.build("ae", input_shape=[12], latent_dim=3, hidden=[16], loss="sse").state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4)
        assert (a[k] - initial[k]).abs().max() > 1e-3, f"{k} did not train"


def test_endless_stream_trains_for_steps_per_epoch():
    from aekit.data import LinesStream

    test = aekit.data.load("lines", split="test", limit=256, scale="pm1")
    settings = dict(latent_dim=2, hidden=[64], loss="sse", batch_size=32, lr=3e-3, progress=False)
    untrained = aekit.train("ae", LinesStream(), test=test, epochs=1, steps_per_epoch=1, **{**settings, "lr": 1e-9})
    rows = []
    run = aekit.train("ae", LinesStream(), test=test, epochs=3, steps_per_epoch=50, on_epoch_end=rows.append,
                      **settings)
    assert [r["step"] for r in rows] == [50, 100, 150]
    assert run.metrics["recon_sse"] < 0.7 * untrained.metrics["recon_sse"]
    with pytest.raises(AekitError, match="steps_per_epoch"):
        aekit.train("ae", LinesStream(), epochs=1, **settings)


class AutocastSpy(DeepAutoEncoder):
    seen: list

    def phase_losses(self, batch, phase, ctx):
        self.seen.append(torch.is_autocast_enabled("cpu"))
        return super().phase_losses(batch, phase, ctx)


@pytest.mark.parametrize("precision, expected", [("bf16-mixed", True), ("32-true", False)])
def test_training_steps_run_under_the_requested_precision(precision, expected):
    model = AutocastSpy(input_shape=12, latent_dim=3, hidden=[8])
    model.seen = []
    fit(model, toy_data(), TrainConfig(epochs=1, batch_size=64, precision=precision, progress=False))
    assert model.seen and all(s == expected for s in model.seen)


class _LabelEcho(DeepAutoEncoder):
    """Trains on labels: checks that every batch's labels are the ones of its own inputs (x[:, 0] == y)."""

    requires_fields = ("x", "y")
    seen = 0

    def phase_losses(self, batch, phase, ctx):
        x, y = batch["x"], batch["y"]
        assert torch.equal(x[:, 0].long(), y), "the loop sliced labels and inputs with different indices"
        type(self).seen += len(y)
        return super().phase_losses(batch, phase, ctx)


def test_models_that_use_labels_get_each_batch_s_own_labels():
    y = torch.arange(64) % 7
    x = torch.cat([y[:, None].float(), torch.rand(64, 3)], dim=1)
    model = _LabelEcho(input_shape=4, latent_dim=2, hidden=(), loss="sse")
    fit(model, ArrayDataset(x, y), TrainConfig(epochs=2, batch_size=16, progress=False))
    assert _LabelEcho.seen == 128
    with pytest.raises(AekitError, match="trains on labels"):
        fit(model, ArrayDataset(x), TrainConfig(epochs=1, batch_size=16, progress=False))
