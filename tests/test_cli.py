"""The ``aekit`` command, run in-process through ``aekit.cli.main`` (a subprocess only where the process matters).

The product rule checked for every mistake: exit status 2, ONE line on stderr starting ``aekit: error:``
that names the cause, no traceback, and no half-written run directory (``--out`` does not exist afterwards
when it did not before, and an existing directory is byte-for-byte unchanged). The positive tests check
properties: the numbers ``train`` prints are the numbers ``evaluate`` gets for the same model and data,
``embed`` writes exactly ``aekit.encode`` of the data, ``--resume`` continues a run, and so on.
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from errcase import error_line, snapshot  # the catalogue's rule and folder snapshot, shared

AEKIT = Path(sys.executable).with_name("aekit")
# Tiny and quick: a 16-unit hidden layer, 4-dim code, 200 examples of each split, 2 epochs.
TINY = ["--limit", "200", "--latent-dim", "4", "--set", "hidden=[16]", "--epochs", "2", "--quiet"]


# ---- helpers ---------------------------------------------------------------------------------------
def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_user_error(rc: int, err: str, *causes: str) -> str:
    """Exit 2 with one non-empty ``aekit: error:`` line that mentions every cause (case-insensitive)."""
    line = "aekit: error: " + error_line(rc, err)
    assert len(line.strip()) > len("aekit: error: ") + 10, line
    for cause in causes:
        assert cause.lower() in line.lower(), f"{cause!r} not in {line!r}"
    return line


def train_args(out: Path, model: str = "ae", data: str = "digits", *extra) -> list[str]:
    return ["train", model, "--data", data, *TINY, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """An ae trained on 200 digits by the CLI; tests copy it before damaging anything."""
    out = tmp_path_factory.mktemp("runs") / "digits-ae"
    assert main(train_args(out)) == 0
    return out


@pytest.fixture
def run_copy(digits_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(digits_run, dst)
    return dst


@pytest.fixture
def fake_mnist(tmp_path) -> Path:
    """A data root holding a 20-image ``mnist/`` in the layout `aekit download` writes."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        aekit.data.write_idx(root / "mnist" / f"{split}-images-idx3-ubyte",
                             rng.integers(0, 256, (20, 28, 28), dtype=np.uint8))
        aekit.data.write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte",
                             rng.integers(0, 10, 20, dtype=np.uint8))
    return root


# ---- bad inputs: one line, exit 2, nothing half-written ------------------------------------------------
def test_fake_mnist_trains(capsys, fake_mnist, tmp_path):
    """The fixture's files are valid, so the damaged variants below fail for the damage alone."""
    rc, out, err = cli(capsys, "train", "ae", "--data", "mnist", "--data-dir", fake_mnist, "--set", "hidden=[16]",
                       "--epochs", "1", "--quiet", "--out", tmp_path / "R")
    assert rc == 0, err
    assert aekit.load(tmp_path / "R").input_shape == (1, 28, 28)


@pytest.mark.parametrize("damage, cause", [
    ("truncate", "truncated"),
    ("truncate-gz", "truncated"),
    ("swapped-magic", "magic 2049"),
    ("foreign-magic", "not an IDX file"),
])
def test_damaged_idx(capsys, fake_mnist, tmp_path, damage, cause):
    path = fake_mnist / "mnist" / "train-images-idx3-ubyte"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:1000])
    elif damage == "truncate-gz":
        path.unlink()
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data)[:500])
    elif damage == "swapped-magic":  # a labels header on an images file
        path.write_bytes((2049).to_bytes(4, "big") + data[4:])
    else:
        path.write_bytes(b"\x12\x34\x08\x03" + data[4:])
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "mnist", "--data-dir", fake_mnist, "--out", out)
    line = assert_user_error(rc, err, cause, "train-images-idx3-ubyte")
    assert "download" in line or "swapped" in line  # says how to fix it
    assert not out.exists()


