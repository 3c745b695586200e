"""``aekit finetune``: a classifier from a pretrained encoder and a few labels (``aekit.apps.finetune``)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aekit
from aekit import losses
from aekit.apps.finetune import (accuracy, build_classifier, code_encoder, draw_labelled, finetune, load_classifier,
                                 predict_logits)
from aekit.cli import main
from aekit.data import load
from aekit.errors import AekitError
from aekit.registry import MODELS, build, model_names
from aekit.train import TrainConfig
from aekit.train.pretrain import init_autoencoder, pretrain_stack
from aekit.data.batch import Batch
from test_cli import assert_user_error, cli

DISCRETE = {"binary", "onehot", "vqvae"}  # codes without a gradient: refused
QUICK = dict(epochs=3, batch_size=32, lr=1e-3, progress=False)


@pytest.fixture(scope="module")
def digits():
    return load("digits", split="train"), load("digits", split="test")


@pytest.fixture(scope="module")
def small_ae(digits):
    torch.manual_seed(0)
    return aekit.train("ae", digits[0], hidden=[16], latent_dim=8, norm="batch", epochs=2, progress=False,
                       evaluate=False).model


# ---- the labelled draw -------------------------------------------------------------------------------
def test_draw_is_class_balanced_seeded_and_without_repeats():
    y = torch.arange(10).repeat(60)[torch.randperm(600, generator=torch.Generator().manual_seed(0))]
    idx = draw_labelled(y, 100, seed=3)
    assert len(set(idx.tolist())) == 100
    assert torch.bincount(y[idx], minlength=10).tolist() == [10] * 10
    assert torch.equal(draw_labelled(y, 100, seed=3), idx)
    assert not torch.equal(draw_labelled(y, 100, seed=4), idx)
    counts = torch.bincount(y[draw_labelled(y, 105, seed=0)], minlength=10)
    assert counts.sum() == 105 and set(counts.tolist()) == {10, 11}  # the 5 left over go one per class
    assert torch.equal(draw_labelled(y, "all"), torch.arange(600))


@pytest.mark.parametrize("n, cause", [(5, "fewer than the 10 classes"), (601, "more than the 600"),
                                      ("most", "'all'")])
def test_draw_refuses_impossible_counts(n, cause):
    with pytest.raises(AekitError, match=cause):
        draw_labelled(torch.arange(10).repeat(60), n)


# ---- the encoder and the classifier ------------------------------------------------------------------
@pytest.mark.parametrize("name", model_names())
def test_code_encoder_computes_the_models_codes(name):
    torch.manual_seed(0)
    model = build(name, input_shape=[1, 8, 8], latent_dim=4)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    if MODELS[name].closed_form:
        model.fit_closed_form(x)
    model.eval()
    if name in DISCRETE:
        with pytest.raises(AekitError, match="discrete"):
            code_encoder(model)
        return
    encoder = code_encoder(model).eval()
    with torch.no_grad():
        torch.testing.assert_close(encoder(x).reshape(16, -1), model.encode(x).reshape(16, -1))


def test_frozen_encoder_keeps_its_weights_and_statistics(digits, small_ae):
    train, test = digits
    before = {k: v.clone() for k, v in code_encoder(small_ae).state_dict().items()}
    run = finetune(small_ae, train, test, labels=100, freeze=True, **QUICK)
    after = run.model.encoder.state_dict()
    assert any("running_mean" in k for k in after)  # batch norm's statistics are checked too
    assert all(torch.equal(before[k], after[k]) for k in before)
    fresh = build_classifier(small_ae, 10, freeze=True, seed=0)
    assert not torch.equal(fresh.head.weight, run.model.head.weight)  # the softmax layer did learn


def test_fine_tuning_trains_a_copy_of_the_encoder(digits, small_ae):
    train, test = digits
    before = {k: v.clone() for k, v in small_ae.state_dict().items()}
    run = finetune(small_ae, train, test, labels=100, **QUICK)
    assert not torch.equal(run.model.encoder.net[0].weight, small_ae.encoder.net[0].weight)
    assert all(torch.equal(v, small_ae.state_dict()[k]) for k, v in before.items())  # the source AE is untouched


def test_saved_classifier_reloads_to_identical_logits(digits, small_ae, tmp_path):
    train, test = digits
    run = finetune(small_ae, train, test, labels=50, val_labels=10, out=tmp_path / "cls", **QUICK)
    again = load_classifier(tmp_path / "cls")
    assert torch.equal(predict_logits(again.model, test.x), predict_logits(run.model, test.x))
    assert again.metrics["test_accuracy"] == accuracy(again.model, test)
    assert again.config["encoder"]["model"] == "ae" and again.config["head"]["n_classes"] == 10
    assert again.config["labels"]["n_train"] + again.config["labels"]["n_val"] == 50
    assert sorted(p.name for p in (tmp_path / "cls").iterdir()) == ["config.json", "log.csv", "metrics.json",
                                                                     "model.safetensors"]


def test_contractive_penalty_of_one_layer_equals_the_exact_jacobian():
    """The closed form that makes stacked contractive pretraining affordable is the exact penalty."""
    model = build("contractive", input_shape=12, latent_dim=5, code_activation="sigmoid")
    x = torch.rand(6, 12)
    fast = model(Batch(x=x)).losses["contractive"]
    exact = model.weight * losses.contractive(model.encoder, x)
    torch.testing.assert_close(fast, exact)
    g_fast = torch.autograd.grad(fast, model.encoder.linears[0].weight)[0]
    g_exact = torch.autograd.grad(exact, model.encoder.linears[0].weight)[0]
    torch.testing.assert_close(g_fast, g_exact)


def test_pretrained_encoder_beats_random_init_with_few_labels(digits):
    """Stacked denoising pretraining on all 1437 unlabelled training digits, then 30 labels (3 per class).

    Sigmoid units, as in Hinton & Salakhutdinov 2006 and Vincent et al. 2010: averaged over three label
    draws, the pretrained network is clearly better than the same network from random initialisation.
    """
    train, test = digits
    widths = [64, 128, 128]
    stack = pretrain_stack(train, widths, activation="sigmoid", code_activation="sigmoid", noise="masking",
                           noise_level=0.3, config=TrainConfig(epochs=30, batch_size=32, lr=3e-3, progress=False))
    torch.manual_seed(0)
    model = build("ae", input_shape=[1, 8, 8], hidden=widths[1:-1], latent_dim=widths[-1], activation="sigmoid",
                  code_activation="sigmoid")
    init_autoencoder(model, stack)
    settings = dict(labels=30, epochs=100, batch_size=64, lr=1e-3, progress=False)
    pretrained = [finetune(model, train, test, label_seed=s, seed=s, **settings).metrics["test_accuracy"]
                  for s in range(3)]
    scratch = [finetune(model, train, test, label_seed=s, seed=s, from_scratch=True, **settings)
               .metrics["test_accuracy"] for s in range(3)]
    assert np.mean(pretrained) > np.mean(scratch) + 0.05, (pretrained, scratch)


def test_pca_projection_is_fine_tuned_as_a_linear_layer(digits):
    train, test = digits
    pca = aekit.train("pca", train, latent_dim=10, evaluate=False).model
    run = finetune(pca, train, test, labels=100, **{**QUICK, "epochs": 100, "lr": 3e-3})
    assert run.metrics["test_accuracy"] > 0.6
    assert not torch.equal(run.model.encoder[1].weight, pca.components)


# ---- the command -------------------------------------------------------------------------------------


def test_cli_finetune_reports_the_test_accuracy_of_the_saved_classifier(capsys, ae_run, tmp_path):
    rc, out, _ = cli(capsys, "finetune", ae_run, "--labels", "50", "--epochs", "5", "--quiet", "--json",
                     "--out", tmp_path / "cls")
    assert rc == 0
    metrics = json.loads(out)
    assert metrics["n_labelled"] == 50 and abs(metrics["test_error"] - (1 - metrics["test_accuracy"])) < 1e-12
    again = load_classifier(tmp_path / "cls")
    assert accuracy(again.model, load("digits", split="test")) == metrics["test_accuracy"]
    assert again.config["labels"]["per_class"] == [5] * 10
    rc, out, _ = cli(capsys, "finetune", ae_run, "--labels", "50", "--epochs", "5", "--quiet", "--json",
                     "--from-scratch")
    assert rc == 0 and json.loads(out)["n_labelled"] == 50


@pytest.mark.parametrize("labels, cause", [("5", "fewer than the 10 classes"), ("100000", "more than the 1437"),
                                           ("many", "--labels must be")])
def test_cli_refuses_impossible_label_counts(capsys, ae_run, tmp_path, labels, cause):
    rc, _, err = cli(capsys, "finetune", ae_run, "--labels", labels, "--quiet", "--out", tmp_path / "cls")
    assert_user_error(rc, err, cause)
    assert not (tmp_path / "cls").exists()


def test_cli_refuses_a_hold_out_that_leaves_a_class_out(capsys, ae_run, tmp_path):
    rc, _, err = cli(capsys, "finetune", ae_run, "--labels", "50", "--val-labels", "5", "--quiet",
                     "--out", tmp_path / "cls")
    assert_user_error(rc, err, "--val-labels must")
    assert not (tmp_path / "cls").exists()


def test_cli_refuses_runs_it_cannot_fine_tune(capsys, tmp_path, ae_run):
    binary = tmp_path / "binary"
    assert main(["train", "binary", "--data", "digits", "--latent-dim", "8", "--set", "hidden=[16]", "--epochs",
                 "1", "--quiet", "--out", str(binary)]) == 0
    capsys.readouterr()
    assert_user_error(*cli(capsys, "finetune", binary, "--labels", "50")[::2], "discrete codes")

    assert main(["finetune", str(ae_run), "--labels", "20", "--epochs", "1", "--quiet", "--out",
                 str(tmp_path / "cls")]) == 0
    capsys.readouterr()
    assert_user_error(*cli(capsys, "finetune", tmp_path / "cls", "--labels", "50")[::2], "is a classifier")
    assert_user_error(*cli(capsys, "finetune", ae_run, "--labels", "50", "--out", tmp_path / "cls")[::2],
                       "already holds a run")


def test_cli_refuses_data_without_labels(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((60, 64), dtype=np.float32))
    run = tmp_path / "unlabelled"
    assert main(["train", "ae", "--data", str(tmp_path / "x.npy"), "--latent-dim", "4", "--set", "hidden=[8]",
                 "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    assert_user_error(*cli(capsys, "finetune", run, "--labels", "20")[::2], "no labels")
