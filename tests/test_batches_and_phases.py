"""The reshaped core: batches of named fields with their own dtypes, per-phase optimiser options, and the
per-batch context one phase hands the next."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import aekit
from aekit.data.batch import Batch, Ragged
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.models.ae import DeepAutoEncoder
from aekit.train import TrainConfig, fit
from aekit.train.checkpoint import load_checkpoint
from aekit.train.phases import PhaseContext

QUIET = dict(progress=False)


# ---- batches -----------------------------------------------------------------------------------------
class TokenSpy(DeepAutoEncoder):
    """Trains on x and an int64 field ``token`` (a stand-in for token ids): checks every batch keeps its dtype
    and its alignment with x (token == x[:, 0] * 1000)."""

    requires_fields = ("x", "token")
    seen = 0

    def phase_losses(self, batch, phase, ctx):
        assert batch["token"].dtype == torch.int64, batch["token"].dtype
        assert torch.equal(batch["token"], (batch["x"][:, 0] * 1000).round().long())
        type(self).seen += batch.size
        return super().phase_losses(batch, phase, ctx)


def token_data(n=64) -> ArrayDataset:
    x = torch.rand(n, 6, generator=torch.Generator().manual_seed(0))
    return ArrayDataset(x, fields={"token": (x[:, 0] * 1000).round().long()})


def test_int64_field_keeps_its_dtype_through_the_loop():
    TokenSpy.seen = 0
    model = TokenSpy(input_shape=6, latent_dim=2, hidden=[8], loss="sse")
    fit(model, token_data(), TrainConfig(epochs=2, batch_size=16, precision="bf16-mixed", **QUIET), val_data=token_data())
    assert TokenSpy.seen == 2 * 64


def test_missing_field_is_one_line_naming_it():
    model = TokenSpy(input_shape=6, latent_dim=2, hidden=[8], loss="sse")
    with pytest.raises(AekitError, match="trains on field 'token'.*has only x"):
        fit(model, ArrayDataset(torch.rand(32, 6)), TrainConfig(epochs=1, batch_size=16, **QUIET))
    with pytest.raises(AekitError, match="do not align with x"):
        ArrayDataset(torch.rand(32, 6), fields={"token": torch.zeros(31, dtype=torch.long)})


@pytest.mark.slow
def test_int64_field_keeps_its_dtype_under_ddp(tmp_path):
    script = tmp_path / "ddp_tokens.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from aekit.train import TrainConfig, fit
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_batches_and_phases import TokenSpy, token_data

        model = TokenSpy(input_shape=6, latent_dim=2, hidden=[8], loss="sse")
        result = fit(model, token_data(), TrainConfig(epochs=1, batch_size=8, devices=2, strategy="ddp",
                                                      accelerator="cpu", progress=False))
        assert TokenSpy.seen == 32, TokenSpy.seen  # each of the two processes saw its half of the 64 items
        print("ok")
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("ok") == 2  # both processes checked every batch they saw


def test_ragged_field_pads_per_batch_and_keeps_lengths():
    items = [torch.arange(n, dtype=torch.int64) + 10 * n for n in (3, 1, 4, 2)]
    r = Ragged.from_items(items)
    b = Batch.take({"x": torch.zeros(4, 1), "tokens": r}, torch.tensor([3, 1]))
    assert b["tokens"].dtype == torch.int64 and b["tokens"].shape == (2, 2)  # the longest of this batch: 2
    assert b["tokens_lengths"].tolist() == [2, 1]
    assert b["tokens"].tolist() == [[20, 21], [10, 0]]  # padded with 0
    sub = r.subset(torch.tensor([2, 0]))
    assert [t.tolist() for t in (sub.values[:4], sub.values[4:])] == [items[2].tolist(), items[0].tolist()]
    data = ArrayDataset(torch.zeros(4, 1), fields={"tokens": r}).subset([0, 2])
    assert data.fields["tokens"].offsets.tolist() == [0, 3, 7]


# ---- phases ------------------------------------------------------------------------------------------
def test_per_phase_options_reach_the_optimisers(tmp_path):
    """The aae's critic with its own lr scale, betas, weight decay and 3 steps per batch: read back from the
    optimiser states the checkpoint keeps."""
    data = ArrayDataset(torch.rand(64, 6, generator=torch.Generator().manual_seed(0)))
    options = {"critic": {"lr_scale": 0.5, "betas": [0.5, 0.9], "weight_decay": 0.01, "steps": 3}}
    fit(aekit.build("aae", input_shape=6, latent_dim=2, hidden=[8]), data,
        TrainConfig(epochs=1, batch_size=16, lr=2e-3, phase_options=options, **QUIET), run_dir=tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.safetensors")
    groups = dict(zip(state["phases"], (o["param_groups"][0] for o in state["optimizers"])))
    assert groups["critic"]["lr"] == pytest.approx(1e-3) and groups["ae"]["lr"] == pytest.approx(2e-3)
    assert tuple(groups["critic"]["betas"]) == (0.5, 0.9) and tuple(groups["ae"]["betas"]) == (0.9, 0.999)
    assert groups["critic"]["weight_decay"] == 0.01 and groups["ae"]["weight_decay"] == 0.0
    steps = {ph: int(next(iter(o["state"].values()))["step"]) for ph, o in zip(state["phases"], state["optimizers"])}
    assert steps == {"critic": 3 * 4, "ae": 4}  # 4 batches


@pytest.mark.parametrize("options, message", [
    ({"genrator": {"lr_scale": 2}}, "has no phase 'genrator': its phases are critic, ae"),
    ({"critic": {"lr_scal": 2}}, "unknown option.*lr_scal.*for phase 'critic'"),
    ({"critic": {"steps": 0}}, "steps a whole number >= 1"),
    ({"critic": {"betas": [0.5]}}, "betas two numbers"),
])
def test_bad_phase_options_are_refused_before_training(tmp_path, options, message):
    with pytest.raises(AekitError, match=message):
        aekit.train("aae", ArrayDataset(torch.rand(32, 6)), latent_dim=2, hidden=[8], epochs=1, phase_options=options,
                    out=tmp_path / "run", **QUIET)
    assert not (tmp_path / "run").exists()


class ContextSpy(DeepAutoEncoder):
    """Two phases: ``ae`` stores its code in the context, ``check`` asserts it gets exactly that tensor."""

    phases = ("ae", "check")
    checked = 0

    def phase_parameters(self, phase):
        return self.split_parameters(self.decoder, inside=phase == "check")

    def phase_losses(self, batch, phase, ctx):
        out = self(batch)
        if phase == "ae":
            assert "z" not in ctx  # a fresh context for every batch
            ctx["z"] = out.z
            type(self).stored = out.z
            return out.losses
        got = ctx["z"]
        assert not got.requires_grad and type(self).stored.requires_grad  # detached on the way in
        assert got.data_ptr() == type(self).stored.data_ptr() and torch.equal(got, type(self).stored)  # not a copy
        type(self).checked += 1
        return {"recon": out.losses["recon"]}


def test_context_hands_the_next_phase_exactly_what_was_stored_detached():
    ContextSpy.checked = 0
    model = ContextSpy(input_shape=6, latent_dim=2, hidden=[8], loss="sse")
    fit(model, ArrayDataset(torch.rand(64, 6)), TrainConfig(epochs=2, batch_size=16, precision="bf16-mixed", **QUIET))
    assert ContextSpy.checked == 8


def test_context_detaches_what_is_stored():
    ctx = PhaseContext()
    t = torch.ones(3, requires_grad=True) * 2
    ctx["t"] = t
    assert not ctx["t"].requires_grad and "t" in ctx and ctx.get("u") is None


# ---- inference from several threads ------------------------------------------------------------------------
def test_inference_on_a_loaded_model_is_safe_from_many_threads(tmp_path):
    """A server encodes on many threads at once: inference never flips a loaded model's train/eval mode,
    so every thread gets what one thread alone gets."""
    from concurrent.futures import ThreadPoolExecutor

    data = ArrayDataset(torch.rand(256, 12, generator=torch.Generator().manual_seed(0)))
    aekit.train("vae", data, latent_dim=3, hidden=[16], norm="batch", epochs=1, out=tmp_path / "run", **QUIET)
    model = aekit.load(tmp_path / "run")
    alone = aekit.encode(model, data.x), aekit.reconstruct(model, data.x)
    model.train = lambda mode=True: (_ for _ in ()).throw(AssertionError("inference flipped the model's mode"))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: (aekit.encode(model, data.x, batch_size=64),
                                           aekit.reconstruct(model, data.x, batch_size=32)), range(16)))
    for codes, recon in results:
        assert torch.equal(codes, alone[0]) and torch.equal(recon, alone[1])


# ---- settings given again on resume --------------------------------------------------------------------------
def test_resume_applies_a_new_lr_and_says_so(tmp_path, capsys):
    """`--resume --lr X` trains on at X (it trained on at the checkpoint's lr while config.json said X)."""
    data = ArrayDataset(torch.rand(64, 6, generator=torch.Generator().manual_seed(0)))
    settings = dict(latent_dim=2, hidden=[8], batch_size=16, schedule="cosine", **QUIET)
    aekit.train("ae", data, out=tmp_path / "run", epochs=2, lr=1e-3, **settings)
    capsys.readouterr()
    aekit.train("ae", data, out=tmp_path / "run", resume=True, epochs=3, lr=5e-4, **settings)
    err = capsys.readouterr().err
    assert "peak lr 0.001 -> 0.0005" in err and "planned over 12 steps now (it was 8)" in err
    state = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert state["optimizers"][0]["param_groups"][0]["initial_lr"] == pytest.approx(5e-4)  # the peak of the plan


def test_more_epochs_at_a_constant_lr_plan_nothing_worth_saying(tmp_path, capsys):
    """Without a decay or a warm-up still to come, the total number of steps changes no lr: no note."""
    data = ArrayDataset(torch.rand(64, 6, generator=torch.Generator().manual_seed(0)))
    settings = dict(latent_dim=2, hidden=[8], batch_size=16, schedule="none", **QUIET)
    aekit.train("ae", data, out=tmp_path / "run", epochs=2, **settings)
    capsys.readouterr()
    aekit.train("ae", data, out=tmp_path / "run", resume=True, epochs=3, **settings)
    err = capsys.readouterr().err
    assert "planned over" not in err and "resume: epochs 2 -> 3" in err


def test_resume_with_the_same_settings_says_nothing(tmp_path, capsys):
    data = ArrayDataset(torch.rand(64, 6, generator=torch.Generator().manual_seed(0)))
    settings = dict(latent_dim=2, hidden=[8], batch_size=16, epochs=2, schedule="cosine", **QUIET)
    aekit.train("ae", data, out=tmp_path / "run", **settings)
    (tmp_path / "run" / "model.safetensors").unlink()
    capsys.readouterr()
    aekit.train("ae", data, out=tmp_path / "run", resume=True, **settings)
    assert "resume:" not in capsys.readouterr().err


def test_resume_says_every_training_setting_it_changes_and_refuses_another_optimizer(tmp_path, capsys):
    """Settings given again on resume apply and are said (never silently ignored); another optimiser cannot
    continue the checkpoint's moments and is refused in one line, with the run left as it was."""
    data = ArrayDataset(torch.rand(64, 6, generator=torch.Generator().manual_seed(0)))
    settings = dict(latent_dim=2, hidden=[8], **QUIET)
    aekit.train("ae", data, out=tmp_path / "run", epochs=2, batch_size=16, **settings)
    capsys.readouterr()
    aekit.train("ae", data, out=tmp_path / "run", resume=True, epochs=3, batch_size=32, grad_clip=1.0, **settings)
    err = capsys.readouterr().err
    for said in ("resume: batch_size 16 -> 32", "resume: grad_clip None -> 1.0", "resume: epochs 2 -> 3"):
        assert said in err, err
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(AekitError, match="adam optimiser state, which sgd cannot continue"):
        aekit.train("ae", data, out=tmp_path / "run", resume=True, epochs=4, batch_size=32, grad_clip=1.0,
                    optimizer="sgd", **settings)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before
