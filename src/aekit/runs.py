"""Train a model into a run directory a user keeps: the Python API behind ``aekit train``.

Every user mistake is caught before the directory is created; a run that fails later keeps only
what is worth keeping (its config and last good checkpoint, to resume), never a half-written file.
One process trains into a folder at a time: it holds the folder's lock (:mod:`aekit.rundir`) throughout.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import torch

from aekit import io, notices, rundir
from aekit.atomic import WriteFailed
from aekit.data.frontend import save_frontend
from aekit.data_settings import check_model_fits, settings_for_data
from aekit.errors import AekitError
from aekit.evaluate import evaluate_model
from aekit.models.base import Model
from aekit.registry import build, complete_hparams
from aekit.settings import make_train_config, split_settings
from aekit.train import TrainConfig, fit
from aekit.train.loop import launched
from aekit.train.phases import resolve_phase_options
from aekit.train.sources import is_stream


def _data_description(data) -> dict[str, Any]:
    return data.describe() if hasattr(data, "describe") else {"name": type(data).__name__}


def train(model: str | Model, data, *, test=None, out: str | Path | None = None,
          config: TrainConfig | None = None, resume: bool = False, evaluate: bool = True,
          data_source: dict | None = None, on_epoch_end=None, **settings: Any) -> io.Run:
    """Train ``model`` (a registered name or a built model) on ``data``; return the ``Run``.

    ``settings`` are model hyperparameters and training settings together (``latent_dim=30,
    epochs=20, lr=1e-3``), routed as ``--set`` routes them. With ``out`` the run is saved there.
    ``data_source`` records how to reload the data (used by ``aekit train --resume``). A folder holding a
    run that stopped before its first checkpoint is trained again from the start, with or without
    ``resume`` (there is nothing to resume, and nothing to keep), and stderr says so.
    """
    name = model if isinstance(model, str) else model.name
    hparams, train_values = split_settings(name, settings)
    cfg = config or make_train_config(train_values)
    if config is not None and train_values:
        cfg = make_train_config({**config.to_dict(), **train_values})
    out_path = Path(out) if out is not None else None
    # decided before Fabric starts, so that every DDP process (which re-runs up to here) agrees
    restart = out_path is not None and rundir.contents(out_path) == "unstarted"
    resume = resume and not restart
    if isinstance(model, str):
        hparams = settings_for_data(name, hparams, data)  # loss=auto chosen, a loss that cannot fit refused
        torch.manual_seed(cfg.seed)  # the weights' initialisation is part of the seeded run
        model = build(name, **{"input_shape": list(data.item_shape), **hparams})
    elif hparams:
        raise AekitError("model settings apply to a model name, not to an already built model")
    else:
        check_model_fits(model, data)
    closed_form = model.closed_form
    resolve_phase_options(model, cfg.phase_options)  # a phase the model lacks: refused before anything is written
    if not is_stream(data):
        model.check_fields(data.batch_fields(), "training")
        if min(cfg.batch_size, len(data)) < 2 and not closed_form and any(
                isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise AekitError(f"batch normalisation needs at least 2 examples per batch, got batch_size="
                             f"{cfg.batch_size} and n_samples={len(data)}: raise batch_size (and use more than one "
                             f"example), or use norm 'layer' or none")
    if test is not None:
        model.check_fields(test.batch_fields(), "test")
    # Built before Fabric starts (the phases it declares decide how DDP is set up); under DDP every process
    # builds the same weights from the seed. Only process 0 may write.
    with launched(cfg, enabled=not closed_form, phases=len(model.phases)) as fabric:
        is_zero = fabric is None or fabric.is_global_zero
        writer = out_path is not None and is_zero
        created = writer and not out_path.exists()
        had_lock = writer and (out_path / rundir.LOCK).exists()
        with rundir.claimed(out_path) if writer else contextlib.nullcontext():
            # checked under the lock: what another process did before we got it counts
            holds = rundir.contents(out_path) if writer else None
            if holds == "run" and not resume:
                raise AekitError(f"{out_path} already holds a run: choose another --out, delete it, or pass --resume")
            if holds == "unstarted":
                notices.say(f"{out_path} holds a run that stopped before its first checkpoint (nothing to "
                            f"resume): training it again from the start")
            return _train_in(model, name, data, test, out_path, cfg, resume, evaluate, data_source, on_epoch_end,
                             fabric, is_zero, created, had_lock)


def _train_in(model, name: str, data, test, out_path: Path | None, cfg: TrainConfig, resume: bool, evaluate: bool,
              data_source, on_epoch_end, fabric, is_zero: bool, created: bool, had_lock: bool) -> io.Run:
    """``train`` once the folder is ours: fit, then write the run's final files. ``created``: the folder did
    not exist before; ``had_lock``: its lock file did (a folder that existed is left as it was on failure)."""
    closed_form = model.closed_form
    run_config = {"model": name, "hparams": model.hparams, "train": cfg.to_dict(),
                  "data": {**_data_description(data), **({"source": data_source} if data_source else {})},
                  "versions": io.versions()}
    writer = out_path is not None and is_zero
    if out_path is not None and resume:
        saved = io.read_run_config(out_path)  # checked against its schema before any setting is used
        if saved.get("model") != name or complete_hparams(name, saved.get("hparams") or {}) != model.hparams:
            raise AekitError(f"--resume: {out_path} holds a {saved.get('model')!r} run with other settings; "
                             f"resume it with its own settings or choose another --out")
        _say_changed_settings(saved.get("train") or {}, cfg)
    try:
        if writer and not resume:
            io.write_json(out_path / io.CONFIG, run_config)

        def epoch_done(row):  # what was chosen for the user is said once an epoch has trained, not with an error
            notices.release()
            if on_epoch_end is not None:
                on_epoch_end(row)

        result = fit(model, data, cfg, run_dir=out_path, val_data=test, resume=resume, on_epoch_end=epoch_done,
                     fabric=fabric)
        metrics: dict[str, Any] = {"train_seconds": round(result.train_seconds, 3),
                                   "epochs": None if closed_form else cfg.epochs}
        if result.history:
            metrics["final"] = {k: v for k, v in result.history[-1].items() if k.startswith(("train_", "val_"))}
        if result.is_global_zero and evaluate and test is not None and not is_stream(test):
            metrics.update(evaluate_model(model, test, train=None if is_stream(data) else data,
                                          batch_size=cfg.eval_batch_size))
        run = io.Run(model=model, config=run_config, metrics=metrics, path=out_path, is_main=result.is_global_zero,
                     frontend=data.frontend)
        if writer:
            if resume:  # the run was continued with these settings (e.g. more epochs): its config says so
                io.write_json(out_path / io.CONFIG, run_config)
            if data.frontend is not None:
                save_frontend(out_path, data.frontend)
            io.save_model(out_path, model)
            io.write_json(out_path / io.METRICS, metrics)
        return run
    except BaseException as e:  # a user error, a full disk, a crash or Ctrl-C
        kept = writer and (out_path / io.CHECKPOINT).exists()
        if writer and not resume and not kept:
            # nothing worth keeping: no half-written run, and a folder that existed before is left as it was
            if created:
                shutil.rmtree(out_path, ignore_errors=True)
            else:
                for leftover in (io.CONFIG, io.LOG, *(() if had_lock else (rundir.LOCK,))):
                    (out_path / leftover).unlink(missing_ok=True)
        if isinstance(e, WriteFailed) and writer:  # what the user can do about the run, in the same line
            raise WriteFailed(e.path, e.reason, then="then resume with --resume (the last checkpoint is kept)"
                              if kept else "then train again (no checkpoint was written)") from None
        raise


# Settings the loop itself reports when a resume changes them (with the step they apply from).
_SAID_BY_THE_LOOP = ("lr", "betas", "weight_decay", "phase_options")


def _say_changed_settings(saved: dict[str, Any], cfg: TrainConfig) -> None:
    """A setting given again on resume applies from the checkpoint on, and is said; never silently ignored. The
    optimiser cannot change: the checkpoint holds the moments of the one it was trained with."""
    now = cfg.to_dict()
    changed = {k: (saved[k], v) for k, v in now.items() if k in saved and _jsonish(saved[k]) != _jsonish(v)}
    if "optimizer" in changed:
        old, new = changed["optimizer"]
        raise AekitError(f"--resume: the checkpoint holds {old} optimiser state, which {new} cannot continue: resume "
                         f"with optimizer={old}, or train a new run with optimizer={new}")
    for key, (old, new) in changed.items():
        if key not in _SAID_BY_THE_LOOP:
            notices.say(f"resume: {key} {old} -> {new}, from the checkpoint on")


def _jsonish(value: Any) -> Any:
    """A setting as config.json holds it (tuples are lists there), so equal settings compare equal."""
    return [_jsonish(v) for v in value] if isinstance(value, (list, tuple)) else value
