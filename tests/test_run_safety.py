"""Run folders are locked and crash-proof: one trainer at a time, the log never behind the checkpoint, no
temp files left, a run killed before its first checkpoint restarts in place, a refused write is one line
that keeps the previous state, and a divergence (NaN or a finite blow-up) says what is true of the folder."""
from __future__ import annotations

import csv
import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

import aekit
from aekit import io, rundir
from aekit.cli import main
from aekit.data.dataset import ArrayDataset
from aekit.errors import AekitError
from aekit.train import TrainingDiverged
from aekit.train.checkpoint import load_checkpoint
from errcase import error_line

SETTINGS = dict(hidden=[16], latent_dim=3, epochs=4, batch_size=32, lr=3e-3, schedule="cosine", progress=False)
SRC = Path(aekit.__file__).resolve().parents[1]


def toy_data(n=256, d=12, seed=0) -> ArrayDataset:
    return ArrayDataset(x=torch.rand(n, d, generator=torch.Generator().manual_seed(seed)), name="toy")


def epochs_logged(run: Path) -> list[int]:
    with open(run / io.LOG, newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def log_rows(run: Path) -> list[dict]:
    with open(run / io.LOG, newline="") as f:
        return list(csv.DictReader(f))


class Stop(Exception):
    pass


def stop_after(epoch: int):
    def hook(row):
        if row["epoch"] == epoch:
            raise Stop

    return hook


def cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def one_error_line(rc: int, err: str) -> str:
    return "aekit: error: " + error_line(rc, err)  # the catalogue's rule: one line, exit 2, no traceback


def error_after_work(rc: int, err: str) -> str:
    """A command that fails after its work began (epochs trained) has said what it chose for the user (the
    notices, ``aekit: ...``); its error is still one line, the last, and the only one."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("aekit: error: ")]
    assert "Traceback" not in err and errors == lines[-1:], err
    assert all(line.startswith("aekit: ") for line in lines), err
    assert rc == 2, (rc, err)
    return lines[-1]


def csv_data(tmp_path: Path) -> Path:
    """A small table as a .npy file for the CLI."""
    import numpy as np

    path = tmp_path / "x.npy"
    np.save(path, toy_data().x.numpy())
    return path


CLI_TINY = ["--latent-dim", "3", "--set", "hidden=[16]", "--batch-size", "32", "--quiet", "--set", "loss=sse"]


# ---- 1. the lock ----------------------------------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time, torch
    from pathlib import Path
    import aekit
    from aekit.data.dataset import ArrayDataset
    from aekit.train import loop
    out, go = Path(sys.argv[1]), Path(sys.argv[2])
    real = loop.save_checkpoint
    def wait_then_save(path, state):  # hold the folder in epoch 1 (config written, no checkpoint) until told
        if state["epoch"] == 1:
            (out.parent / "holding").write_text("yes")
            while not go.exists():
                time.sleep(0.05)
        real(path, state)
    loop.save_checkpoint = wait_then_save
    data = ArrayDataset(x=torch.rand(256, 12, generator=torch.Generator().manual_seed(0)), name="toy")
    aekit.train("ae", data, out=out, hidden=[16], latent_dim=3, epochs=2, batch_size=32, progress=False)
    print("run saved")
""")


def start_holder(tmp_path: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), str(tmp_path / "go")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "holding").exists():
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline, "the holder never reached its first epoch"
        time.sleep(0.05)
    return holder


@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_in_use_is_refused_and_the_holder_loses_nothing(tmp_path, resume):
    """A second `aekit train --out R` (fresh or --resume), run by another process while the first is in its
    first epoch in R (both pass the "already holds a run" check, as when started together), gets one line and
    exit 2, and deletes nothing of the first's (it deleted config.json), which finishes and saves its run."""
    out = tmp_path / "R"
    holder = start_holder(tmp_path, out)
    try:
        before = sorted(p.name for p in out.iterdir())
        config = (out / io.CONFIG).read_bytes()
        env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
        second = subprocess.run([sys.executable, "-m", "aekit.cli", "train", "ae", "--data", csv_data(tmp_path),
                                 *CLI_TINY, "--epochs", "2", "--out", out, *(["--resume"] if resume else [])],
                                env=env, capture_output=True, text=True, timeout=120)
        line = one_error_line(second.returncode, second.stderr)
        assert f"{out} is in use by another aekit process" in line
        assert sorted(p.name for p in out.iterdir()) == before
        assert (out / io.CONFIG).read_bytes() == config
    finally:
        (tmp_path / "go").write_text("go")
        stdout, stderr = holder.communicate(timeout=120)
    assert holder.returncode == 0, stderr
    assert "run saved" in stdout
    assert aekit.load(out) is not None and epochs_logged(out) == [1, 2]


