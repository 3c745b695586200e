"""``--set key=value`` and config files: route each key to the model or to the training settings."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from aekit.errors import AekitError
from aekit.registry import hparam_names
from aekit.train.config import TrainConfig


def parse_value(text: str) -> Any:
    """``1e-3`` -> 0.001, ``[1000,500]`` -> list, ``{depth: 16}`` -> dict, ``none`` -> None, ``true`` -> True,
    else the string."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    if text.strip().startswith(("{", "[")):  # YAML flow style: {depth: 16, scales: 4}
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise AekitError(f"cannot read {text!r}: write a mapping as {{depth: 16, scales: 4}} "
                             f"or JSON") from None
    if "," in text:  # 1000,500,250 -> a list of widths
        return [parse_value(t) for t in text.split(",") if t.strip()]
    return text


def parse_assignments(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        if "=" not in item:
            raise AekitError(f"--set takes key=value, got {item!r}: for example --set lr=1e-3")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file of settings: flat, or with ``model:`` and ``train:`` sections."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise AekitError(f"config file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise AekitError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AekitError(f"config file {path} must hold a mapping of settings, got {type(data).__name__}")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("model", "train") and isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def split_settings(model_name: str, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split settings into (model hyperparameters, training settings); unknown keys are an error.

    Keys may be prefixed ``model.`` or ``train.`` where a name could mean both.
    """
    model_keys, train_keys = set(hparam_names(model_name)), set(TrainConfig.field_names())
    hparams, train = {}, {}
    for key, value in settings.items():
        scope, _, name = key.rpartition(".")
        if scope == "model" or (not scope and name in model_keys):
            if name not in model_keys:
                raise AekitError(f"model {model_name!r} has no setting {name!r}: it takes {', '.join(sorted(model_keys))}")
            hparams[name] = value
        elif scope == "train" or (not scope and name in train_keys):
            if name not in train_keys:
                raise AekitError(f"unknown training setting {name!r}: choose from {', '.join(TrainConfig.field_names())}")
            train[name] = value
        else:
            raise AekitError(
                f"unknown setting {key!r}: model {model_name!r} takes {', '.join(sorted(model_keys))}; "
                f"training takes {', '.join(TrainConfig.field_names())}")
    return hparams, train


def _train_value(name: str, value: Any, hint: Any, default: Any) -> Any:
    """Check ``value`` against the TrainConfig field's type (``--set epochs=abc`` is a user error, not a TypeError)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is bool:
        if isinstance(value, bool):
            return value
        want, example = "true or false", "false"
    elif hint is int:
        if number and float(value).is_integer():
            return int(value)
        want, example = "a whole number", default if default is not None else 100
    elif hint is float:
        if number:
            return float(value)
        want, example = "a number", default if default is not None else 1.0
    elif hint is str:
        if isinstance(value, str) or number:  # --set precision=32 parses as a number
            return str(value)
        want, example = "a word", default
    elif typing.get_origin(hint) is tuple:
        n = len(typing.get_args(hint))
        if isinstance(value, (list, tuple)) and len(value) == n and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
        want, example = f"{n} numbers", "[" + ",".join(str(v) for v in default) + "]"
    else:
        return value
    raise AekitError(f"training setting {name!r} must be {want}, got {value!r}: for example --set {name}={example}")


def make_train_config(values: dict[str, Any]) -> TrainConfig:
    hints = typing.get_type_hints(TrainConfig)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    values = {k: _train_value(k, v, hints[k], defaults[k]) if k in hints else v for k, v in values.items()}
    try:
        return TrainConfig(**values)
    except TypeError as e:
        raise AekitError(f"bad training settings {values}: {e}") from None
