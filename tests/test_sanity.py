"""Issue 17, "sanity": a loss that cannot fit the data is refused (or chosen by the data), data without a test
split is evaluated out of sample, CSV labels are named, and the CLI's friction (a slow --help, no --threads,
megabytes of progress bars, split defaults that disagree) is gone. Each test failed on the code before its fix.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["--latent-dim", "2", "--set", "hidden=[8]", "--epochs", "1", "--quiet"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


# ---- aekit --help is fast: the parser is built without torch ------------------------------------------------
def test_help_builds_the_parser_without_importing_torch():
    """`aekit --help` took ~4.5 s because `import aekit` loaded torch, Lightning and scikit-learn; the package
    root and the command modules now load them on first use (PEP 562)."""
    code = ("import json, sys, time; t = time.perf_counter(); from aekit.cli import main; rc = main(['--help']); "
            "print(json.dumps([rc, [m for m in ('torch', 'lightning', 'sklearn', 'numpy') if m in sys.modules], "
            "time.perf_counter() - t]), file=sys.stderr)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_subprocess_env(),
                          timeout=120)
    rc, heavy, inside = json.loads(done.stderr.strip().splitlines()[-1])
    print(f"aekit --help: {time.perf_counter() - start:.2f} s in a fresh interpreter, {inside:.3f} s inside it")
    assert rc == 0 and "usage: aekit" in done.stdout
    assert heavy == []  # the parser needs none of them


def test_lazy_package_names_are_the_functions_even_after_their_submodules_load():
    """``aekit.train`` is the function although ``aekit/train/`` is a package (and ``aekit.data.lines`` the
    function, ``aekit/data/lines.py`` a module): loading a submodule must not rebind the public name."""
    import aekit.data.corrupt  # noqa: F401
    import aekit.data.lines  # noqa: F401
    import aekit.train.loop  # noqa: F401

    assert callable(aekit.train) and aekit.train.__module__ == "aekit.runs"
    assert callable(aekit.data.lines) and callable(aekit.data.corrupt) and callable(aekit.data.download)
    assert {"train", "load", "AutoEncoder", "data"} <= set(dir(aekit))
    with pytest.raises(AttributeError):
        aekit.no_such_name  # noqa: B018


# ---- a loss that cannot fit the data is refused; loss="auto" picks one by the data's range --------------------
def _raw_table(path: Path, low: float = -6.0, high: float = 5.0, n: int = 120, d: int = 6) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.uniform(low, high, (n, d)).astype(np.float32))
    return path


def test_bce_on_data_outside_unit_interval_is_refused_before_anything_is_written(tmp_path, capsys):
    """The issue's case: `train ae --scale raw` on data in [-6, 5] trained BCE to -1.2e14 and exited 0."""
    data = _raw_table(tmp_path / "my.npz")
    rc, _, err = cli(capsys, "train", "ae", "--data", data, "--scale", "raw", *TINY, "--set", "loss=bce",
                     "--out", tmp_path / "R")
    assert rc == 2 and err.count("\n") == 1 and err.startswith("aekit: error: loss 'bce'")
    assert "--set loss=sse" in err and "spans [-5." in err
    assert not (tmp_path / "R").exists()


def test_a_built_model_whose_loss_cannot_fit_the_data_is_refused():
    data = aekit.data.ArrayDataset(torch.linspace(-3, 3, 60).reshape(20, 3))
    model = aekit.build("ae", input_shape=[3], latent_dim=1, hidden=[4], loss="bce")
    with pytest.raises(aekit.AekitError, match="loss 'bce'.*--set loss=sse"):
        aekit.train(model, data, epochs=1, progress=False)