def test_two_trainings_started_together_leave_one_whole_run(tmp_path):
    """The issue's race: two `aekit train --out R` started at once. One saves the run; the other fails in one
    line (in use, or already holds a run when the first was quicker) and the run it leaves loads, whole."""
    out = tmp_path / "R"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "aekit.cli", "train", "ae", "--data", str(csv_data(tmp_path)), *CLI_TINY,
           "--epochs", "3", "--out", str(out)]
    both = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    ends = [(p.wait(timeout=300), p.stderr.read()) for p in both]
    assert sorted(rc for rc, _ in ends) == [0, 2], ends
    (_, saved), (_, refused) = sorted(ends)
    assert "run saved" in saved
    line = one_error_line(2, refused)
    assert "is in use by another aekit process" in line or "already holds a run" in line
    assert aekit.load(out) is not None and epochs_logged(out) == [1, 2, 3]
    assert (out / io.CONFIG).exists() and (out / io.METRICS).exists() and rundir.temp_files(out) == []


def test_the_lock_is_released_on_error_and_a_new_holder_gets_it(tmp_path):
    """An error inside the training releases the lock: the same folder can be trained into at once after."""
    data = toy_data()
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", on_epoch_end=stop_after(2), **SETTINGS)
    run = aekit.train("ae", data, out=tmp_path / "R", resume=True, **SETTINGS)
    assert run.path == tmp_path / "R" and epochs_logged(tmp_path / "R") == [1, 2, 3, 4]


# ---- 2. log before checkpoint, atomically, trimmed on resume ----------------------------------------------------
def test_a_crash_in_the_log_write_loses_no_row(tmp_path, monkeypatch):
    """The log is written before the checkpoint: a crash while writing epoch 2's row leaves the checkpoint of
    epoch 1, so the resume trains epoch 2 again and logs it (checkpoint first lost the row for good)."""
    from aekit.train import logger

    data = toy_data()
    real = logger.MetricLogger.log

    def crashing(self, row):
        if row["epoch"] == 2:
            raise Stop
        real(self, row)

    monkeypatch.setattr(logger.MetricLogger, "log", crashing)
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", **SETTINGS)
    monkeypatch.setattr(logger.MetricLogger, "log", real)
    assert load_checkpoint(tmp_path / "R" / io.CHECKPOINT)["epoch"] == 1
    aekit.train("ae", data, out=tmp_path / "R", resume=True, **SETTINGS)
    assert epochs_logged(tmp_path / "R") == [1, 2, 3, 4]


def test_resume_drops_log_rows_past_the_checkpoint(tmp_path):
    """A row logged for an epoch whose checkpoint never came (a kill between the two) is dropped on resume:
    the epoch is trained again and logged once."""
    data = toy_data()
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", on_epoch_end=stop_after(2), **SETTINGS)
    rows = log_rows(tmp_path / "R")
    with open(tmp_path / "R" / io.LOG, "a", newline="") as f:  # epoch 3 logged, then killed before its checkpoint
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow({**rows[-1], "epoch": "3"})
    aekit.train("ae", data, out=tmp_path / "R", resume=True, **SETTINGS)
    assert epochs_logged(tmp_path / "R") == [1, 2, 3, 4]


def test_the_log_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """A write of log.csv that fails half-way leaves the previous log.csv as it was (it was rewritten in place,
    so a failure emptied it)."""
    data = toy_data()
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", on_epoch_end=stop_after(2), **SETTINGS)
    before = (tmp_path / "R" / io.LOG).read_bytes()
    real = csv.DictWriter.writerows

    def half(self, rows):
        real(self, list(rows)[:1])
        raise Stop

    monkeypatch.setattr(csv.DictWriter, "writerows", half)
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", resume=True, **SETTINGS)
    assert (tmp_path / "R" / io.LOG).read_bytes() == before
    assert rundir.temp_files(tmp_path / "R") == []


# ---- 3. temp files --------------------------------------------------------------------------------------------
def test_temp_files_are_removed_on_start_and_on_exit(tmp_path):
    data = toy_data()
    out = tmp_path / "R"
    with pytest.raises(Stop):
        aekit.train("ae", data, out=out, on_epoch_end=stop_after(2), **SETTINGS)
    strays = [out / ".checkpoint.safetensors.k2j4.part", out / ".tmpab12cd", out / "tensorboard" / ".log.csv.x.part"]
    for p in strays:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * 1000)
    seen = []
    aekit.train("ae", data, out=out, resume=True, on_epoch_end=lambda row: seen.append(rundir.temp_files(out)),
                **SETTINGS)
    assert seen == [[], []]  # gone when the first resumed epoch ended: removed on start
    assert not any(p.exists() for p in strays)


