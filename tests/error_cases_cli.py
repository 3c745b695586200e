"""Catalogue cases: mistakes on the command line itself (see tests/errcase.py)."""
from __future__ import annotations

from errcase import TINY, Case

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