def test_cifar_garbage(capsys, tmp_path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "data_batch_1").write_bytes(np.random.default_rng(0).bytes(3000))
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "cifar10", "--data-dir", tmp_path, "--out", out)
    assert_user_error(rc, err, "data_batch_1", "pickle")
    assert not out.exists()


class _RunsCode:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_pickle_that_runs_code_is_refused(capsys, tmp_path, protocol):
    marker = tmp_path / "pwned"
    (tmp_path / "cifar10").mkdir()
    payload = {"data": _RunsCode(f"touch {marker}"), "labels": [0]}
    (tmp_path / "cifar10" / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=protocol))
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "cifar10", "--data-dir", tmp_path, "--out", out)
    assert_user_error(rc, err, "refusing", "system")
    assert not marker.exists(), "the pickle's os.system ran"
    assert not out.exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_npy(capsys, tmp_path, bad):
    x = np.random.default_rng(0).random((30, 5)).astype(np.float32)
    x[3, 2] = bad
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", tmp_path / "x.npy", "--out", out)
    assert_user_error(rc, err, "NaN/Inf", "x.npy")
    assert not out.exists()


def test_evaluate_on_data_of_another_width(capsys, run_copy, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 7)).astype(np.float32))
    before = snapshot(run_copy)
    rc, _, err = cli(capsys, "evaluate", run_copy, "--data", tmp_path / "x.npy")
    assert_user_error(rc, err, "(7,)", "(1, 8, 8)")
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("command", ["embed", "reconstruct"])
def test_use_on_data_of_another_width(capsys, run_copy, tmp_path, command):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 7)).astype(np.float32))
    target = tmp_path / ("z.npz" if command == "embed" else "r.npy")
    rc, _, err = cli(capsys, command, run_copy, "--data", tmp_path / "x.npy", "--out", target)
    assert_user_error(rc, err, "(7,)")
    assert not target.exists()


def test_conv_ae_on_flat_data(capsys, tmp_path):
    np.save(tmp_path / "flat.npy", np.random.default_rng(0).random((30, 7)).astype(np.float32))
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "conv_ae", "--data", tmp_path / "flat.npy", "--out", out)
    assert_user_error(rc, err, "conv_ae", "images")
    assert not out.exists()


def test_unknown_model(capsys, tmp_path):
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "nosuchmodel", "--data", "digits", "--out", out)
    line = assert_user_error(rc, err, "unknown model", "nosuchmodel")
    assert "aekit models" in line and "conv_ae" in line
    assert not out.exists()


def test_unknown_dataset(capsys, tmp_path):
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "nosuchdata", "--out", out)
    assert_user_error(rc, err, "unknown dataset", "nosuchdata", "mnist")
    assert not out.exists()


def test_corrupt_weights(capsys, run_copy):
    (run_copy / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(500))
    before = snapshot(run_copy)
    rc, _, err = cli(capsys, "evaluate", run_copy)
    assert_user_error(rc, err, "model.safetensors", "damaged")
    assert snapshot(run_copy) == before


def test_weights_of_another_run(capsys, run_copy, tmp_path):
    other = tmp_path / "other"
    assert main(["train", "ae", "--data", "digits", "--limit", "50", "--latent-dim", "3", "--set", "hidden=[8]",
                 "--epochs", "1", "--quiet", "--out", str(other)]) == 0
    capsys.readouterr()
    shutil.copy(other / "model.safetensors", run_copy / "model.safetensors")
    before = snapshot(run_copy)
    rc, _, err = cli(capsys, "evaluate", run_copy)
    assert_user_error(rc, err, "model.safetensors", "does not match")
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("target", ["model.safetensors", "checkpoint.safetensors"])
def test_weights_that_are_a_pickle_never_run(capsys, run_copy, tmp_path, target):
    """Loading a model or resuming a run reads safetensors + JSON only: a pickle there is damage, not code."""
    marker = tmp_path / "pwned"
    (run_copy / target).write_bytes(pickle.dumps({"w": _RunsCode(f"touch {marker}")}))
    before = snapshot(run_copy)
    argv = ["evaluate", run_copy] if target == "model.safetensors" else ["train", "--resume", "--out", run_copy,
                                                                          "--epochs", "3", "--quiet"]
    rc, _, err = cli(capsys, *argv)
    assert_user_error(rc, err, target, "damaged")
    assert not marker.exists()
    assert snapshot(run_copy) == before


