"""The registries: models (``@register("name")``, ``build(name, **hparams)``) and the parts they are built
from (``@register_part("name")``, see ``aekit.nn.parts``).

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


def complete_hparams(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` with every setting the model takes: what a run saved by an earlier release (which lacked
    settings added since, e.g. part specs) means today, in the form ``model.hparams`` records."""
    from aekit.models.base import _jsonable, constructor_parameters

    return {**{k: _jsonable(p.default) for k, p in constructor_parameters(get(name)).items()}, **hparams}


def build(name: str, **hparams: Any):
    """Instantiate a registered model; unknown hyperparameters, values not of their declared type and a model
    larger than this machine's memory are user errors, refused before any weight is allocated."""
    described = skeleton(name, **hparams)
    if described is not None:
        fits_in_memory(described)
    return _construct(name, hparams)


def skeleton(name: str, **hparams: Any):
    """Model ``name`` built on PyTorch's ``meta`` device: every parameter's name, shape and dtype, no memory
    and no random numbers drawn. What a config describes is compared with its weights file through this.
    None for a model whose constructor computes with real numbers (meta tensors have none): it goes unchecked."""
    import torch

    try:
        with torch.device("meta"):
            return _construct(name, hparams)
    except (RuntimeError, NotImplementedError):  # e.g. ``.item()`` on a meta tensor; a real build says more
        return None


def _construct(name: str, hparams: dict[str, Any]):
    from aekit.schema import check_hparams

    cls = get(name)
    check_hparams(name, hparams)
    try:
        return cls(**hparams)
    except AekitError:
        raise
    except (TypeError, ValueError) as e:  # a bad value of the right type for a known setting
        raise AekitError(f"model {name!r}: a setting has a value it cannot take ({e}); check "
                         f"{', '.join(f'{k}={v!r}' for k, v in hparams.items())} (e.g. --set hidden=[1000,500])") from None


def fits_in_memory(model) -> None:
    """Refuse a model whose parameters and buffers alone would not fit in this machine's memory."""
    from aekit.resources import check_memory

    check_memory(f"model {model.name!r} with these settings", sum(t.numel() * t.element_size()
                                                                   for t in model.state_dict().values()),
                 "lower latent_dim, hidden or the widths of its parts")


# ---- parts: the networks models are built from (nn/parts.py) --------------------------------------------
PARTS: dict[str, object] = {}


def register_part(name: str):
    """Class decorator on an ``aekit.nn.parts.Part`` subclass: make it usable as ``{"part": name, ...}``."""

    def wrap(cls: type) -> type:
        if name in PARTS and type(PARTS[name]) is not cls:
            raise ValueError(f"part name {name!r} is registered twice ({type(PARTS[name]).__name__}, {cls.__name__})")
        cls.name = name
        PARTS[name] = cls()
        return cls

    return wrap


def _ensure_builtin_parts() -> None:
    import aekit.nn.acai  # noqa: F401
    import aekit.nn.conv  # noqa: F401
    import aekit.nn.dim  # noqa: F401
    import aekit.nn.mlp  # noqa: F401


def part_names() -> list[str]:
    _ensure_builtin_parts()
    return sorted(PARTS)


def get_part(name: str):
    _ensure_builtin_parts()
    if name not in PARTS:
        raise AekitError(f"unknown part {name!r}: choose one of {', '.join(sorted(PARTS))}")
    return PARTS[name]