@pytest.mark.parametrize("low, high, expected", [(-6.0, 5.0, "sse"), (0.0, 1.0, "bce"), (0.0, 40.0, "sse")])
def test_auto_loss_follows_the_data_range_is_said_and_recorded(tmp_path, capsys, low, high, expected):
    data = _raw_table(tmp_path / "d.npz", low, high)
    rc, _, err = cli(capsys, "train", "ae", "--data", data, "--scale", "raw", *TINY, "--out", tmp_path / "R")
    assert rc == 0
    said = [line for line in err.splitlines() if line.startswith("aekit: loss auto:")]
    assert len(said) == 1 and f"auto: {expected} for data in" in said[0]
    run = aekit.load_run(tmp_path / "R")
    assert run.config["hparams"]["loss"] == expected == run.model.loss  # the saved run rebuilds the same model
    assert all(v >= 0 for k, v in run.metrics["final"].items() if k.endswith("recon"))  # a loss with a minimum


def test_the_default_loss_is_auto_where_a_model_has_one():
    from aekit.registry import MODELS, model_names
    from aekit.models.base import constructor_parameters

    defaults = {n: constructor_parameters(MODELS[n]).get("loss") for n in model_names()}
    assert defaults["ae"].default == defaults["vae"].default == defaults["conv_ae"].default == "auto"


# ---- data without a test split is evaluated on held-out items ------------------------------------------------
def _labelled_table(path: Path, n: int = 100) -> Path:
    rng = np.random.default_rng(1)
    np.savez(path, x=rng.random((n, 5)).astype(np.float32), y=rng.integers(0, 3, n))
    return path


def test_a_file_without_test_split_is_cut_into_disjoint_seeded_parts():
    from aekit.data.source import DataSource

    with pytest.MonkeyPatch.context() as mp, __import__("tempfile").TemporaryDirectory() as tmp:
        mp.chdir(tmp)
        source = DataSource(data=str(_labelled_table(Path(tmp) / "d.npz")))
        train, test = source.load("train"), source.load("test")
        everything = DataSource(data=source.data, holdout=0).load("test")
    assert (len(train), len(test)) == (80, 20)
    rows = {tuple(r) for r in train.x.tolist()}
    assert not rows & {tuple(r) for r in test.x.tolist()}  # no held-out item is trained on
    assert rows | {tuple(r) for r in test.x.tolist()} == {tuple(r) for r in everything.x.tolist()}
    assert test.extra["holdout"] == {"fraction": 0.2, "seed": 0, "held_out": 20, "of": 100}
    assert source.to_dict()["holdout"] == 0.2  # recorded as used: a later default cannot change a run's parts


def test_a_source_recorded_before_held_out_splits_keeps_every_item():
    from aekit.data.source import DataSource

    assert DataSource.from_dict({"data": "x.npy"}).holdout_fraction == 0.0
    assert DataSource.from_dict({"data": "x.npy", "holdout": 0.3}).holdout_fraction == 0.3


def test_evaluate_prints_out_of_sample_numbers_unless_asked_and_says_which(tmp_path, capsys):
    data = _labelled_table(tmp_path / "d.npz")
    rc, _, err = cli(capsys, "train", "ae", "--data", data, *TINY, "--out", tmp_path / "R", "--json")
    assert rc == 0 and "20 of its 100 items (fraction 0.2, seed 0) are held out" in err
    config = aekit.load_run(tmp_path / "R").config
    assert config["data"]["n"] == 80 and config["data"]["source"]["holdout"] == 0.2

    rc, out, err = cli(capsys, "evaluate", tmp_path / "R", "--json")
    held_out = __import__("json").loads(out)
    assert rc == 0 and "held out for evaluation" in err
    model = aekit.load(tmp_path / "R")
    from aekit.data.source import DataSource
    from aekit.eval import recon_sse

    test = DataSource.from_dict(config["data"]["source"]).load("test")
    assert held_out["recon_sse"] == pytest.approx(recon_sse(test.x, aekit.reconstruct(model, test.x)), rel=1e-5)

    rc, out, err = cli(capsys, "evaluate", tmp_path / "R", "--holdout", "0", "--json")
    assert rc == 0 and "in-sample" in err and "100 training items" in err


