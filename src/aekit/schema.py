"""What a value in ``config.json`` (or a setting given to ``build``) may be, checked before anything is built.

The schema is not written out here a second time: a model's settings are its constructor's typed keyword
arguments (``constructor_parameters``), the training settings are ``TrainConfig``'s typed fields, and the
options of a part are the types of its declared defaults. This module turns those declarations into checks
on JSON values, so ``hidden: ["1000"]`` or ``hidden: [250.5]`` is refused with one line instead of being
built into a wrong model, and a damaged ``config.json`` never reaches a constructor as a ``KeyError``.

Ranges (``epochs >= 1``, ``latent_dim > 0``) stay where they are declared, in ``TrainConfig.__post_init__``
and the model constructors; sizes are bounded by comparing the model a config describes with its weights
file (``io.load_run``) and with this machine's memory (``registry.build``).
"""
from __future__ import annotations

import collections.abc
import dataclasses
import json
import math
import numbers
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from aekit.errors import AekitError

MAX_ITEMS = 4096  # longest list a setting may hold (a million hidden layers is a damaged file, not a model)

# The top level of a run's config.json: what each key holds, and whether a run must have it. A key written
# by a later release would be refused here: declare it here with the writer.
RUN_CONFIG: dict[str, tuple[Any, bool]] = {
    "model": (str, True),  # the registered model name
    "hparams": (dict, True),  # the model's settings (its constructor's keyword arguments)
    "train": (dict, False),  # TrainConfig's fields
    "data": (dict, False),  # the data's description (DataSource under "source"), free-form otherwise
    "versions": (dict, False),  # the versions that wrote the run
    "kind": (str, False),  # "run" (runs of earlier releases have no kind)
}


def fits(value: Any, hint: Any) -> bool:
    """Whether the JSON ``value`` is of the type ``hint`` declares; hints this module cannot read pass."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:  # JSON allows NaN and Infinity; no setting means them
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return _is_list(value) and len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args))
    if origin in (tuple, list, collections.abc.Sequence) or hint in (tuple, list, collections.abc.Sequence):
        return _is_list(value) and len(value) <= MAX_ITEMS and (not args or all(fits(v, args[0]) for v in value))
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value) and (
            len(args) < 2 or all(fits(v, args[1]) for v in value.values()))
    return True  # Any, a string annotation that could not be resolved, a class of the user's


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def describe(hint: Any) -> str:
    """``hint`` in words, for messages: ``Sequence[int] | int`` -> "a list of whole numbers or a whole number"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    words = {type(None): "null", None: "null", bool: "true or false", int: "a whole number", float: "a number",
             str: "a word", dict: "a mapping"}
    if hint in words:
        return words[hint]
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} items ({', '.join(describe(a) for a in args)})"
    if origin in (tuple, list, collections.abc.Sequence) or hint in (tuple, list, collections.abc.Sequence):
        return f"a list of {_plural(describe(args[0])) if args else 'values'}"
    if origin in (dict, collections.abc.Mapping):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _plural(words: str) -> str:
    return {"a whole number": "whole numbers", "a number": "numbers", "a word": "words"}.get(words, words)


def hint_of_default(default: Any) -> Any:
    """The type a declared default implies: ``(32, 64)`` -> a list of whole numbers, ``None`` -> anything."""
    if default is None:
        return Any
    if isinstance(default, (tuple, list)):
        inner = {hint_of_default(v) for v in default}
        return typing.Sequence[inner.pop()] if len(inner) == 1 else typing.Sequence
    if isinstance(default, float):
        return float  # a whole number is a number too
    return type(default)


def problem(values: Mapping[str, Any], declared: Mapping[str, tuple[Any, Any]], what: str) -> str | None:
    """The first of ``values`` that is no setting ``declared`` (name -> (type, default)) or not of its type, in
    words with an example; None when all fit. ``what`` names the owner in the message ("model 'ae'")."""
    unknown = sorted(set(values) - set(declared))
    if unknown:
        return f"{what} has no setting {', '.join(map(repr, unknown))}: it takes {', '.join(declared)}"
    for key, value in values.items():
        hint, default = declared[key]
        if _is_list(value) and len(value) > MAX_ITEMS:
            return f"{what} setting {key!r} holds {len(value)} items, more than the {MAX_ITEMS} any setting may hold"
        if not fits(value, hint):
            example = f" (its default is {json.dumps(default, default=list)})" if fits(default, hint) else ""
            return f"{what} setting {key!r} must be {describe(hint)}, got {_short(value)}{example}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def model_settings(name: str) -> dict[str, tuple[Any, Any]]:
    """Each keyword argument of model ``name``'s constructor: (its declared type, its default)."""
    from aekit.models.base import constructor_parameters
    from aekit.registry import get

    return {k: (Any if p.annotation is p.empty else p.annotation, None if p.default is p.empty else p.default)
            for k, p in constructor_parameters(get(name)).items()}


def train_settings() -> dict[str, tuple[Any, Any]]:
    """Each field of ``TrainConfig``: (its declared type, its default)."""
    from aekit.train.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(TrainConfig)}


def part_settings(part) -> dict[str, tuple[Any, Any]]:
    """Each option of a registered part: (the type its declared default implies, that default)."""
    return {k: (hint_of_default(v), v) for k, v in part.defaults.items()}


def check_part_options(part, options: Mapping[str, Any]) -> None:
    """Refuse options a part does not take, or values not of the type of their declared default."""
    found = problem(options, part_settings(part), f"part {part.name!r}")
    if found:
        raise AekitError(found)


def check_hparams(name: str, hparams: Mapping[str, Any]) -> None:
    """Refuse settings model ``name`` does not take, or values not of their declared type (``build`` calls it)."""
    found = problem(hparams, model_settings(name), f"model {name!r}")
    if found:
        raise AekitError(found)


def check_run_config(config: Any, path: str | Path) -> dict[str, Any]:
    """``config`` (the JSON of a run's ``config.json`` at ``path``) checked against the schema: the top level,
    the model's settings, the training settings and their ranges, the recorded data source. Returns it with
    the optional sections present (``train`` and ``data`` default to empty)."""
    from aekit.data.source import DataSource
    from aekit.registry import model_names
    from aekit.train.config import TrainConfig

    def refuse(what: str) -> typing.NoReturn:
        raise AekitError(f"{path}: {what}: the file is damaged or was edited; restore it, or retrain the run")

    if not isinstance(config, Mapping):
        refuse(f"it holds {type(config).__name__}, not a mapping of settings")
    top = problem(config, {k: (hint, None) for k, (hint, _) in RUN_CONFIG.items()}, "a run's config")
    if top:
        refuse(top)
    missing = [k for k, (_, required) in RUN_CONFIG.items() if required and k not in config]
    if missing:
        refuse(f"it lacks {', '.join(missing)}")
    if config["model"] not in model_names():
        refuse(f"it names model {config['model']!r}, which this aekit does not have "
               f"(it has {', '.join(model_names())})")
    for section, declared, what in (("hparams", model_settings(config["model"]), f"model {config['model']!r}"),
                                    ("train", train_settings(), "training")):
        found = problem(config.get(section) or {}, declared, what)
        if found:
            refuse(found)
    try:
        TrainConfig(**config.get("train", {}))  # the ranges TrainConfig declares
        source = (config.get("data") or {}).get("source")
        if isinstance(source, Mapping):  # earlier releases recorded a bare name here
            DataSource.from_dict(source)
    except AekitError as e:
        refuse(str(e))
    return {**config, "train": config.get("train", {}), "data": config.get("data", {})}