def test_npy_of_objects_never_runs(capsys, tmp_path):
    marker = tmp_path / "pwned"
    np.save(tmp_path / "x.npy", np.array([_RunsCode(f"touch {marker}")] * 3, dtype=object), allow_pickle=True)
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", tmp_path / "x.npy", "--out", out)
    assert_user_error(rc, err, "x.npy")
    assert not marker.exists() and not out.exists()


def test_resume_with_other_settings(capsys, run_copy):
    before = snapshot(run_copy)
    rc, _, err = cli(capsys, "train", "--resume", "--out", run_copy, "--set", "hidden=[32]", "--epochs", "3")
    assert_user_error(rc, err, "--resume", "other settings")
    assert snapshot(run_copy) == before


def test_unknown_set_key(capsys, tmp_path):
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--set", "bogus=1", "--out", out)
    assert_user_error(rc, err, "unknown setting 'bogus'", "hidden", "epochs")
    assert not out.exists()


@pytest.mark.parametrize("assignment, cause", [
    ("epochs=abc", "epochs"),
    ("epochs=1.5", "epochs"),
    ("lr=abc", "lr"),
    ("betas=abc", "betas"),
    ("seed=abc", "seed"),
    ("eval_every=abc", "eval_every"),
    ("steps_per_epoch=abc", "steps_per_epoch"),
    ("weight_decay=abc", "weight_decay"),
    ("progress=abc", "progress"),
    ("accelerator=abacus", "accelerator"),
    ("strategy=abacus", "strategy"),
    ("hidden=abc", "hidden"),
])
def test_bad_set_value(capsys, tmp_path, assignment, cause):
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--limit", "20", "--epochs", "1",
                     "--set", assignment, "--out", out)  # no --quiet: it would override progress=
    assert_user_error(rc, err, cause, assignment.split("=")[1])
    assert not out.exists()


def test_empty_dataset(capsys, tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 5), np.float32))
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", tmp_path / "empty.npy", "--out", out)
    assert_user_error(rc, err, "empty", "empty.npy")
    assert not out.exists()


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_out_holding_a_run_is_refused(capsys, run_copy, command):
    before = snapshot(run_copy)
    args = (train_args(run_copy) if command == "train" else
            ["pretrain", "--data", "digits", "--limit", "50", "--widths", "8,4", "--layer-epochs", "1",
             "--epochs", "1", "--quiet", "--out", str(run_copy)])
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "already holds a run", "--resume")
    assert snapshot(run_copy) == before


def test_resume_with_nothing_to_resume(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = cli(capsys, "train", "--resume", "--out", empty, "--epochs", "2")
    assert_user_error(rc, err, "nothing to resume", str(empty))
    assert snapshot(empty) == {}
    missing = tmp_path / "missing"
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--resume", "--out", missing)
    assert_user_error(rc, err, "nothing to resume")
    assert not missing.exists()


@pytest.mark.parametrize("existing", [False, True])
def test_diverging_run_leaves_nothing(capsys, tmp_path, existing):
    """A loss that turns NaN in the first epoch is a mistake (lr far too high): no run, a hint to lower lr,
    and a folder that existed before (with the user's files) is left as it was."""
    out = tmp_path / "R"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--limit", "20", "--epochs", "1", "--lr", "1e30",
                     "--quiet", "--out", out)
    assert_user_error(rc, err, "diverged", "lr")
    assert snapshot(out) == before


def test_batch_norm_with_one_example_per_batch(capsys, tmp_path):
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--limit", "20", "--set", "norm=batch",
                     "--batch-size", "1", "--out", out)
    assert_user_error(rc, err, "batch", "batch_size")
    assert not out.exists()


