"""Training state to one safetensors file: weights, optimiser moments, RNG state; structure in metadata.

Optimiser and scheduler state dicts are nested Python structures with tensors inside; the tensors go
into the safetensors payload under generated keys and the rest into a JSON "skeleton", so resuming
never unpickles anything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from aekit.errors import AekitError
from aekit.io import load_tensors, read_metadata, save_tensors


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


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__tuple__" in obj:
        return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    save_tensors(path, tensors, metadata={"aekit_checkpoint": json.dumps(skeleton)})


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    meta = read_metadata(path)
    if "aekit_checkpoint" not in meta:
        raise AekitError(f"{path} is not an aekit training checkpoint: delete it or start a new run")
    return _unflatten(json.loads(meta["aekit_checkpoint"]), load_tensors(path))
