"""The one training loop: every model, every phase, on Lightning Fabric (devices, DDP, precision).

For each batch and each phase the model declares: zero that phase's gradients, sum its losses,
backward, clip, step. Adversarial models get their alternating updates from ``phases`` alone.
Checkpoints hold everything needed to continue bit for bit: weights, optimiser and scheduler
state, the RNG state and the epoch; batch order is a function of (seed, epoch) only.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from lightning_fabric import Fabric

from aekit import notices
from aekit.data.batch import move_fields
from aekit.errors import AekitError
from aekit.io import CHECKPOINT
from aekit.train.checkpoint import load_checkpoint, save_checkpoint
from aekit.train.config import TrainConfig
from aekit.train.logger import MetricLogger
from aekit.train.phases import PhaseContext, PhaseOptions, resolve_phase_options
from aekit.train.sources import epoch_batches, in_order, is_stream, steps_in_epoch


class TrainingDiverged(AekitError):
    """A loss became NaN, infinite or blew up; the last good checkpoint, if any, is kept."""


# An epoch's mean loss term this many times larger in magnitude than all the loss terms together at the
# first step has blown up, though still finite (weights pushed to ~1e7 by a huge lr, a loss unbounded
# below). Magnitudes, not values: MI and ELBO terms are legitimately negative, and a term near zero at
# the start (a KL, a sparsity penalty) is measured against the whole loss, not against itself.
BLOWUP_FACTOR = 1e6


def _blown_up(means: dict[str, float], scale: float) -> list[str]:
    """The loss terms whose epoch means are ``BLOWUP_FACTOR`` times the first step's total magnitude."""
    if scale == 0:  # every term exactly 0 at the first step: no scale to measure against
        return []
    return [k for k, v in means.items() if abs(v) > BLOWUP_FACTOR * scale]


def _diverged(where: str, what: str, kept_in: Path | None, unbounded: bool = False) -> TrainingDiverged:
    """The one line for a run that diverged, saying what is true of its folder: a checkpoint to resume from
    is kept, or there is none (a run that diverges before its first checkpoint leaves nothing). A loss that
    ran off to minus a huge number (``unbounded``) does not fit the data, whatever the lr: resuming cannot
    help, another loss is another run."""
    if unbounded:
        return TrainingDiverged(f"training diverged {where}: {what}; the loss is unbounded below on this data: "
                                f"train a new run with a loss that fits it (BCE needs data in [0, 1]; e.g. loss=mse)")
    fix = "lower lr, set grad_clip=1 or precision=32-true"
    then = (f"the last good checkpoint is kept in {kept_in}: {fix}, then resume" if kept_in is not None
            else f"no checkpoint was written: {fix}, and train again")
    return TrainingDiverged(f"training diverged {where}: {what}; {then}")


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch (also in log.csv)
    # wall time spent training the run's epochs, over every call that trained them (resumes continue the
    # clock the checkpoint recorded); not counting the caller's on_epoch_end
    train_seconds: float = 0.0
    epochs_done: int = 0
    is_global_zero: bool = True  # False in the other DDP processes: they must not write or print


def _make_optimizer(params, cfg: TrainConfig, options: PhaseOptions) -> torch.optim.Optimizer:
    o = options.optimizer_settings(cfg.lr, cfg.betas, cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, **o)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, **o)
    return torch.optim.SGD(params, lr=o["lr"], momentum=0.9, weight_decay=o["weight_decay"])