def test_temp_files_left_during_a_run_are_removed_on_exit(tmp_path):
    out = tmp_path / "R"

    def leave(row):
        (out / f".model.safetensors.{row['epoch']}.part").write_bytes(b"half")

    aekit.train("ae", toy_data(), out=out, on_epoch_end=leave, **SETTINGS)
    assert rundir.temp_files(out) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [rundir.LOCK, io.CONFIG, io.LOG, io.CHECKPOINT, io.WEIGHTS, io.METRICS])


# ---- 4. a run killed before its first checkpoint restarts in place ---------------------------------------------
def never_started_run(tmp_path: Path) -> Path:
    """A folder as a kill in epoch 1 leaves it: config.json (and the lock file), nothing to resume from."""
    data = csv_data(tmp_path)
    done = tmp_path / "done"
    assert main(["train", "ae", "--data", str(data), *CLI_TINY, "--epochs", "1", "--out", str(done)]) == 0
    out = tmp_path / "R"
    out.mkdir()
    (out / io.CONFIG).write_bytes((done / io.CONFIG).read_bytes())
    (out / rundir.LOCK).touch()
    (out / ".checkpoint.safetensors.abcd.part").write_bytes(b"half a checkpoint")
    return out


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_killed_before_its_first_checkpoint_restarts_in_place(capsys, tmp_path, resume):
    out = never_started_run(tmp_path)
    capsys.readouterr()
    args = ["--resume", "--out", out, "--epochs", "2"] if resume else [
        "ae", "--data", tmp_path / "x.npy", *CLI_TINY, "--epochs", "2", "--out", out]
    rc, err = cli(capsys, "train", *args)
    assert rc == 0, err
    said = [line for line in err.splitlines() if "stopped before its first checkpoint" in line]
    assert len(said) == 1 and "training it again from the start" in said[0]
    assert epochs_logged(out) == [1, 2] and aekit.load(out) is not None
    assert rundir.temp_files(out) == []
    # the restarted run is the run trained from scratch, bit for bit
    fresh = tmp_path / "fresh"
    assert main(["train", "ae", "--data", str(tmp_path / "x.npy"), *CLI_TINY, "--epochs", "2", "--out", str(fresh)]) == 0
    for k, v in aekit.load(fresh).state_dict().items():
        assert torch.equal(v, aekit.load(out).state_dict()[k]), k


@pytest.mark.parametrize("name,content,says", [
    ("index.json", {"dim": 4}, "holds an aekit index"),  # trained into before, mixing the two
    ("config.json", {"lr": 1}, "holds a config.json that is not an aekit run's"),  # would be overwritten
])
def test_only_a_run_is_trained_into_or_restarted(capsys, tmp_path, name, content, says):
    """Restarting in place rewrites config.json: it must be a run's. A folder of another aekit kind or with the
    user's own config.json is refused in one line, and left as it was."""
    import json

    out = tmp_path / "R"
    out.mkdir()
    (out / name).write_text(json.dumps(content))
    rc, err = cli(capsys, "train", "ae", "--data", csv_data(tmp_path), *CLI_TINY, "--epochs", "1", "--out", out)
    assert says in one_error_line(rc, err)
    assert [p.name for p in out.iterdir()] == [name] and json.loads((out / name).read_text()) == content


def test_resume_of_a_classifier_folder_is_one_line(capsys, tmp_path):
    out = tmp_path / "R"
    out.mkdir()
    (out / io.CONFIG).write_text('{"kind": "classifier"}')
    rc, err = cli(capsys, "train", "--resume", "--out", out)  # a KeyError traceback before
    assert "is not an aekit run" in one_error_line(rc, err)


