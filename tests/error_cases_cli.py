"""Catalogue cases: mistakes on the command line itself (see tests/errcase.py)."""
from __future__ import annotations

from errcase import TINY, Case, tiny_run

CASES = [
    Case("unknown-model", "CLI arguments", "trained a model that is not registered",
         lambda tmp: ["train", "nosuchmodel", "--data", "digits", "--out", tmp / "R"], r"unknown model 'nosuchmodel'"),
    Case("unknown-dataset", "CLI arguments", "named a dataset aekit does not know",
         lambda tmp: ["train", "ae", "--data", "nosuchdata", "--out", tmp / "R"], r"unknown dataset 'nosuchdata'"),
    Case("unknown-setting", "CLI arguments", "passed `--set` a key no model or training setting has",
         lambda tmp: ["train", "ae", "--data", "digits", "--set", "bogus=1", "--out", tmp / "R"],
         r"unknown setting 'bogus'"),
    Case("bad-setting-value", "CLI arguments", "gave a setting a value of the wrong type",
         lambda tmp: ["train", "ae", "--data", "digits", "--set", "epochs=many", "--out", tmp / "R"], r"epochs"),
    Case("negative-epochs", "CLI arguments", "asked for a negative number of epochs",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--epochs", "-3", "--out", tmp / "R"], r"epochs"),
    Case("missing-subcommand-argument", "CLI arguments", "ran `aekit train` without a model",
         lambda tmp: ["train"], r"(required|arguments)"),
]


def _file(name: str, text: str = "x"):
    def make(tmp):
        (tmp / name).write_text(text)
        return tmp / name
    return make


CASES += [
    Case("unknown-command", "CLI arguments", "ran a command aekit does not have",
         lambda tmp: ["nosuchcommand"], r"nosuchcommand"),
    Case("epochs-not-a-number", "CLI arguments", "gave --epochs a word",
         lambda tmp: ["train", "ae", "--data", "digits", "--epochs", "abc", "--out", tmp / "R"], r"--epochs"),
    Case("out-under-a-file", "CLI arguments", "put --out inside a path that is a file",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--out", _file("afile")(tmp) / "R"], r"afile"),
    Case("unknown-evaluation", "CLI arguments", "asked `evaluate` for a metric it does not have",
         lambda tmp: ["evaluate", tiny_run(tmp), "--metrics", "nosuchmetric"], r"unknown evaluation nosuchmetric"),
    Case("reconstruct-bad-suffix", "CLI arguments", "asked `reconstruct` to write a .txt file",
         lambda tmp: ["reconstruct", tiny_run(tmp), "--out", tmp / "r.txt"], r"\.png"),
    Case("grid-on-a-wide-code", "CLI arguments", "asked for a 2-d grid of a 4-d code",
         lambda tmp: ["generate", tiny_run(tmp), "--grid", "5", "--out", tmp / "g.png"], r"(2-d|two)"),
    Case("pretrain-bad-widths", "CLI arguments", "gave `pretrain` widths that are not numbers",
         lambda tmp: ["pretrain", "--data", "digits", "--widths", "64,abc", "--out", tmp / "R"], r"--widths"),
    Case("phase-option-unknown-phase", "CLI arguments", "set options for a phase the model does not have",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--set", 'phase_options={"critic": {"lr_scale": 2}}',
                      "--out", tmp / "R"], r"critic"),
    Case("unknown-part", "CLI arguments", "asked for an encoder part that is not registered",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--set", 'encoder={"part": "nosuchpart"}',
                      "--out", tmp / "R"], r"nosuchpart"),
]