# ---- CSV labels --------------------------------------------------------------------------------------------
def _csv(path: Path, header: str = "a,b,label,c") -> Path:
    rng = np.random.default_rng(2)
    rows = [f"{r[0]:.4f},{r[1]:.4f},{int(r[2] * 3)},{r[3]:.4f}" for r in rng.random((40, 4))]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_csv_column_named_label_is_read_as_the_labels_and_said(capsys, tmp_path):
    from aekit.data.source import DataSource

    data = DataSource(data=str(_csv(tmp_path / "t.csv")), holdout=0).load("train")
    assert data.item_shape == (3,) and data.y is not None and int(data.y.max()) <= 2
    assert "column 'label' holds the labels" in capsys.readouterr().err
    everything = DataSource(data=str(tmp_path / "t.csv"), holdout=0, label_column="none", scale="raw").load("train")
    assert everything.item_shape == (4,) and everything.y is None
    named = DataSource(data=str(_csv(tmp_path / "u.csv", "a,b,kind,c")), holdout=0, label_column="kind").load("train")
    assert named.item_shape == (3,) and torch.equal(named.y, data.y)


def test_label_column_is_a_cli_option_recorded_with_the_run(tmp_path, capsys):
    data = _csv(tmp_path / "u.csv", "a,b,kind,c")
    rc, _, err = cli(capsys, "train", "ae", "--data", data, "--label-column", "kind", *TINY, "--out", tmp_path / "R")
    assert rc == 0
    config = aekit.load_run(tmp_path / "R").config
    assert config["data"]["source"]["label_column"] == "kind" and config["data"]["item_shape"] == [3]
    assert config["data"]["labelled"] is True


# ---- --threads, and progress bars only on a terminal ---------------------------------------------------------
def test_threads_sets_torchs_threads_and_is_not_recorded(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        rc, _, _ = cli(capsys, "--threads", "2", "train", "ae", "--data", "digits", "--limit", "50", *TINY,
                       "--out", tmp_path / "R")
        assert rc == 0 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert "threads" not in (tmp_path / "R" / "config.json").read_text()  # speed only: results do not depend on it
    for bad in ("0", "-1", "two"):
        rc, _, err = cli(capsys, "--threads", bad, "models")
        assert rc == 2 and "--threads" in err and "at least 1" in err


def test_no_progress_bars_when_stderr_is_not_a_terminal(tmp_path, capsys, ae_run):
    """`finetune` wrote 228 KB of bars into a log file; every bar (one loop draws them all) now needs a TTY."""
    rc, _, err = cli(capsys, "finetune", ae_run, "--labels", "50", "--epochs", "30", "--batch-size", "8")
    assert rc == 0
    assert "\r" not in err and "it/s" not in err and len(err) < 1000, err[:300]
    rc, _, err = cli(capsys, "train", "ae", "--data", "digits", "--limit", "50", *TINY[:-1], "--out", tmp_path / "R")
    assert rc == 0 and "\r" not in err and "it/s" not in err


def test_every_split_option_has_the_same_default():
    """`index` defaulted to the train split while `embed` (and the others) took test."""
    from aekit.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    defaults = {name: action.default for name, p in commands.items() for action in p._actions
                if "--split" in action.option_strings}
    assert {"embed", "reconstruct", "index", "anomaly"} <= set(defaults)
    assert set(defaults.values()) == {"test"}, defaults


def test_pretrain_chooses_the_loss_by_the_data_too(tmp_path, capsys):
    """Greedy pretraining built its deep AE before any data check: loss auto meant bce on any data."""
    data = _raw_table(tmp_path / "d.npz", -3.0, 3.0)
    rc, _, err = cli(capsys, "pretrain", "--data", data, "--scale", "raw", "--widths", "8,2", "--layer-epochs", "1",
                     "--epochs", "1", "--quiet", "--out", tmp_path / "R")
    assert rc == 0, err
    assert aekit.load_run(tmp_path / "R").config["hparams"]["loss"] == "sse"