def lr_factor(step: int, total: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Multiplier of the peak lr at ``step``: linear warm-up, then none / cosine / linear decay."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "none":
        return 1.0
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    shape = 0.5 * (1 + math.cos(math.pi * t)) if cfg.schedule == "cosine" else 1 - t
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * shape


def _evaluate(module, fields, batch_size: int) -> dict[str, float]:
    """Mean of each loss term of ``forward`` over every item of ``fields``, in eval mode."""
    module.eval()
    sums: dict[str, float] = {}
    n = 0
    with torch.no_grad():
        for batch in in_order(fields, batch_size):
            for k, v in module(batch).losses.items():
                sums[k] = sums.get(k, 0.0) + float(v) * batch.size
            n += batch.size
    module.train()
    return {k: v / n for k, v in sums.items()}


def launch(cfg: TrainConfig, phases: int = 1) -> Fabric:
    """Start Fabric (under DDP this starts the other processes, which re-run the command up to here).

    A model with several ``phases`` leaves some parameters without gradients in each phase (the critic's
    in the autoencoder's step, and the other way round), which DDP must be told to expect.
    """
    strategy: object = cfg.strategy
    if cfg.strategy == "ddp" and phases > 1:
        from lightning_fabric.strategies import DDPStrategy

        strategy = DDPStrategy(find_unused_parameters=True)
    try:
        fabric = Fabric(accelerator=cfg.accelerator, devices=cfg.devices, strategy=strategy,
                        precision=cfg.precision)
    except (ValueError, RuntimeError) as e:  # Lightning's word on a bad accelerator/strategy/precision
        raise AekitError(f"cannot train with accelerator={cfg.accelerator!r}, devices={cfg.devices}, "
                         f"strategy={cfg.strategy!r}, precision={cfg.precision!r}: {' '.join(str(e).split())}") from None
    fabric.launch()
    return fabric


@contextlib.contextmanager
def launched(cfg: TrainConfig, enabled: bool = True, phases: int = 1) -> Iterator[Fabric | None]:
    """``launch(cfg)`` for the length of a ``with`` block, then end a multi-process run cleanly.

    Without the clean end a process can exit while gloo's threads still run, and the C++ runtime aborts
    it ("terminate called without an active exception") although training succeeded. The barrier is
    skipped on an error, where the other processes may never reach it.
    """
    fabric = launch(cfg, phases) if enabled else None
    multi = fabric is not None and fabric.world_size > 1
    try:
        yield fabric
        if multi:
            fabric.barrier()
    finally:
        if multi and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def fit(model, data, cfg: TrainConfig | None = None, *, run_dir: str | Path | None = None, val_data=None,
        resume: bool = False, on_epoch_end: Callable[[dict], None] | None = None,
        fabric: Fabric | None = None) -> FitResult:
    """Train ``model`` on ``data`` (an ``ArrayDataset`` or a stream) with settings ``cfg``.

    ``run_dir`` receives ``log.csv`` then ``checkpoint.safetensors`` after every epoch; with ``resume``
    training continues from that checkpoint. ``on_epoch_end(row)`` is called after each checkpoint; its
    time is not counted in the rows' ``time`` (training seconds of the run so far).
    Pass ``fabric`` when the caller launched it already (to write files from the first process only).
    """
    cfg = cfg or TrainConfig()
    run_dir = Path(run_dir) if run_dir is not None else None
    if model.closed_form:
        if is_stream(data):
            raise AekitError(f"model {model.name!r} is fitted in closed form and needs in-memory data, not a stream")
        t0 = time.perf_counter()
        model.check_fields(data.batch_fields(), "training")
        model.fit_closed_form(data.x)
        return FitResult(train_seconds=time.perf_counter() - t0, epochs_done=1)

    phases = tuple(model.phases)
    options = resolve_phase_options(model, cfg.phase_options)  # a bad phase name fails before Fabric starts
    stream = is_stream(data)
    for what, d in (("training", data), ("validation", val_data)):
        if d is not None and not is_stream(d):
            model.check_fields(d.batch_fields(), what)
    fabric = fabric or launch(cfg, len(phases))
    rank, world = fabric.global_rank, fabric.world_size
    writes = fabric.is_global_zero and run_dir is not None

    fields = None if stream else move_fields(data.batch_fields(), fabric.device)
    val_fields = None if val_data is None else move_fields(val_data.batch_fields(), fabric.device)
    steps = steps_in_epoch(data, None if stream else int(fields["x"].shape[0]), cfg.batch_size, world,
                           cfg.steps_per_epoch)
    if steps == 0:
        raise AekitError("streaming data needs steps_per_epoch: pass --set steps_per_epoch=N")
    total = steps * cfg.epochs

    optimizers = []
    for phase in phases:
        params = [p for p in model.phase_parameters(phase) if p.requires_grad]
        if not params:
            raise AekitError(f"model {model.name!r} has no trainable parameters in phase {phase!r}")
        optimizers.append(_make_optimizer(params, cfg, options[phase]))
    module, *optimizers = fabric.setup(model, *optimizers)
    module.mark_forward_method("phase_losses")  # DDP syncs gradients only through forward methods
    schedulers = [torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, cfg, steps)) for opt in optimizers]

    start_epoch, step, seconds_before, loss_scale = 0, 0, 0.0, None
    logger = MetricLogger(run_dir, enabled=writes)
    checkpoint_path = run_dir / CHECKPOINT if run_dir is not None else None
    if resume:
        if checkpoint_path is None or not checkpoint_path.exists():
            raise AekitError(f"nothing to resume: no {CHECKPOINT} in {run_dir}; train without --resume")
        state = load_checkpoint(checkpoint_path, model=model, optimizers=dict(zip(phases, optimizers)))
        model.load_state_dict(state["model"])
        saved = tuple(state.get("phases", phases))  # checkpoints before phases were recorded: the model's order
        if sorted(saved) != sorted(phases):
            raise AekitError(f"the checkpoint in {run_dir} trains phases {saved}, model {model.name!r} has "
                             f"{phases}: resume it with the version of aekit that wrote it, or train anew")
        by_phase = dict(zip(saved, zip(state["optimizers"], state["schedulers"])))
        for phase, opt, sch in zip(phases, optimizers, schedulers):  # by name: a model may reorder its phases
            try:
                opt.load_state_dict(by_phase[phase][0])
            except ValueError as e:  # torch: the saved parameter groups have other sizes
                raise AekitError(f"the checkpoint in {run_dir} holds optimiser state for other parameters in "
                                 f"phase {phase!r} (written by another version of aekit?): train anew") from e
            sch.load_state_dict(by_phase[phase][1])
        torch.set_rng_state(state["rng"])
        start_epoch, step = int(state["epoch"]), int(state["step"])
        seconds_before = float(state.get("train_seconds", 0.0))  # checkpoints before it was recorded: 0
        loss_scale = state.get("loss_scale")  # the blow-up test measures against the run's own first step
        if start_epoch > cfg.epochs:  # its model is not the one of `epochs` epochs the caller would report
            raise AekitError(f"the checkpoint in {run_dir} has trained {start_epoch} epochs, more than "
                             f"epochs={cfg.epochs}: resume with epochs >= {start_epoch}")
        for note in _continue_with_settings(phases, optimizers, schedulers, options, cfg, step, total, steps,
                                            state.get("total_steps")):
            if fabric.is_global_zero:
                notices.say(f"resume: {note}")  # held by the CLI until the work begins, like every notice
        logger.load_existing(upto_epoch=start_epoch)
    else:
        torch.manual_seed(cfg.seed * 7919 + rank)  # noise/dropout streams; weights were seeded at build

    result = FitResult(history=logger.rows, train_seconds=seconds_before, is_global_zero=fabric.is_global_zero)
    if start_epoch >= cfg.epochs:
        return result
    module.train()
    kept_in = run_dir if resume and writes else None  # where a checkpoint to go back to is, once one is
    first_step = 0.0
    t_start, callbacks = time.perf_counter(), 0.0  # callbacks: the seconds spent in on_epoch_end

    def seconds() -> float:
        return seconds_before + time.perf_counter() - t_start - callbacks

    try:
        for epoch in range(start_epoch, cfg.epochs):
            sums: dict[str, torch.Tensor] = {}
            bar = _progress(cfg, fabric, steps, epoch)
            for i, batch in enumerate(epoch_batches(data, fields, epoch, cfg.batch_size, cfg.seed, rank, world,
                                                    cfg.steps_per_epoch, fabric.device)):
                model.set_progress(step / total)
                ctx = PhaseContext()  # what one phase leaves the next on this batch, detached
                for phase, opt, sch in zip(phases, optimizers, schedulers):
                    for _ in range(options[phase].steps):
                        opt.zero_grad(set_to_none=True)
                        with fabric.autocast():  # Fabric autocasts only `forward` by itself on one device
                            losses = module.phase_losses(batch, phase, ctx)
                        loss = sum(losses.values())
                        if not torch.isfinite(loss):
                            bad = [k for k, v in losses.items() if not torch.isfinite(v)]
                            raise _diverged(f"at epoch {epoch + 1}, step {step + 1}",
                                            f"loss {', '.join(bad)} is {float(loss.detach())}", kept_in)
                        if loss_scale is None:  # the first step's magnitude of all terms, none cancelling
                            first_step += sum(abs(float(v.detach())) for v in losses.values())
                        fabric.backward(loss)
                        if cfg.grad_clip:
                            fabric.clip_gradients(module, opt, max_norm=cfg.grad_clip)
                        opt.step()
                        for k, v in losses.items():
                            key = k if len(phases) == 1 else f"{phase}/{k}"
                            sums[key] = sums.get(key, 0.0) + v.detach().float() / options[phase].steps
                    sch.step()
                if loss_scale is None:  # the same in every DDP process, which must all stop or go on together
                    loss_scale = float(fabric.all_reduce(torch.tensor(first_step), reduce_op="mean"))
                step += 1
                if bar is not None:
                    bar.update(1)
                    if i % 20 == 0:
                        bar.set_postfix({k: f"{float(v) / (i + 1):.4g}" for k, v in sums.items()})
            if bar is not None:
                bar.close()
            means = {k: float(fabric.all_reduce(v / steps, reduce_op="mean")) for k, v in sums.items()}
            row = {"epoch": epoch + 1, "step": step, "lr": schedulers[0].get_last_lr()[0], "time": 0.0}
            row.update({f"train_{k}": v for k, v in means.items()})
            if val_fields is not None and cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
                row.update({f"val_{k}": v for k, v in _evaluate(module, val_fields, cfg.eval_batch_size).items()})
            row["time"] = round(seconds(), 3)
            broken = [k for k, v in row.items() if k.startswith("val_") and not math.isfinite(v)]
            blown = _blown_up(means, loss_scale or 0.0)
            if broken or blown or not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                # the epoch's last step can break the weights with a still-finite loss: never checkpoint them
                what = (f"the validation loss {', '.join(broken)} is not finite" if broken else
                        f"the mean loss {', '.join(blown)} is {means[blown[0]]:.3g}, over {BLOWUP_FACTOR:g} times "
                        f"the first step's {loss_scale:.3g}" if blown else "the weights became NaN/Inf")
                raise _diverged(f"in epoch {epoch + 1}", what, kept_in,
                                unbounded=bool(blown) and not broken and means[blown[0]] < 0)
            logger.log(row)  # first: a crash before the checkpoint leaves a row the resume drops, never loses one
            if writes:
                save_checkpoint(checkpoint_path, {
                    "model": model.state_dict(), "phases": list(phases),
                    "optimizers": [o.state_dict() for o in optimizers],
                    "schedulers": [s.state_dict() for s in schedulers], "rng": torch.get_rng_state(),
                    "epoch": epoch + 1, "step": step, "total_steps": total, "train_seconds": row["time"],
                    "loss_scale": loss_scale})
                kept_in = run_dir
            result.epochs_done += 1
            if on_epoch_end is not None:
                t = time.perf_counter()
                on_epoch_end(row)
                callbacks += time.perf_counter() - t
    finally:
        result.train_seconds = seconds()
        logger.close()
        model.eval()
    return result


