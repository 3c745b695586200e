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


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AekitError(f"{path} does not exist: is this an aekit run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AekitError(f"{path} is not valid JSON ({e}): the file is damaged; retrain or restore it") from None


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
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise AekitError(f"{path} is not a readable safetensors file ({e}): it is damaged; retrain or restore it") from None


def versions() -> dict[str, str]:
    return {"aekit": __version__, "torch": torch.__version__, "python": platform.python_version()}


# ---- the model of a run --------------------------------------------------------------------------
def save_model(run_dir: str | Path, model) -> None:
    save_tensors(Path(run_dir) / WEIGHTS, model.state_dict())


def load_state(model, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights strictly; any mismatch means the file is not this model's."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise AekitError(f"{source} does not match the model in config.json ({detail}): "
                         f"it belongs to another run or is damaged; retrain or restore it")
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
    return kind if kind in KINDS else None


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


def load_run(path: str | Path) -> Run:
    from aekit.registry import build, complete_hparams

    path, config = read_dir(path, "run")
    if "model" not in config or "hparams" not in config:
        raise AekitError(f"{path / CONFIG} lacks 'model' or 'hparams': it is not an aekit run config")
    model = build(config["model"], **config["hparams"])
    load_state(model, model.upgrade_state_dict(load_tensors(path / WEIGHTS)), str(path / WEIGHTS))
    model.eval()
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else {}
    # a run of an earlier release lacks settings added since: recorded with today's defaults, as it is rebuilt
    config = {**config, "hparams": complete_hparams(config["model"], config["hparams"])}
    return Run(model=model, config=config, metrics=metrics, path=path, frontend=load_frontend(path, config))


def load(path: str | Path):
    """Rebuild the model saved in a run directory (safetensors + JSON: no code from the file runs)."""
    return load_run(path).model
