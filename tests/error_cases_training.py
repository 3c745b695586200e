"""Catalogue cases: training settings that cannot fit the data, held-out splits, CSV label columns and the global
--threads option (see tests/errcase.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from errcase import Case

TINY = ["--latent-dim", "2", "--set", "hidden=[8]", "--epochs", "1", "--quiet"]


def _table(tmp: Path, low: float = -6.0, high: float = 5.0, n: int = 40) -> Path:
    np.savez(tmp / "my.npz", x=np.random.default_rng(0).uniform(low, high, (n, 6)).astype(np.float32))
    return tmp / "my.npz"


def _csv(tmp: Path) -> Path:
    rows = [f"{i / 40:.3f},{(i * 7 % 40) / 40:.3f},{i % 3}" for i in range(40)]
    (tmp / "t.csv").write_text("\n".join(["a,b,kind", *rows]) + "\n")
    return tmp / "t.csv"


def _train(data: Path, tmp: Path, *more: str) -> list:
    return ["train", "ae", "--data", data, *TINY, *more, "--out", tmp / "R"]


CASES = [
    Case("bce-on-data-outside-0-1", "data files", "trained the Bernoulli cross-entropy on data in [-6, 5]",
         lambda tmp: _train(_table(tmp), tmp, "--scale", "raw", "--set", "loss=bce"),
         r"loss 'bce' \(Bernoulli cross-entropy\) needs data in \[0, 1\] but this data spans \[-5\.\d+, 4\.\d+\]: "
         r"pass --set loss=sse"),
    Case("softmax-on-negative-data", "data files", "trained the counts' softmax loss on data scaled to [-1, 1]",
         lambda tmp: ["train", "ae", "--data", "digits", "--limit", "50", "--scale", "pm1", *TINY,
                      "--set", "loss=softmax", "--set", "output=softmax", "--out", tmp / "R"],
         r"loss 'softmax' .* needs data in \[0, inf\] but this data spans \[-1, 1\]"),
    Case("label-column-not-in-csv", "data files", "named a label column the CSV's header does not have",
         lambda tmp: _train(_csv(tmp), tmp, "--label-column", "class"),
         r"t\.csv has no column named 'class'; columns: a, b, kind"),
    Case("label-column-out-of-range", "CLI arguments", "gave --label-column an index past the CSV's last column",
         lambda tmp: _train(_csv(tmp), tmp, "--label-column", "5"),
         r"label_column 5 is out of range: .*t\.csv has 3 columns"),
    Case("label-column-on-npz", "CLI arguments", "passed --label-column with a .npz file",
         lambda tmp: _train(_table(tmp, 0, 1), tmp, "--label-column", "y"),
         r"--label-column names a column of a \.csv/\.tsv file.*a \.npz keeps its labels in an array named y"),
    Case("holdout-out-of-range", "CLI arguments", "asked to hold out 1.5 of the items",
         lambda tmp: _train(_table(tmp, 0, 1), tmp, "--holdout", "1.5"),
         r"argument --holdout: the held-out fraction must lie in \[0, 1\)"),
    Case("holdout-not-a-number", "CLI arguments", "gave --holdout a word",
         lambda tmp: _train(_table(tmp, 0, 1), tmp, "--holdout", "half"),
         r"argument --holdout: the held-out fraction must lie in \[0, 1\).*got 'half'"),
    Case("holdout-too-few-items", "data files", "held out a fraction of a 3-item file that leaves no item out",
         lambda tmp: _train(_table(tmp, 0, 1, n=3), tmp, "--holdout", "0.1"),
         r"my\.npz has 3 items, too few to hold out 0\.1 of them.*--holdout 0"),
    Case("threads-zero", "CLI arguments", "asked for 0 CPU threads",
         lambda tmp: ["--threads", "0", "train", "ae", "--data", "digits", "--out", tmp / "R"],
         r"argument --threads: must be a whole number of at least 1, got '0'"),
    Case("threads-not-a-number", "CLI arguments", "gave --threads a word",
         lambda tmp: ["--threads", "all", "models"], r"argument --threads: must be a whole number of at least 1"),
]