# ---- 5. a refused write ---------------------------------------------------------------------------------------
def full_disk_at(monkeypatch, target: str, nth: int, how: str) -> None:
    """Make the ``nth`` write of the file named ``target`` fail as a full disk does: safetensors wraps the
    error in SafetensorError; Python's writes and os.replace raise OSError(ENOSPC), or OSError(EROFS) for a
    file system gone read-only ("readonly"). We run as root, where chmod would not make a folder read-only."""
    calls = {"n": 0}
    if how == "safetensors":
        real_save = io.save_file

        def save_file(tensors, filename, metadata=None):
            if Path(filename).name.startswith(f".{target}."):
                calls["n"] += 1
                if calls["n"] == nth:
                    raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                                          'message: "No space left on device" })')
            return real_save(tensors, filename, metadata=metadata)

        monkeypatch.setattr(io, "save_file", save_file)
    else:
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            if Path(dst).name == target:
                calls["n"] += 1
                if calls["n"] == nth:
                    code = errno.EROFS if how == "readonly" else errno.ENOSPC
                    raise OSError(code, os.strerror(code))
            return real_replace(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("target,nth,how", [
    (io.CHECKPOINT, 2, "safetensors"),  # the full disk of the issue: SafetensorError escaped
    (io.CHECKPOINT, 3, "replace"),
    (io.LOG, 2, "replace"),
    (io.WEIGHTS, 1, "safetensors"),  # the final write
    (io.METRICS, 1, "replace"),
    (io.CHECKPOINT, 2, "readonly"),
])
def test_a_full_disk_is_one_line_and_keeps_the_previous_state(capsys, tmp_path, monkeypatch, target, nth, how):
    data = csv_data(tmp_path)
    out = tmp_path / "R"
    args = ["train", "ae", "--data", data, *CLI_TINY, "--epochs", "4", "--lr", "3e-3", "--out", out]
    full = tmp_path / "full"
    assert main([str(a) for a in args[:-1]] + [str(full)]) == 0
    capsys.readouterr()
    with monkeypatch.context() as m:
        full_disk_at(m, target, nth, how)
        rc, err = cli(capsys, *args)
    line = error_after_work(rc, err)
    reason = "Read-only file system" if how == "readonly" else "No space left on device"
    assert f"cannot write {out / target}: {reason}" in line, line
    assert "then resume with --resume (the last checkpoint is kept)" in line
    assert rundir.temp_files(out) == []
    state = load_checkpoint(out / io.CHECKPOINT)  # the previous checkpoint loads, the log agrees or runs ahead
    assert epochs_logged(out)[:state["epoch"]] == list(range(1, state["epoch"] + 1))
    rc, err = cli(capsys, "train", "--resume", "--out", out)
    assert rc == 0, err
    assert epochs_logged(out) == [1, 2, 3, 4]
    for k, v in aekit.load(full).state_dict().items():
        assert torch.equal(v, aekit.load(out).state_dict()[k]), k


def test_a_full_disk_before_the_first_checkpoint_says_nothing_was_kept(capsys, tmp_path, monkeypatch):
    out = tmp_path / "R"
    full_disk_at(monkeypatch, io.CHECKPOINT, 1, "safetensors")
    rc, err = cli(capsys, "train", "ae", "--data", csv_data(tmp_path), *CLI_TINY, "--epochs", "2", "--out", out)
    line = one_error_line(rc, err)
    assert "No space left on device" in line and "train again (no checkpoint was written)" in line
    assert not out.exists()


# ---- 6. what a divergence says ----------------------------------------------------------------------------------
def test_a_divergence_in_epoch_one_does_not_claim_a_kept_checkpoint(capsys, tmp_path):
    out = tmp_path / "R"
    rc, err = cli(capsys, "train", "ae", "--data", csv_data(tmp_path), *CLI_TINY, "--epochs", "1", "--lr", "1e30",
                  "--out", out)
    line = one_error_line(rc, err)
    assert "diverged" in line and "kept" not in line and "no checkpoint was written" in line
    assert not out.exists()


def test_a_divergence_after_a_checkpoint_names_the_folder_that_keeps_it(tmp_path):
    data = toy_data()
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", on_epoch_end=stop_after(2), **SETTINGS)
    with pytest.raises(TrainingDiverged, match=f"the last good checkpoint is kept in {tmp_path / 'R'}.*resume"):
        aekit.train("ae", data, out=tmp_path / "R", resume=True, **{**SETTINGS, "lr": 1e30})
    assert load_checkpoint(tmp_path / "R" / io.CHECKPOINT)["epoch"] == 2


# ---- 7. time goes on across a resume ------------------------------------------------------------------------------
def test_log_time_and_train_seconds_continue_across_resume(tmp_path):
    data = toy_data()
    with pytest.raises(Stop):
        aekit.train("ae", data, out=tmp_path / "R", on_epoch_end=stop_after(2), **SETTINGS)
    before = float(log_rows(tmp_path / "R")[-1]["time"])
    assert load_checkpoint(tmp_path / "R" / io.CHECKPOINT)["train_seconds"] == before
    run = aekit.train("ae", data, out=tmp_path / "R", resume=True, **SETTINGS)
    times = [float(r["time"]) for r in log_rows(tmp_path / "R")]
    assert times == sorted(times) and times[2] > before, times
    assert run.metrics["train_seconds"] >= times[-1] > before


def test_time_excludes_the_callers_epoch_hook(tmp_path):
    """``time`` counts training: a slow on_epoch_end (a benchmark's scoring) is not in it."""
    rows = []

    def slow(row):
        rows.append(row)
        time.sleep(0.5)

    result = aekit.train("ae", toy_data(), on_epoch_end=slow, **{**SETTINGS, "epochs": 2})
    assert rows[1]["time"] - rows[0]["time"] < 0.5
    assert result.metrics["train_seconds"] < rows[1]["time"] + 0.5


def test_train_resumably_counts_each_training_second_once(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks._common import train_resumably

    data, out = toy_data(), tmp_path / "R"
    with pytest.raises(Stop):
        train_resumably("ae", data, out=out, score=stop_after(2), **SETTINGS)
    first = io.read_json(out / "progress.json")["train_seconds"]
    run, state = train_resumably("ae", data, out=out, **SETTINGS)
    times = [float(r["time"]) for r in log_rows(out)]
    assert first == pytest.approx(times[0], abs=1e-3)  # recorded after epoch 1; the score stopped epoch 2's
    assert state["train_seconds"] == pytest.approx(times[-1], abs=1e-3)


# ---- 8. a finite blow-up is a divergence ----------------------------------------------------------------------
def test_a_finite_blow_up_is_a_divergence(tmp_path):
    """Adam at lr 10 drives an SSE autoencoder's loss to ~1e14 within the first epoch, finite all along: it
    is refused like a NaN, with the fix (it ended "run saved" before)."""
    with pytest.raises(TrainingDiverged, match=r"mean loss recon is .*e\+\d\d, over 1e\+06 times the first step's"):
        aekit.train("ae", toy_data(), out=tmp_path / "R", loss="sse", **{**SETTINGS, "lr": 10.0, "schedule": "none"})
    assert not (tmp_path / "R").exists()


@pytest.mark.parametrize("name", ["vae", "aae", "acai", "sparse", "contractive", "vqvae", "infomax"])
def test_ordinary_training_is_not_a_blow_up(name):
    """Terms from ~0 (a VAE's KL, penalties), adversarial players and InfoMax's MI estimates train at a brisk
    lr without a false alarm."""
    images = name == "infomax"  # its encoder is DIM's, for 32x32 images
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0)) if images else toy_data().x
    settings = {**SETTINGS, "epochs": 3, "lr": 1e-2, **({"hidden": None} if images else {})}
    settings = {k: v for k, v in settings.items() if v is not None}
    rows = []
    aekit.train(name, ArrayDataset(x=x, name="toy"), on_epoch_end=rows.append, **settings)
    assert len(rows) == 3


