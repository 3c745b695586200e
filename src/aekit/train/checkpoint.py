"""Training state to one safetensors file: weights, optimiser moments, RNG state; structure in metadata.

Optimiser and scheduler state dicts are nested Python structures with tensors inside; the tensors go
into the safetensors payload under generated keys and the rest into a JSON "skeleton", so resuming
never unpickles anything.

A checkpoint is read in two passes. First its structure, from the file's header alone (the skeleton, and
each tensor's name, shape and dtype as a ``meta`` tensor): the keys and types training needs, epoch and step
that agree with each other and with the schedulers, an RNG state torch can take and, when the loop passes
them, weights and optimiser state that fit the model and optimisers they will be loaded into. Only then are
the numbers read. A damaged or foreign checkpoint is one line naming the file and the fix, never a
``KeyError`` from inside torch, and int64 weights are never cast silently into a float model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from aekit.errors import AekitError
from aekit.io import check_state, kind, load_tensors, read_header, save_tensors

KEY = "aekit_checkpoint"  # the metadata entry holding the skeleton
FIX = "delete it to train anew (without --resume), or restore it"


class _Damaged(Exception):
    """What is wrong with a checkpoint's structure (becomes one AekitError naming the file)."""


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        # JSON keys are strings: remember int keys (optimiser state is keyed by parameter index).
        return {"__dict__": [[k, _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):  # Adam's betas are a tuple; keep the type so state dicts compare equal
        return {"__tuple__": [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _unflatten(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            if not isinstance(obj["__tensor__"], str) or obj["__tensor__"] not in tensors:
                raise _Damaged(f"it refers to a tensor {str(obj['__tensor__'])[:40]!r} it does not hold")
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__tuple__"} and isinstance(obj["__tuple__"], list):
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        pairs = obj.get("__dict__") if set(obj) == {"__dict__"} else None
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 and
                                                   isinstance(p[0], (str, int)) for p in pairs):
            raise _Damaged("its structure is not one aekit writes")
        return {k: _unflatten(v, tensors) for k, v in pairs}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    save_tensors(path, tensors, metadata={KEY: json.dumps(skeleton)})


def load_checkpoint(path: str | Path, model=None, optimizers: Mapping[str, torch.optim.Optimizer] | None = None
                    ) -> dict[str, Any]:
    """The training state saved at ``path``, read only after :func:`check_checkpoint` passed."""
    skeleton = check_checkpoint(path, model, optimizers)
    return _unflatten(skeleton, load_tensors(path))


def check_checkpoint(path: str | Path, model=None, optimizers: Mapping[str, torch.optim.Optimizer] | None = None
                     ) -> Any:
    """Check the checkpoint at ``path`` from its header alone (see the module docstring); with ``model`` (which
    may live on the ``meta`` device) and ``optimizers`` (phase -> optimiser, as the loop builds them) also that
    it fits them. Returns its JSON skeleton."""
    meta, specs = read_header(path, fix=FIX)
    if KEY not in meta:
        raise AekitError(f"{path} is not an aekit training checkpoint: {FIX}")
    try:
        try:
            skeleton = json.loads(meta[KEY])
        except ValueError as e:
            raise _Damaged(f"its metadata is not valid JSON ({e})") from None
        state = _unflatten(skeleton, specs)
        _check_structure(state)
        if optimizers is not None:
            _check_optimizers(state, optimizers)
    except (_Damaged, RecursionError) as e:  # RecursionError: JSON nested deeper than Python's stack
        raise AekitError(f"{path} is a damaged or foreign training checkpoint: {e}; {FIX}") from None
    if model is not None:
        check_state(model.state_dict(), state["model"], str(path), fix=f"it was written for another model; {FIX}")
    return skeleton


# ---- what a checkpoint must hold -----------------------------------------------------------------------------
REQUIRED = ("model", "optimizers", "schedulers", "rng", "epoch", "step")
OPTIONAL = ("phases", "total_steps", "train_seconds", "loss_scale")  # checkpoints of earlier releases lack them


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise _Damaged(what)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_structure(state: Any) -> None:
    from aekit.schema import fits, hint_of_default

    _require(isinstance(state, dict), "it holds no training state")
    missing = [k for k in REQUIRED if k not in state]
    _require(not missing, f"it lacks {', '.join(missing)}")
    unknown = sorted(str(k) for k in set(state) - set(REQUIRED) - set(OPTIONAL))
    _require(not unknown, f"it holds unknown entries {', '.join(unknown)}")
    _require(isinstance(state["model"], dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in state["model"].items()), "its weights are not tensors")

    optimizers, schedulers = state["optimizers"], state["schedulers"]
    _require(isinstance(optimizers, list) and optimizers and isinstance(schedulers, list)
             and len(schedulers) == len(optimizers), "it needs one optimiser and one scheduler state per phase")
    phases = state.get("phases", [f"#{i}" for i in range(len(optimizers))])
    _require(isinstance(phases, list) and len(phases) == len(optimizers) and len(set(map(str, phases))) == len(phases)
             and all(isinstance(p, str) for p in phases), "its phases do not match its optimisers")
    for opt in optimizers:
        _check_optimizer_shape(opt)

    epoch, step, total = state["epoch"], state["step"], state.get("total_steps")
    _require(_is_int(epoch) and _is_int(step) and 0 <= epoch <= step,
             f"epoch {epoch!r} and step {step!r} must be whole numbers with 0 <= epoch <= step (each epoch takes a step)")
    _require(total is None or (_is_int(total) and step <= total), f"step {step} is past its total_steps {total!r}")
    for key, hint in (("train_seconds", float), ("loss_scale", float | None)):
        value = state.get(key)
        _require(value is None or (fits(value, hint) and value >= 0), f"its {key} {value!r} is not a number >= 0")

    template = _scheduler_template()
    for sch, opt in zip(schedulers, optimizers):
        _require(isinstance(sch, dict), "a scheduler state is not a mapping")
        unknown = sorted(str(k) for k in set(sch) - set(template))
        _require(not unknown, f"a scheduler state has unknown entries {', '.join(unknown)}")
        bad = [k for k, v in sch.items() if not fits(v, hint_of_default(template[k]))]
        _require(not bad, f"a scheduler state has values of the wrong type in {', '.join(bad)}")
        groups = len(opt["param_groups"])
        _require(all(len(sch.get(k, [None] * groups)) == groups for k in ("base_lrs", "_last_lr", "lr_lambdas"))
                 and all(lr > 0 for lr in sch.get("base_lrs", [])),
                 "a scheduler's learning rates do not match its optimiser's parameter groups")
        # LambdaLR saves the state of lr functions that are objects; the loop's are plain functions, saving None
        _require(all(f is None for f in sch.get("lr_lambdas", [])), "a scheduler holds state for lr functions it lacks")
        _require(sch.get("last_epoch", step) == step,
                 f"a scheduler has taken {sch.get('last_epoch')} steps, the checkpoint says {step}")

    rng, want = state["rng"], torch.get_rng_state()
    _require(isinstance(rng, torch.Tensor) and rng.dtype == want.dtype and rng.shape == want.shape,
             f"its random number state is not torch's ({want.numel()} bytes)")


def _check_optimizer_shape(opt: Any) -> None:
    _require(isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)
             and opt["param_groups"], "an optimiser state lacks its state or parameter groups")
    indices: list[int] = []
    for group in opt["param_groups"]:
        _require(isinstance(group, dict) and isinstance(group.get("params"), list)
                 and all(_is_int(i) for i in group["params"]), "an optimiser's parameter group is damaged")
        indices += group["params"]
    _require(len(set(indices)) == len(indices), "an optimiser lists a parameter twice")
    for index, entry in opt["state"].items():
        _require(index in indices and isinstance(entry, dict) and all(isinstance(k, str) for k in entry),
                 f"an optimiser holds state for parameter {index!r}, which it does not list")


def _check_optimizers(state: dict, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
    """The saved optimiser state of each phase fits the optimiser the loop built for it: the same parameter
    groups and indices, every setting of the same type, and for each parameter the entries this optimiser
    writes (``_entries``), each a tensor of the parameter's shape or a scalar, as this optimiser has them."""
    from aekit.schema import fits, hint_of_default

    saved_phases = state.get("phases", list(optimizers))
    if set(saved_phases) != set(optimizers):  # the loop says which phases differ
        return
    for phase, saved in zip(saved_phases, state["optimizers"]):
        live = optimizers[phase]
        template = live.state_dict()
        other = f"it holds optimiser state for other parameters in phase {phase!r}"
        _require(len(saved["param_groups"]) == len(template["param_groups"]), other)
        shapes: dict[int, torch.Size] = {}
        for group, want, params in zip(saved["param_groups"], template["param_groups"], live.param_groups):
            _require(group["params"] == want["params"], other)
            missing = sorted(set(want) - set(group))
            _require(not missing, f"phase {phase!r}: its optimiser settings lack {', '.join(missing)}")
            bad = [k for k, v in group.items() if k in want and not fits(v, hint_of_default(want[k]))]
            _require(not bad, f"phase {phase!r}: optimiser settings of the wrong type in {', '.join(bad)}")
            shapes.update({i: p.shape for i, p in zip(want["params"], params["params"])})
        entries = _entries(live)
        for index, entry in saved["state"].items():
            _require(set(entry) == set(entries), f"{other} (parameter {index} has {', '.join(sorted(entry))}; "
                                                 f"this optimiser keeps {', '.join(sorted(entries))})")
            for name, value in entry.items():
                shape = shapes[index] if entries[name] else torch.Size([])
                _require(isinstance(value, torch.Tensor) and kind(value.dtype) == "floating" and value.shape == shape,
                         f"{other} ({name} of parameter {index} is "
                         f"{f'{value.dtype} {tuple(value.shape)}' if isinstance(value, torch.Tensor) else repr(value)}"
                         f", not a float tensor of shape {tuple(shape)})")


def _entries(optimizer: torch.optim.Optimizer) -> dict[str, bool]:
    """What ``optimizer`` keeps per parameter, found by letting an optimiser of its class and settings take one
    step on a small parameter: entry name -> whether it has the parameter's shape (else it is a scalar)."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # Fabric wraps the optimiser it was given
    param = torch.zeros(2, requires_grad=True)
    param.grad = torch.zeros(2)
    probe = type(optimizer)([param], **optimizer.defaults)
    probe.step()
    return {k: isinstance(v, torch.Tensor) and v.shape == param.shape for k, v in probe.state[param].items()}


_TEMPLATE: dict[str, Any] = {}


def _scheduler_template() -> dict[str, Any]:
    """What torch's LambdaLR (the loop's scheduler) saves: the keys and value types a checkpoint may hold."""
    if not _TEMPLATE:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        _TEMPLATE.update(torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0).state_dict())
    return _TEMPLATE