def _continue_with_settings(phases, optimizers, schedulers, options, cfg: TrainConfig, step: int, total: int,
                            steps_per_epoch: int, saved_total: int | None) -> list[str]:
    """A resumed run trains with the settings given now, never silently with the checkpoint's: each phase's
    peak lr, betas and weight decay are today's, and the lr schedule is planned over today's total steps,
    continuing from ``step``. Returns one line for each thing that changed."""
    notes = []
    for phase, opt, sch in zip(phases, optimizers, schedulers):
        want = options[phase].optimizer_settings(cfg.lr, cfg.betas, cfg.weight_decay)
        if sch.base_lrs[0] != want["lr"]:
            notes.append(f"phase {phase!r}: peak lr {sch.base_lrs[0]:g} -> {want['lr']:g} from step {step + 1}")
            sch.base_lrs = [want["lr"] for _ in sch.base_lrs]
        for key in ("betas", "weight_decay"):
            have = opt.param_groups[0].get(key)
            if have is None:  # SGD has no betas
                continue
            if (tuple(have) != tuple(want[key])) if key == "betas" else (have != want[key]):
                notes.append(f"phase {phase!r}: {key} {have} -> {want[key]}")
                for group in opt.param_groups:
                    group[key] = want[key]
        for group, base in zip(opt.param_groups, sch.base_lrs):  # the lr of the next step, on today's plan
            group["initial_lr"], group["lr"] = base, base * lr_factor(step, total, cfg, steps_per_epoch)
    # A constant lr after its warm-up does not depend on the total: more epochs change nothing worth saying.
    decays = cfg.schedule != "none" or step < int(round(cfg.warmup_epochs * steps_per_epoch))
    if decays and saved_total is not None and saved_total != total:
        notes.append(f"the lr schedule ({cfg.schedule}) is planned over {total} steps now (it was {saved_total}); "
                     f"it continues from step {step + 1}")
    return notes


def _progress(cfg: TrainConfig, fabric: Fabric, steps: int, epoch: int):
    if not (cfg.progress and fabric.is_global_zero):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, dynamic_ncols=True, disable=None)
