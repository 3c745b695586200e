"""Crash harness: `aekit train` killed with SIGKILL at chosen moments, then resumed, against an uninterrupted run.

Each trial forks a child that runs ``aekit train`` into a fresh folder and kills itself (SIGKILL: no cleanup,
no ``finally``) at one moment: after the k-th training batch (mid-epoch, before or after the first
checkpoint), or while writing a file of the run (config.json, log.csv, checkpoint.safetensors,
model.safetensors, metrics.json): just after its temporary file is created ("open"), with the temporary
file half written ("half"), or written whole but not yet renamed into place ("whole"). The kill is
injected from outside the product: the child wraps ``tempfile.mkstemp`` / ``os.replace`` and the loop's
batch iterator before calling ``aekit.cli.main``. Then the folder is continued as a user would, with
``aekit train --resume`` when it holds a run's config.json (a run killed before its first checkpoint
restarts), else the same ``aekit train`` again. Each trial records:

- ``loadable``: the continued run loads (``aekit.load``);
- ``resumable``: the continuation exited 0;
- ``bitwise``: its final weights equal the uninterrupted run's, bit for bit;
- ``log_complete``: log.csv has one row per epoch, 1..E, no gap, no duplicate, with the uninterrupted
  run's losses;
- ``no_strays``: no temporary file is left, and the folder holds the same files as the uninterrupted run;
- ``after_kill``: what the kill left (the checkpoint's epoch, or none) and whether that checkpoint loads.

    python benchmarks/crash.py            # 33 trials, ~2-4 minutes on one CPU thread
    python benchmarks/crash.py --quick    # 4 trials (CI runs these as a test)
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io as std_io
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

EPOCHS, ITEMS, BATCH = 3, 256, 32  # 8 batches an epoch, 24 in all
STUCK_SECONDS = 120  # a child or a continuation running longer than this is recorded as stuck


@dataclass(frozen=True)
class Moment:
    """When a trial's child kills itself: after the ``n``-th training batch (``file`` None), or at the ``n``-th
    write of ``file`` at ``stage`` ("open", "half", "whole")."""
    n: int
    file: str | None = None
    stage: str = ""

    @property
    def label(self) -> str:
        return f"after batch {self.n}" if self.file is None else f"{self.file} #{self.n} {self.stage}"

    @property
    def phase(self) -> str:  # which part of a run the moment falls in, for the table
        if self.file is None:
            return "mid-epoch, before 1st checkpoint" if self.n <= ITEMS // BATCH else "mid-epoch"
        if self.file in ("model.safetensors", "metrics.json"):
            return "final write"
        if self.file == "config.json":
            return "before 1st checkpoint"
        return f"{self.file.split('.')[0]} write"


def moments(quick: bool) -> list[Moment]:
    if quick:  # one of each kind that matters most: before the first checkpoint, inside a checkpoint and a log
        return [Moment(3), Moment(2, "checkpoint.safetensors", "half"), Moment(2, "log.csv", "whole"),
                Moment(1, "model.safetensors", "whole")]
    steps = EPOCHS * ITEMS // BATCH
    found = [Moment(k) for k in (1, 4, 8, 12, 16, 20, steps - 1)]
    for file, writes in (("config.json", 1), ("log.csv", EPOCHS), ("checkpoint.safetensors", EPOCHS),
                         ("model.safetensors", 1), ("metrics.json", 1)):
        for n in range(1, writes + 1):
            found += [Moment(n, file, stage) for stage in ("open", "half", "whole")
                      if not (file == "config.json" and stage == "half")]
    return found


# ---- the child: aekit train, with a kill wired in from outside ------------------------------------------------
def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _child(argv: list[str], moment: Moment) -> None:
    """Runs in the forked child: wrap the moment's function to SIGKILL the process, then run the CLI."""
    from aekit.cli import main
    from aekit.train import loop

    count = {"n": 0}
    if moment.file is None:
        batches = loop.epoch_batches

        def counted(*a, **k):
            for batch in batches(*a, **k):
                yield batch
                count["n"] += 1  # the batch has been trained on when the loop asks for the next
                if count["n"] == moment.n:
                    _die()

        loop.epoch_batches = counted
    elif moment.stage == "open":
        mkstemp = tempfile.mkstemp

        def opened(*a, **k):
            fd, name = mkstemp(*a, **k)
            if Path(name).name.startswith(f".{moment.file}."):
                count["n"] += 1
                if count["n"] == moment.n:
                    _die()
            return fd, name

        tempfile.mkstemp = opened
    else:
        replace = os.replace

        def replaced(src, dst, *a, **k):
            if Path(dst).name == moment.file:
                count["n"] += 1
                if count["n"] == moment.n:
                    if moment.stage == "half":
                        size = os.path.getsize(src)
                        os.truncate(src, size // 2)
                    _die()
            return replace(src, dst, *a, **k)

        os.replace = replaced
    with contextlib.redirect_stderr(std_io.StringIO()), contextlib.redirect_stdout(std_io.StringIO()):
        rc = main(argv)
    os._exit(rc)  # the moment never came (a moment past the run's end): exit as the CLI would


def run_killed(argv: list[str], moment: Moment) -> tuple[str, float]:
    """Fork, kill at ``moment``; returns how the child ended ("killed", "exit N", "stuck") and its seconds."""
    t0 = time.perf_counter()
    child = multiprocessing.get_context("fork").Process(target=_child, args=(argv, moment))
    child.start()
    child.join(STUCK_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
        return "stuck", time.perf_counter() - t0
    code = child.exitcode
    return ("killed" if code == -signal.SIGKILL else f"exit {code}"), time.perf_counter() - t0


# ---- what a folder holds --------------------------------------------------------------------------------------
def log_rows(run: Path) -> list[dict]:
    if not (run / "log.csv").exists():
        return []
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())


def after_kill(run: Path) -> str:
    from aekit.errors import AekitError
    from aekit.train.checkpoint import load_checkpoint

    path = run / "checkpoint.safetensors"
    if not path.exists():
        return "no checkpoint"
    try:
        return f"checkpoint of epoch {load_checkpoint(path)['epoch']}"
    except AekitError:
        return "checkpoint UNREADABLE"


def continue_run(argv: list[str], out: Path) -> int:
    """Continue as a user would: --resume where a run's config.json is, else the same command again."""
    from aekit.cli import main

    again = ["train", "--resume", "--out", str(out)] if (out / "config.json").is_file() else argv
    with contextlib.redirect_stderr(std_io.StringIO()), contextlib.redirect_stdout(std_io.StringIO()):
        try:
            return main(again)
        except SystemExit as e:  # argparse
            return int(e.code or 0)


def trial(moment: Moment, work: Path, data: Path, reference: Path) -> dict:
    import aekit
    from aekit.rundir import temp_files

    out = work / "R"
    argv = command(data, out)
    ended, seconds = run_killed(argv, moment)
    record = {"moment": moment.label, "phase": moment.phase, "child": ended, "after_kill": after_kill(out),
              "strays_after_kill": len(temp_files(out)) if out.exists() else 0}
    t0 = time.perf_counter()
    rc = continue_run(argv, out)
    record["resumable"] = rc == 0
    try:
        model = aekit.load(out)
        record["loadable"] = True
        want = aekit.load(reference).state_dict()
        record["bitwise"] = all(torch.equal(v, want[k]) for k, v in model.state_dict().items())
    except Exception as e:  # recorded, not raised: the table shows every trial
        record.update(loadable=False, bitwise=False, error=f"{type(e).__name__}: {e}"[:200])
    rows, ref_rows = log_rows(out), log_rows(reference)
    losses = [k for k in ref_rows[0] if k.startswith("train_")]
    record["log_complete"] = ([r["epoch"] for r in rows] == [str(e) for e in range(1, EPOCHS + 1)]
                              and [[r[k] for k in losses] for r in rows] == [[r[k] for k in losses] for r in ref_rows])
    record["no_strays"] = not temp_files(out) and files(out) == files(reference)
    record["seconds"] = round(seconds + time.perf_counter() - t0, 2)
    record["ok"] = all(record[k] for k in ("resumable", "loadable", "bitwise", "log_complete", "no_strays")) and (
        ended != "stuck")
    return record


def command(data: Path, out: Path) -> list[str]:
    return ["train", "ae", "--data", str(data), "--latent-dim", "3", "--set", "hidden=[16]", "--set", "loss=sse",
            "--batch-size", str(BATCH), "--epochs", str(EPOCHS), "--lr", "3e-3", "--set", "schedule=cosine",
            "--quiet", "--out", str(out)]


def run_trials(quick: bool, work: Path) -> list[dict]:
    from aekit.cli import main

    torch.set_num_threads(1)  # forked children must not inherit an OpenMP pool
    data = work / "x.npy"
    np.save(data, torch.rand(ITEMS, 12, generator=torch.Generator().manual_seed(0)).numpy())
    reference = work / "reference"
    with contextlib.redirect_stderr(std_io.StringIO()), contextlib.redirect_stdout(std_io.StringIO()):
        assert main(command(data, reference)) == 0, "the uninterrupted run failed"
    records = []
    for i, moment in enumerate(moments(quick)):
        folder = work / f"trial{i}"
        folder.mkdir()
        records.append(trial(moment, folder, data, reference))
        shutil.rmtree(folder)
    return records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 trials, for CI")
    p.add_argument("--no-write", action="store_true", help="print the table only")
    args = p.parse_args(argv)
    from aekit.eval import format_table

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aekit-crash-") as d:
        records = run_trials(args.quick, Path(d))
    columns = ["moment", "phase", "child", "after_kill", "strays_after_kill", "resumable", "loadable", "bitwise",
               "log_complete", "no_strays", "seconds"]
    print(format_table(records, columns))
    summary = {k: sum(bool(r[k]) for r in records) for k in ("resumable", "loadable", "bitwise", "log_complete",
                                                               "no_strays", "ok")}
    summary.update(trials=len(records), killed=sum(r["child"] == "killed" for r in records),
                   stuck=sum(r["child"] == "stuck" for r in records), seconds=round(time.perf_counter() - t0, 1))
    print(f"\n{summary['ok']}/{summary['trials']} trials ok ({summary['killed']} killed by SIGKILL, "
          f"{summary['stuck']} stuck); {summary}")
    if not args.no_write and not args.quick:
        path = write_results("crash", {"protocol": {"epochs": EPOCHS, "items": ITEMS, "batch_size": BATCH,
                                                    "model": "ae 12-16-3, sse, adam 3e-3 cosine"},
                                       "summary": summary, "trials": records})
        print(f"wrote {path}")
    return 0 if summary["ok"] == summary["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
