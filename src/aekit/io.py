"""Files a user keeps: atomic writes, tensors in safetensors, everything else in JSON. Never pickle.

A run directory holds ``config.json`` (model name, hyperparameters, training settings, data description,
versions), ``model.safetensors``, ``metrics.json``, ``log.csv``, ``checkpoint.safetensors`` (to resume)
and pictures. ``load(path)`` rebuilds the model from the first two.
"""
from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from aekit._version import __version__
from aekit.atomic import WriteFailed, atomic_path
from aekit.data.frontend import load_frontend
from aekit.errors import AekitError

CONFIG, WEIGHTS, METRICS, CHECKPOINT, LOG = (
    "config.json", "model.safetensors", "metrics.json", "checkpoint.safetensors", "log.csv",
)


def write_json(path: str | Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


MAX_JSON_BYTES = 64 << 20  # far above any JSON file aekit writes (a config is a few KB, a vocabulary some MB)


def read_json(path: str | Path) -> Any:
    try:
        size = Path(path).stat().st_size
        if size > MAX_JSON_BYTES:  # read whole before any check: a huge file would be read into memory first
            raise AekitError(f"{path} holds {size} bytes, more than the {MAX_JSON_BYTES >> 20} MiB of any JSON file "
                             f"aekit writes: it is not aekit's or is damaged; restore it or retrain")
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AekitError(f"{path} does not exist: is this an aekit run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AekitError(f"{path} is not valid JSON ({e}): the file is damaged; retrain or restore it") from None
    except RecursionError:  # lists nested deeper than Python's stack: no aekit file is
        raise AekitError(f"{path} is nested too deeply to be aekit's JSON: the file is damaged; retrain or "
                         f"restore it") from None


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as e:  # its I/O errors come wrapped: IoError(Os { ..., message: "No space ..." })
            said = re.search(r'message: "([^"]+)"', str(e))
            raise WriteFailed(Path(path), said.group(1) if said else " ".join(str(e).split())) from None


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise AekitError(f"{path} does not exist: the run did not finish; resume it with `aekit train --resume`") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise AekitError(f"{path} is not a readable safetensors file ({e}): it is damaged; retrain or restore it") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    return read_header(path)[0]


def tensor_specs(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file as ``meta`` tensors: their names, shapes and dtypes from the file's
    header alone, so a file can be checked against a model before its data is read or memory allocated."""
    return read_header(path)[1]


def read_header(path: str | Path, fix: str = "retrain or restore it") -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """A safetensors file's metadata and its tensors as ``meta`` tensors (see ``tensor_specs``); a file that
    cannot be read is one line ending in ``fix``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            specs = {}
            for key in f.keys():
                piece = f.get_slice(key)
                specs[key] = torch.empty(piece.get_shape(), dtype=_DTYPES[piece.get_dtype()], device="meta")
            return f.metadata() or {}, specs
    except FileNotFoundError:
        raise AekitError(f"{path} does not exist: the run did not finish; resume it with `aekit train --resume`") from None
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise AekitError(f"{path} is not a readable safetensors file ({e}): it is damaged; {fix}") from None


_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}  # safetensors' dtype names -> torch's (others are refused as KeyError above)


def versions() -> dict[str, str]:
    return {"aekit": __version__, "torch": torch.__version__, "python": platform.python_version()}


# ---- the model of a run --------------------------------------------------------------------------
def save_model(run_dir: str | Path, model) -> None:
    save_tensors(Path(run_dir) / WEIGHTS, model.state_dict())


def kind(dtype: torch.dtype) -> str:
    """What a tensor's numbers are: weights may be stored at another precision, never as another kind."""
    if dtype.is_floating_point:
        return "floating"
    if dtype.is_complex:
        return "complex"
    return "boolean" if dtype == torch.bool else "integer"


def check_state(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str,
                fix: str = "it belongs to another run or is damaged; retrain or restore it") -> None:
    """Refuse ``state`` (tensors, or ``meta`` tensors from a file's header) unless it has exactly the names,
    shapes and kinds of numbers of ``own``: int64 weights would be cast into a float model without a word."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    common = sorted(set(own) & set(state))
    wrong = [f"{k} is {tuple(state[k].shape)}, the model's {tuple(own[k].shape)}" for k in common
             if own[k].shape != state[k].shape]
    kinds = [f"{k} is {state[k].dtype}, the model's {own[k].dtype}" for k in common
             if kind(own[k].dtype) != kind(state[k].dtype)]
    problems = [(what, keys) for what, keys in (("missing", missing), ("unexpected", unexpected),
                                                 ("wrong shape", wrong), ("wrong kind of numbers", kinds)) if keys]
    if problems:
        detail = "; ".join(f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}" for what, keys in problems)
        raise AekitError(f"{source} does not match the model in config.json ({detail}): {fix}")


def load_state(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights strictly; any mismatch means the file is not this model's."""
    check_state(model.state_dict(), state, source)
    model.load_state_dict(state)


@dataclass
class Run:
    """A trained model with what it was trained with and what it measured."""

    model: Any
    config: dict
    metrics: dict = field(default_factory=dict)
    path: Path | None = None
    is_main: bool = True  # False in the other processes of a DDP run: they must not write or print
    frontend: Any = None  # the fitted front end the model's items come from (a text vectoriser), or None


# ---- the one reader of the folders aekit writes ------------------------------------------------------------
INDEX_META = "index.json"  # an index folder's description (apps/search.py writes it)
KINDS = {  # what a folder is, from its JSON: a run of `aekit train`, a classifier of `aekit finetune`, an index
    "run": "an aekit run (the --out of `aekit train`, read by aekit.load_run)",
    "classifier": "an aekit classifier (the --out of `aekit finetune`, read by aekit.apps.finetune.load_classifier)",
    "index": "an aekit index (the --out of `aekit index`, read by `aekit search`)",
}


def kind_of(config: Any, marker: str) -> str | None:
    """What a folder is, from the JSON file ``marker`` it holds: "index", "run" (a config without "kind"),
    the "kind" a config names, or None for JSON that is not aekit's."""
    if marker == INDEX_META:
        return "index"
    if not isinstance(config, dict):
        return None
    kind = config.get("kind", "run")
    return kind if isinstance(kind, str) and kind in KINDS else None


def read_dir(path: str | Path, kind: str) -> tuple[Path, dict]:
    """The folder ``path`` and its JSON description, checked to be a folder of ``kind`` ("run", "classifier",
    "index"): every reader of what aekit writes starts here, so each mistake gets the same one line."""
    path = Path(path)
    if not path.is_dir():
        raise AekitError(f"{path} is not a folder: pass {KINDS[kind]}")
    found = next((m for m in (CONFIG, INDEX_META) if (path / m).is_file()), None)
    if found is None:
        raise AekitError(f"{path} holds neither {CONFIG} nor {INDEX_META}: it is not {KINDS[kind]}")
    config = read_json(path / found)
    actual = kind_of(config, found)
    if actual != kind:
        what = f"it is {KINDS[actual]}" if actual else f"its {found} is not aekit's"
        raise AekitError(f"{path} is not {KINDS[kind]}: {what}")
    return path, config


def read_run_config(path: str | Path) -> dict:
    """The ``config.json`` of the run in folder ``path``, checked against its schema (``aekit.schema``) before
    anything is built from it: what ``load_run`` and ``aekit train --resume`` read."""
    from aekit.schema import check_run_config

    path, config = read_dir(path, "run")
    return check_run_config(config, path / CONFIG)


def described_model(path: str | Path, config: dict):
    """The model the (checked) ``config`` of the run in ``path`` describes, on the ``meta`` device: names, shapes
    and dtypes, no memory however large it claims to be (None: see ``registry.skeleton``). A value its
    constructor refuses is blamed on the file."""
    from aekit.registry import skeleton

    try:
        return skeleton(config["model"], **config["hparams"])
    except AekitError as e:
        raise AekitError(f"{Path(path) / CONFIG}: {e}: the file is damaged or was edited; restore it, "
                         f"or retrain") from None


def load_run(path: str | Path) -> Run:
    from aekit.registry import build, complete_hparams

    path = Path(path)
    config = read_run_config(path)
    name, hparams = config["model"], config["hparams"]
    described = described_model(path, config)
    if described is not None:
        # Before a byte of the weights is read or a weight allocated: the file's header must match the model the
        # config describes (latent_dim: 2000000 would otherwise build a 4 GB model first).
        check_state(described.state_dict(), described.upgrade_state_dict(tensor_specs(path / WEIGHTS)),
                    str(path / WEIGHTS), fix=f"{CONFIG} was edited, or the weights belong to another run; "
                                             f"restore the run's own {CONFIG} and {WEIGHTS}, or retrain")
    model = build(name, **hparams)
    load_state(model, model.upgrade_state_dict(load_tensors(path / WEIGHTS)), str(path / WEIGHTS))
    model.eval()
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else {}
    # a run of an earlier release lacks settings added since: recorded with today's defaults, as it is rebuilt
    config = {**config, "hparams": complete_hparams(name, hparams)}
    return Run(model=model, config=config, metrics=metrics, path=path, frontend=load_frontend(path, config))


def load(path: str | Path):
    """Rebuild the model saved in a run directory (safetensors + JSON: no code from the file runs)."""
    return load_run(path).model
