"""Runs saved by an earlier release still load, and give the outputs they gave when they were written.

The fixtures (``tests/fixtures/legacy_runs``) were written by the code before issue 16 reshaped the core;
``tests/fixtures/make_legacy_runs.py`` says how. Each holds ``expected.safetensors``: a fixed input with
the codes (and reconstructions, or a classifier's logits) that release computed from it.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import aekit
from aekit import inference

FIXTURES = Path(__file__).parent / "fixtures" / "legacy_runs"
RUNS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "classifier")


def _maker():
    spec = importlib.util.spec_from_file_location("make_legacy_runs", FIXTURES.parent / "make_legacy_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_model_family_has_a_fixture():
    assert {"ae", "vae", "aae", "acai", "vqvae", "onehot", "binary", "conv_ae", "pca", "denoising"} <= set(RUNS)


@pytest.mark.parametrize("name", RUNS)
def test_legacy_run_loads_to_the_outputs_it_had(name):
    expected = load_file(str(FIXTURES / name / "expected.safetensors"))
    model = aekit.load(FIXTURES / name)
    x = expected["x"]
    torch.testing.assert_close(inference.encode(model, x), expected["codes"], rtol=0, atol=1e-6)
    torch.testing.assert_close(inference.reconstruct(model, x), expected["reconstruction"], rtol=0, atol=1e-6)


def test_legacy_classifier_loads_to_the_logits_it_had():
    from aekit.apps.finetune import load_classifier, predict_logits

    expected = load_file(str(FIXTURES / "classifier" / "expected.safetensors"))
    run = load_classifier(FIXTURES / "classifier")
    torch.testing.assert_close(predict_logits(run.model, expected["x"]), expected["logits"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["ae", "aae", "acai", "vqvae"])
def test_legacy_checkpoint_resumes(tmp_path, name):
    """A run of the earlier release continues from its checkpoint: weights, every phase's optimiser, the step."""
    maker = _maker()
    run_dir = tmp_path / name
    shutil.copytree(FIXTURES / name, run_dir)
    settings = dict(maker.RUNS[name])
    before = {k: v.clone() for k, v in aekit.load(run_dir).state_dict().items()}
    settings.update(epochs=3)
    run = aekit.train(name, maker.data(0), test=maker.data(1), out=run_dir, resume=True, **settings)
    after = run.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    from aekit.io import read_json

    log = (run_dir / "log.csv").read_text().splitlines()
    assert log[-1].startswith("3,")  # epoch 3 continued the step count of the two saved epochs
    assert int(log[-1].split(",")[1]) == 3 * 4  # 64 examples / batch 16 = 4 steps per epoch
    assert read_json(run_dir / "config.json")["train"]["epochs"] == 3


def test_legacy_text_run_keeps_its_vectoriser_as_a_front_end():
    """Runs of the earlier release kept the text vectoriser inside config.json; it becomes the run's front end."""
    expected = load_file(str(FIXTURES / "text_ae" / "expected.safetensors"))
    run = aekit.load_run(FIXTURES / "text_ae")
    assert run.frontend is not None and run.frontend.name == "bag_of_words"
    counts = torch.from_numpy(run.frontend.transform(["the rocket went to the moon"]))
    torch.testing.assert_close(counts, expected["query_counts"], rtol=0, atol=0)
