"""Catalogue cases: run directories, the --out of `aekit train` (see tests/errcase.py)."""
from __future__ import annotations

import json
from pathlib import Path

import filelock
from errcase import TINY, Case, tiny_run

from aekit import rundir

_HELD: list[filelock.FileLock] = []  # locks a case holds for the rest of the test process, as a trainer would


def _in_use(tmp: Path) -> list:
    """A folder another trainer holds: a run in its first epoch (config.json, no checkpoint yet), locked.
    flock locks belong to open files, so a lock this process holds blocks the command it runs next."""
    run = tiny_run(tmp, "src")
    out = tmp / "R"
    out.mkdir()
    (out / "config.json").write_bytes((run / "config.json").read_bytes())
    lock = filelock.FileLock(str(out / rundir.LOCK))
    lock.acquire(timeout=0)
    _HELD.append(lock)
    return ["train", "ae", "--data", "digits", *TINY, "--out", out]


def _file(tmp: Path, name: str, text: str = "mine") -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _holding(tmp: Path, name: str, content: dict) -> Path:
    """A folder with one JSON file of another kind than a run's."""
    out = tmp / "R"
    out.mkdir()
    (out / name).write_text(json.dumps(content))
    return out


CASES = [
    Case("run-folder-in-use", "run directories", "trained into a folder another `aekit train` is training into",
         _in_use, r"R is in use by another aekit process.*wait for it to finish, or choose another --out"),
    Case("run-out-holds-a-run", "run directories", "trained into a folder that holds a finished run, without --resume",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--out", tiny_run(tmp)],
         r"already holds a run: choose another --out, delete it, or pass --resume"),
    Case("run-out-is-a-file", "run directories", "gave `--out` a path that is a file",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--out", _file(tmp, "notes.txt")],
         r"--out .*notes.txt is a file, not a directory"),
    Case("run-out-under-a-file", "run directories", "gave `--out` a folder inside a file",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--out", _file(tmp, "notes.txt") / "R"],
         r"notes.txt is a file, not a folder; choose another --out"),
    Case("run-resume-empty-folder", "run directories", "passed --resume with an empty folder",
         lambda tmp: ["train", "--resume", "--out", (tmp / "R").mkdir() or tmp / "R"],
         r"nothing to resume in .*R: it holds no aekit run"),
    Case("run-resume-missing-folder", "run directories", "passed --resume with a folder that does not exist",
         lambda tmp: ["train", "ae", "--data", "digits", "--resume", "--out", tmp / "missing"],
         r"nothing to resume in .*missing"),
    Case("run-resume-other-model", "run directories", "resumed a run naming another model than the one it trains",
         lambda tmp: ["train", "vae", "--resume", "--out", tiny_run(tmp)],
         r"--resume: .*run holds a 'ae' run with other settings"),
    Case("run-resume-fewer-epochs", "run directories", "resumed a run asking for fewer epochs than it has trained",
         lambda tmp: ["train", "--resume", "--epochs", "1", "--out", tiny_run(tmp)],
         r"has trained 2 epochs, more than epochs=1: resume with epochs >= 2"),
    Case("run-out-holds-an-index", "run directories", "trained into the folder of an `aekit index`",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--out", _holding(tmp, "index.json", {"dim": 4})],
         r"R holds an aekit index .*, not a run of `aekit train`: choose another --out"),
    Case("run-out-holds-foreign-config", "run directories", "trained into a folder with a config.json of its own",
         lambda tmp: ["train", "ae", "--data", "digits", *TINY, "--out", _holding(tmp, "config.json", {"lr": 1})],
         r"R holds a config.json that is not an aekit run's, not a run of `aekit train`"),
    Case("run-resume-a-classifier", "run directories", "passed --resume with the folder of an `aekit finetune`",
         lambda tmp: ["train", "--resume", "--out", _holding(tmp, "config.json", {"kind": "classifier"})],
         r"R is not an aekit run .*: it is an aekit classifier"),
    Case("run-resume-other-optimizer", "run directories", "resumed an adam run asking for sgd",
         lambda tmp: ["train", "--resume", "--epochs", "3", "--set", "optimizer=sgd", "--out", tiny_run(tmp)],
         r"holds adam optimiser state, which sgd cannot continue"),
]
