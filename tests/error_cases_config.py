"""Catalogue cases: a run's config.json, weights and checkpoint damaged or edited (see tests/errcase.py).

Each is checked before anything is built from the file: config.json against the schema the model's constructor
and TrainConfig declare, the weights and the checkpoint from their safetensors headers."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from errcase import TINY, Case, tiny_run


def edited(change, *command: str):
    """A case's setup: a trained run whose config.json ``change`` edits, then ``aekit *command RUN``."""

    def setup(tmp: Path) -> list:
        run = tiny_run(tmp)
        config = json.loads((run / "config.json").read_text())
        change(config)
        (run / "config.json").write_text(json.dumps(config))
        return [*command, run] if command[0] != "train" else [*command, "--out", run, "--quiet"]

    return setup


def weights_as(dtype: torch.dtype):
    def setup(tmp: Path) -> list:
        from safetensors.torch import load_file, save_file

        run = tiny_run(tmp)
        state = load_file(str(run / "model.safetensors"))
        save_file({k: v.to(dtype) for k, v in state.items()}, str(run / "model.safetensors"))
        return ["evaluate", run]

    return setup


def checkpoint(change):
    """A case's setup: a trained run whose checkpoint ``change`` damages (given its path), then ``--resume``."""

    def setup(tmp: Path) -> list:
        run = tiny_run(tmp)
        change(run / "checkpoint.safetensors")
        return ["train", "--resume", "--out", run, "--epochs", "3", "--quiet"]

    return setup


def rewritten(change):
    """Damage to a checkpoint's training state: ``change(state)`` on what it holds, written back."""

    def damage(path: Path) -> None:
        from aekit.train.checkpoint import load_checkpoint, save_checkpoint

        state = load_checkpoint(path)
        change(state)
        save_checkpoint(path, state)

    return damage


def metadata(text: str):
    def damage(path: Path) -> None:
        from safetensors.torch import load_file, save_file

        save_file(load_file(str(path)), str(path), metadata={"aekit_checkpoint": text})

    return damage


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


CASES = [
    Case("config-widths-as-strings", "config files", "edited config.json to `hidden: [\"16\"]`",
         edited(lambda c: c["hparams"].update(hidden=["16"]), "evaluate"),
         r"config\.json: model 'ae' setting 'hidden' must be a list of .*whole numbers, got \['16'\]"),
    Case("config-fractional-width", "config files", "edited config.json to `hidden: [16.5]`",
         edited(lambda c: c["hparams"].update(hidden=[16.5]), "evaluate"),
         r"config\.json: .*'hidden' must be .*whole numbers, got \[16\.5\]"),
    Case("config-hparams-not-a-mapping", "config files", "resumed a run whose config.json has `hparams: 3.5`",
         edited(lambda c: c.update(hparams=3.5), "train", "--resume"), r"config\.json: .*'hparams' must be a mapping"),
    Case("config-training-setting-a-word", "config files", "resumed a run whose config.json has `epochs: \"many\"`",
         edited(lambda c: c["train"].update(epochs="many"), "train", "--resume"),
         r"config\.json: training setting 'epochs' must be a whole number"),
    Case("config-betas-out-of-range", "config files", "resumed a run whose config.json has `betas: [3, 0.9]`",
         edited(lambda c: c["train"].update(betas=[3.0, 0.9]), "train", "--resume"),
         r"config\.json: bad training setting: betas must be two numbers in \[0, 1\)"),
    Case("config-unknown-key", "config files", "added a key config.json does not have",
         edited(lambda c: c.update(hidden=[16]), "evaluate"), r"config\.json: a run's config has no setting 'hidden'"),
    Case("config-unknown-model", "config files", "named a model this aekit does not have in config.json",
         edited(lambda c: c.update(model="nosuch"), "evaluate"), r"config\.json: it names model 'nosuch'"),
    Case("config-latent-dim-beyond-weights", "config files",
         "edited config.json to `latent_dim: 2000000` (a 256 MB model the weights are not)",
         edited(lambda c: c["hparams"].update(latent_dim=2_000_000), "evaluate"),
         r"model\.safetensors does not match .*wrong shape.*config\.json was edited"),
    Case("config-nested-too-deeply", "config files", "replaced config.json by lists nested 100,000 deep",
         lambda tmp: (tiny_run(tmp) / "config.json").write_text("[" * 100_000 + "]" * 100_000) and
         ["evaluate", tmp / "run"], r"config\.json is nested too deeply to be aekit's JSON"),
    Case("weights-int64", "checkpoints", "replaced model.safetensors by the same weights as int64",
         weights_as(torch.int64), r"model\.safetensors .*wrong kind of numbers: .* is torch\.int64"),
    Case("checkpoint-truncated", "checkpoints", "resumed from a checkpoint cut short",
         checkpoint(truncate), r"checkpoint\.safetensors is not a readable safetensors file.*delete it"),
    Case("checkpoint-metadata-broken", "checkpoints", "resumed from a checkpoint whose metadata JSON is broken",
         checkpoint(metadata('{"__dict__": [["model"')), r"checkpoint\.safetensors is a damaged .*delete it"),
    Case("checkpoint-negative-epoch", "checkpoints", "resumed from a checkpoint that says epoch -5",
         checkpoint(rewritten(lambda s: s.update(epoch=-5))), r"checkpoint\.safetensors .*epoch -5.*delete it"),
    Case("checkpoint-step-inconsistent", "checkpoints", "resumed from a checkpoint whose step its schedulers did not take",
         checkpoint(rewritten(lambda s: s.update(step=s["step"] + 7))), r"checkpoint\.safetensors .*step 9 is past its total_steps 2.*delete it"),
    Case("checkpoint-other-optimiser-shapes", "checkpoints",
         "resumed from a checkpoint whose optimiser moments have other shapes than the parameters",
         checkpoint(rewritten(lambda s: s["optimizers"][0]["state"][0].update(exp_avg=torch.zeros(3, 3)))),
         r"checkpoint\.safetensors .*optimiser state for other parameters.*delete it"),
    Case("model-larger-than-memory", "resource limits", "asked for a model whose weights exceed the machine's memory",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--latent-dim", "4000000000", "--out", tmp / "R"],
         r"model .ae. with these settings needs .* GiB, more than this machine.s"),
    Case("pad-beyond-memory", "resource limits", "asked to pad 8x8 digits to 2,000,000x2,000,000 pixels",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--pad-to", "2000000", "--out", tmp / "R"],
         r"padding 8x8 images to 2000000x2000000 needs .* GiB, more than this machine's .*pad size near"),
]