@pytest.mark.parametrize("widths", ["abc", "8,x", "0", ""])
def test_pretrain_bad_widths(capsys, tmp_path, widths):
    out = tmp_path / "P"
    rc, _, err = cli(capsys, "pretrain", "--data", "digits", "--limit", "20", "--widths", widths, "--out", out)
    assert_user_error(rc, err, "--widths", repr(widths))
    assert not out.exists()


def test_reconstruct_bad_suffix(capsys, digits_run, tmp_path):
    rc, _, err = cli(capsys, "reconstruct", digits_run, "--out", tmp_path / "r.txt")
    assert_user_error(rc, err, ".png", ".npy", "r.txt")
    assert not (tmp_path / "r.txt").exists()


def test_out_under_a_file(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    rc, _, err = cli(capsys, *train_args(tmp_path / "afile" / "R"))
    assert_user_error(rc, err, "afile")
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--out", tmp_path / "afile")
    assert_user_error(rc, err, "afile")
    assert (tmp_path / "afile").read_text() == "x"


def test_embed_out_under_a_file(capsys, digits_run, tmp_path):
    (tmp_path / "afile").write_text("x")
    rc, _, err = cli(capsys, "embed", digits_run, "--out", tmp_path / "afile" / "z.npz")
    assert_user_error(rc, err, "afile")


@pytest.mark.parametrize("argv, cause", [
    (["train", "ae", "--data", "digits"], "--out"),
    (["train", "ae", "--data", "digits", "--epochs", "abc", "--out", "R"], "--epochs"),
    (["nosuchcommand"], "nosuchcommand"),
    ([], "command"),
])
def test_argument_errors_are_one_line(capsys, argv, cause):
    rc, _, err = cli(capsys, *argv)
    line = assert_user_error(rc, err, cause)
    assert "--help" in line


def test_help_exits_zero(capsys):
    rc, out, _ = cli(capsys, "train", "--help")
    assert rc == 0 and "--resume" in out


def test_console_script_error(tmp_path):
    """The installed ``aekit`` command: the same one line and exit status in a real process."""
    out = tmp_path / "R"
    proc = subprocess.run([str(AEKIT), "train", "nosuchmodel", "--data", "digits", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert_user_error(proc.returncode, proc.stderr, "unknown model")
    assert not out.exists()


# ---- what the commands do ------------------------------------------------------------------------------
def test_models_lists_the_registry(capsys):
    rc, out, _ = cli(capsys, "models")
    assert rc == 0
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"pca", "ae", "denoising", "dropout", "sparse", "contractive", "conv_ae"} <= names
    assert names == set(aekit.model_names())


def test_datasets_lists_the_names(capsys):
    rc, out, _ = cli(capsys, "datasets")
    assert rc == 0
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert names == {"mnist", "fashion-mnist", "cifar10", "digits", "lines", "20newsgroups"}


@pytest.mark.parametrize("name", ["digits", "lines"])
def test_download_of_builtin_data(capsys, tmp_path, name):
    rc, out, err = cli(capsys, "download", name, "--data-dir", tmp_path)
    assert rc == 0
    assert "no download" in (out + err).lower()
    assert list(tmp_path.iterdir()) == []


def test_train_json_matches_evaluate(capsys, tmp_path):
    out = tmp_path / "R"
    rc, stdout, err = cli(capsys, *train_args(out), "--json")
    assert rc == 0, err
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    trained = json.loads(lines[0])
    for key in ("recon_sse", "recon_mse", "probe_accuracy", "cluster_accuracy", "cluster_nmi"):
        assert isinstance(trained[key], float), key
    assert 0.0 <= trained["probe_accuracy"] <= 1.0 and 0.0 <= trained["cluster_nmi"] <= 1.0
    assert trained["epochs"] == 2

    rc, stdout, err = cli(capsys, "evaluate", out, "--json")  # the data flags come from the run
    assert rc == 0, err
    evaluated = json.loads(stdout)
    assert evaluated["recon_sse"] == pytest.approx(trained["recon_sse"], rel=1e-6)
    assert evaluated["probe_accuracy"] == pytest.approx(trained["probe_accuracy"])
    assert json.loads((out / "metrics.json").read_text())["recon_sse"] == pytest.approx(trained["recon_sse"])


def test_run_files_are_readable_by_others(digits_run):
    """Atomic writes go through mkstemp (0600); a run is meant to be shared like any other file."""
    for name in ("config.json", "model.safetensors", "metrics.json", "checkpoint.safetensors"):
        assert (digits_run / name).stat().st_mode & 0o777 == 0o644, name


def test_embed_writes_the_codes(capsys, digits_run, tmp_path):
    target = tmp_path / "codes.npz"
    rc, _, err = cli(capsys, "embed", digits_run, "--out", target)
    assert rc == 0, err
    test = aekit.data.load("digits", split="test", limit=200)
    expected = aekit.encode(aekit.load(digits_run), test.x).numpy()
    with np.load(target) as z:
        assert z["z"].shape == (200, 4)
        np.testing.assert_allclose(z["z"], expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(z["y"], test.y.numpy())


def test_reconstruct_writes_png_and_npy(capsys, digits_run, tmp_path):
    rc, _, err = cli(capsys, "reconstruct", digits_run, "--out", tmp_path / "r.png", "--n", "8")
    assert rc == 0, err
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc, _, err = cli(capsys, "reconstruct", digits_run, "--out", tmp_path / "r.npy")
    assert rc == 0, err
    test = aekit.data.load("digits", split="test", limit=200)
    expected = aekit.reconstruct(aekit.load(digits_run), test.x).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), expected, rtol=1e-6, atol=1e-6)


def test_resume_continues_to_more_epochs(capsys, tmp_path):
    out = tmp_path / "R"
    assert cli(capsys, *train_args(out))[0] == 0
    rc, _, err = cli(capsys, "train", "--resume", "--out", out, "--epochs", "4", "--quiet")
    assert rc == 0, err
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 4
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 4
    aekit.load(out)


def test_resume_to_fewer_epochs_than_trained_is_refused(capsys, tmp_path):
    """A run of 2 epochs 'resumed' to 1 would be reported as a 1-epoch model: one line, the run untouched."""
    out = tmp_path / "R"
    assert cli(capsys, *train_args(out))[0] == 0
    before = snapshot(out)
    rc, _, err = cli(capsys, "train", "--resume", "--out", out, "--epochs", "1", "--quiet")
    assert_user_error(rc, err, "trained 2 epochs", "epochs >= 2")
    assert snapshot(out) == before


def test_resume_matches_one_long_run(capsys, tmp_path):
    """2 epochs then --resume to 4 gives the weights of 4 epochs in one go (the loop's promise, via the CLI)."""
    long, split = tmp_path / "long", tmp_path / "split"
    assert cli(capsys, *train_args(long), "--epochs", "4")[0] == 0
    assert cli(capsys, *train_args(split))[0] == 0
    assert cli(capsys, "train", "--resume", "--out", split, "--epochs", "4", "--quiet")[0] == 0
    a, b = aekit.load(long).state_dict(), aekit.load(split).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_file_sections(capsys, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("model:\n  hidden: [12]\n  latent_dim: 3\n  activation: tanh\n"
                      "train:\n  epochs: 3\n  lr: 0.005\n  batch_size: 32\n")
    out = tmp_path / "R"
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--limit", "100", "--config", config,
                     "--epochs", "1", "--quiet", "--out", out)  # a flag beats the file
    assert rc == 0, err
    saved = json.loads((out / "config.json").read_text())
    assert saved["hparams"]["hidden"] == [12] and saved["hparams"]["latent_dim"] == 3
    assert saved["hparams"]["activation"] == "tanh"
    assert saved["train"]["lr"] == 0.005 and saved["train"]["batch_size"] == 32
    assert saved["train"]["epochs"] == 1
    assert aekit.load(out).code_shape == (3,)


def test_pretrain_makes_a_loadable_run(capsys, tmp_path):
    out = tmp_path / "P"
    rc, stdout, err = cli(capsys, "pretrain", "--data", "digits", "--limit", "200", "--widths", "32,8",
                          "--layer-epochs", "1", "--epochs", "1", "--out", out, "--quiet")
    assert rc == 0, err
    model = aekit.load(out)
    assert model.hparams["hidden"] == [32] and model.hparams["latent_dim"] == 8
    test = aekit.data.load("digits", split="test", limit=10)
    assert aekit.encode(model, test.x).shape == (10, 8)
    assert "pretrain_seconds" in json.loads((out / "metrics.json").read_text())
    rc, _, err = cli(capsys, "evaluate", out, "--json")
    assert rc == 0, err


@pytest.mark.slow
def test_demo_quick(capsys, tmp_path):
    out = tmp_path / "D"
    rc, stdout, err = cli(capsys, "demo", "--quick", "--out", out)
    assert rc == 0, err
    table = stdout.split("Digits test set")[1].split("\n\n")[0]
    rows = {line.split()[0] for line in table.splitlines()[3:] if line.strip()}
    assert rows == {"pca", "ae", "denoising", "sparse", "contractive", "conv_ae"}
    pictures = out / "pictures"
    assert str(pictures.resolve()) in stdout
    announced = {"digits-2d-map.png"} | {f"digits-{m}-reconstructions.png" for m in rows} | {
        f"lines-{m}-reconstructions.png" for m in ("pca", "ae")}
    for name in announced:
        assert (pictures / name).read_bytes()[:4] == b"\x89PNG", name
    for run in (out / "runs").iterdir():
        aekit.load(run)


@pytest.mark.slow
def test_ddp_train_reports_once(tmp_path):
    """Under DDP the other process re-runs the command: only the first one writes and prints."""
    out = tmp_path / "R"
    proc = subprocess.run([str(AEKIT), *train_args(out), "--devices", "2", "--strategy", "ddp", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    assert "recon_sse" in json.loads(lines[0])
    assert "recon_sse" in json.loads((out / "metrics.json").read_text())
    with open(out / "log.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
    aekit.load(out)


def test_set_reads_lists_and_mappings():
    from aekit.errors import AekitError
    from aekit.settings import parse_assignments

    got = parse_assignments(["hidden=[64,32]", "widths=8,4", "backbone_options={depth: 16, scales: 4}",
                             'opts={"a": 1}', "lr=1e-3", "norm=none", "tied=true"])
    assert got == {"hidden": [64, 32], "widths": [8, 4], "backbone_options": {"depth": 16, "scales": 4},
                   "opts": {"a": 1}, "lr": 1e-3, "norm": None, "tied": True}
    with pytest.raises(AekitError, match="mapping"):
        parse_assignments(["backbone_options={depth: [}"])


@pytest.mark.parametrize("n, rows", [(4, 2), (30, 6)])
def test_reconstruct_draws_the_pairs_asked_for(capsys, digits_run, tmp_path, n, rows):
    """--n pairs in the picture: rows of up to 10 originals, each above its reconstructions (it drew 10 for any n)."""
    from PIL import Image

    rc, _, err = cli(capsys, "reconstruct", digits_run, "--out", tmp_path / "r.png", "--n", str(n))
    assert rc == 0, err
    width, height = Image.open(tmp_path / "r.png").size
    columns = min(n, 10)
    assert (width, height) == (2 + columns * (8 + 2), 2 + rows * (8 + 2))  # 8x8 digits, 2 pixels of padding


def test_version_flag_prints_the_version(capsys):
    from aekit.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aekit {aekit.__version__}"


def test_models_lists_one_short_line_each_with_its_capabilities(capsys):
    rc, out, _ = cli(capsys, "models")
    lines = [line for line in out.splitlines() if line.strip()]
    assert rc == 0 and len(lines) == len(aekit.model_names())
    assert all(len(line) <= 120 for line in lines), max(lines, key=len)
    by_name = {line.split()[0]: line for line in lines}
    assert "decode" in by_name["ae"] and "sample" in by_name["vae"]
    assert "trainable_encoder" in by_name["infomax"] and "decode" not in by_name["infomax"].split("  ")[1]
