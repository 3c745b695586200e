"""The model registry: ``@register("name")`` on a class, ``build(name, **hparams)`` to make one.

A saved run stores the name and the hyperparameters, so ``build`` is also how a run is rebuilt.
"""
from __future__ import annotations

from typing import Any

from aekit.errors import AekitError

MODELS: dict[str, type] = {}


def register(name: str):
    """Class decorator: make the model buildable by ``name`` (and listed by ``aekit models``)."""

    def wrap(cls: type) -> type:
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is registered twice ({MODELS[name].__name__}, {cls.__name__})")
        cls.name = name
        MODELS[name] = cls
        return cls

    return wrap


def _ensure_builtin_models() -> None:
    # Importing the package registers every built-in model; done lazily so `registry` has no cycle.
    import aekit.models  # noqa: F401


def model_names() -> list[str]:
    _ensure_builtin_models()
    return sorted(MODELS)


def get(name: str) -> type:
    _ensure_builtin_models()
    if name not in MODELS:
        raise AekitError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))} (see `aekit models`)")
    return MODELS[name]


def hparam_names(name: str) -> list[str]:
    """The keyword arguments a model's constructor takes (what `--set` may change)."""
    from aekit.models.base import constructor_parameters

    return list(constructor_parameters(get(name)))


def build(name: str, **hparams: Any):
    """Instantiate a registered model; unknown hyperparameters are a user error, not a TypeError."""
    cls = get(name)
    valid = hparam_names(name)
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise AekitError(f"model {name!r} has no setting {', '.join(unknown)}: it takes {', '.join(valid)}")
    try:
        return cls(**hparams)
    except AekitError:
        raise
    except (TypeError, ValueError) as e:  # a bad value for a known setting, e.g. hidden="abc"
        raise AekitError(f"model {name!r}: a setting has a value of the wrong kind ({e}); check "
                         f"{', '.join(f'{k}={v!r}' for k, v in hparams.items())} (e.g. --set hidden=[1000,500])") from None