# ---- 9. the crash harness, short ----------------------------------------------------------------------------------
def test_runs_killed_at_chosen_moments_resume_bitwise_equal(tmp_path):
    """benchmarks/crash.py --quick: SIGKILL before the first checkpoint, inside a checkpoint and a log write and
    inside the final write; each continued run loads, equals the uninterrupted one bit for bit, logs every
    epoch once, and leaves no stray file."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import crash

    records = crash.run_trials(quick=True, work=tmp_path)
    assert len(records) == 4 and all(r["child"] == "killed" for r in records), records
    assert all(r["ok"] for r in records), [r for r in records if not r["ok"]]


def test_a_loss_running_off_below_names_the_loss_not_the_lr():
    """BCE on data outside [0, 1] is unbounded below: it trains to -1e7 and beyond, finite (it ended "run
    saved"). The line says the loss does not fit the data and that resuming will not help. (The loop is
    called directly: `aekit train` may refuse such a loss up front.)"""
    from aekit.train import TrainConfig, fit

    x = torch.rand(256, 12, generator=torch.Generator().manual_seed(0)) * 11 - 6  # in [-6, 5]
    torch.manual_seed(0)
    model = aekit.build("ae", input_shape=[12], latent_dim=3, hidden=[16], loss="bce")
    cfg = TrainConfig(epochs=40, batch_size=32, lr=1e-2, progress=False)
    with pytest.raises(TrainingDiverged, match=r"mean loss recon is -.*the loss is unbounded below on this data: "
                                               r"train a new run with a loss that fits it"):
        fit(model, ArrayDataset(x=x, name="toy"), cfg)


def test_an_out_that_cannot_be_a_folder_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AekitError, match="cannot create the run folder .*notes.txt.*choose another --out"):
        aekit.train("ae", toy_data(), out=tmp_path / "notes.txt", **SETTINGS)
    assert (tmp_path / "notes.txt").read_text() == "mine"
