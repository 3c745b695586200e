"""Anomaly scores and flags (``aekit.apps.anomaly``) and ``aekit anomaly``.

Properties: an outlier injected into the digits ranks first for every score; ``flag`` by contamination
flags exactly ``round(fraction * N)`` items, the highest-scoring ones; the SSE score is the per-item
reconstruction error and the VAE's ELBO score averages to the loss the model itself reports; the CLI
writes exactly those scores, and every mistake is one line with exit status 2.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import aekit
from aekit import inference
from aekit.apps.anomaly import anomaly_scores, auroc, flag
from aekit.errors import AekitError
from aekit.eval import recon_sse
from aekit.data.batch import Batch
from test_cli import assert_user_error, cli

TINY = dict(hidden=[32], latent_dim=8, epochs=15, batch_size=64, lr=3e-3, progress=False, evaluate=False)


@pytest.fixture(scope="module")
def digits():
    return aekit.data.load("digits", "train"), aekit.data.load("digits", "test")


@pytest.fixture(scope="module")
def runs(digits):
    train, _ = digits
    settings = {"ae": TINY, "vae": TINY, "pca": dict(latent_dim=8, evaluate=False)}
    return {name: aekit.train(name, train, **s) for name, s in settings.items()}


@pytest.mark.parametrize("name, score", [("ae", "sse"), ("vae", "sse"), ("vae", "elbo"), ("pca", "sse")])
def test_injected_outlier_ranks_first(runs, digits, name, score):
    """A digit turned into its photographic negative (bright background) is the most anomalous test item."""
    _, test = digits
    x = test.x.clone()
    where = 123
    x[where] = 1.0 - x[where]
    scores = anomaly_scores(runs[name].model, x, score)
    assert scores.shape == (len(x),) and scores.dtype == np.float64
    assert int(np.argmax(scores)) == where
    is_outlier = np.zeros(len(x), bool)
    is_outlier[where] = True
    assert auroc(scores, is_outlier) == 1.0


def test_sse_score_is_the_per_item_reconstruction_error(runs, digits):
    _, test = digits
    model = runs["ae"].model
    scores = anomaly_scores(model, test.x, batch_size=50)  # batches must not change anything
    x_hat = inference.reconstruct(model, test.x)
    per_item = (test.x - x_hat).pow(2).flatten(1).sum(1).double().numpy()
    np.testing.assert_allclose(scores, per_item, rtol=1e-5)
    assert scores.mean() == pytest.approx(recon_sse(test.x, x_hat), rel=1e-5)


def test_elbo_score_averages_to_the_vae_loss(runs, digits):
    """Bernoulli VAE in eval mode (z = mu, beta 1): recon + kl of ``forward`` is the mean negative ELBO."""
    _, test = digits
    model = runs["vae"].model.eval()
    with torch.no_grad():
        losses = model(Batch(x=test.x)).losses
    scores = anomaly_scores(model, test.x, "elbo")
    assert scores.mean() == pytest.approx(float(losses["recon"] + losses["kl"]), rel=1e-4)


@pytest.mark.parametrize("n, fraction", [(100, 0.05), (360, 0.1), (7, 0.5), (1000, 0.013), (3, 0.1)])
def test_contamination_flags_exactly_that_many_of_the_highest(n, fraction):
    scores = np.random.default_rng(n).normal(size=n)
    flagged, threshold = flag(scores, contamination=fraction)
    k = round(fraction * n)
    assert flagged.dtype == bool and flagged.sum() == k
    if k:
        assert scores[flagged].min() == threshold > scores[~flagged].max()
    else:
        assert threshold == float("inf")


def test_contamination_ties_still_flag_exactly_k():
    flagged, threshold = flag(np.ones(10), contamination=0.3)
    assert flagged.sum() == 3 and list(np.flatnonzero(flagged)) == [0, 1, 2] and threshold == 1.0


def test_threshold_flags_every_score_at_or_above_it():
    scores = np.array([0.1, 2.0, 3.0, 2.0, -1.0])
    flagged, threshold = flag(scores, threshold=2.0)
    assert list(flagged) == [False, True, True, True, False] and threshold == 2.0
    assert flag(scores).flagged.sum() == round(0.05 * 5)  # neither: contamination 0.05


@pytest.mark.parametrize("kwargs, cause", [
    (dict(contamination=0.0), "(0, 0.5]"),
    (dict(contamination=0.6), "(0, 0.5]"),
    (dict(contamination=float("nan")), "(0, 0.5]"),
    (dict(contamination=0.1, threshold=1.0), "not both"),
    (dict(threshold=float("inf")), "finite"),
])
def test_flag_refuses(kwargs, cause):
    with pytest.raises(AekitError, match=cause.replace("(", r"\(").replace("]", r"\]")):
        flag(np.arange(10.0), **kwargs)


def test_auroc_needs_both_kinds():
    assert auroc([0.1, 0.9, 0.2], [False, True, False]) == 1.0
    assert auroc([0.9, 0.1, 0.2], [False, True, False]) == 0.0
    with pytest.raises(AekitError, match="both normal items and anomalies"):
        auroc([0.1, 0.2], [True, True])


def test_elbo_needs_a_posterior(runs, digits):
    with pytest.raises(AekitError, match="posterior"):
        anomaly_scores(runs["ae"].model, digits[1].x, "elbo")


# ---- the command -------------------------------------------------------------------------------------


def test_cli_writes_the_scores_and_flags(capsys, ae_run, digits, tmp_path):
    _, test = digits
    rc, out, err = cli(capsys, "anomaly", ae_run, "--out", tmp_path / "s.csv", "--top", tmp_path / "top.png",
                       "--contamination", "0.1", "--normal-class", "0,1,2,3,4", "--json")
    assert rc == 0, err
    summary = json.loads(out)
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    scores = np.array([float(r["score"]) for r in rows])
    expected = anomaly_scores(aekit.load(ae_run), test.x)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert [int(r["id"]) for r in rows] == list(range(len(test)))
    assert [int(r["label"]) for r in rows] == test.y.tolist()
    flagged = np.array([r["flagged"] == "1" for r in rows])
    assert flagged.sum() == summary["flagged"] == round(0.1 * len(test))
    assert b"\r" not in (tmp_path / "s.csv").read_bytes()  # Unix line endings, as every other file aekit writes
    assert summary["auroc"] == pytest.approx(auroc(expected, test.y.numpy() > 4))
    assert (tmp_path / "top.png").stat().st_size > 0


@pytest.mark.parametrize("extra, causes", [
    (["--contamination", "0"], ["(0, 0.5]"]),
    (["--contamination", "0.75"], ["(0, 0.5]"]),
    (["--contamination", "0.1", "--threshold", "2"], ["--threshold", "--contamination"]),
    (["--score", "elbo"], ["posterior"]),
    (["--normal-class", "ten"], ["ten", "not a class"]),
    (["--out", "scores.txt"], [".csv"]),
    (["--top", "top.jpg"], [".png"]),
    (["--data", "no/such/data.npy"], ["no/such/data.npy"]),
])
def test_cli_refuses_bad_input(capsys, ae_run, tmp_path, extra, causes):
    rc, _, err = cli(capsys, "anomaly", ae_run, *extra)
    assert_user_error(rc, err, *causes)
    assert not (tmp_path / "scores.txt").exists()


def test_cli_refuses_an_empty_dataset(capsys, ae_run, tmp_path):
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 1, 8, 8), np.float32))
    rc, _, err = cli(capsys, "anomaly", ae_run, "--data", empty)
    assert_user_error(rc, err, "empty")
