"""Each phase of a model its own optimiser settings, and the per-batch context the phases share.

A model with several players declares ``phases`` (names, in the order they step) and may declare
``phase_options`` (defaults of its own, e.g. a GAN critic's ``betas=(0.5, 0.9)``); a user overrides them with
the training setting ``phase_options`` (``--set 'phase_options={critic: {lr_scale: 2, steps: 5}}'``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from aekit.errors import AekitError


@dataclass(frozen=True)
class PhaseOptions:
    lr_scale: float = 1.0  # this phase's peak lr is lr_scale * the run's lr ...
    lr: float | None = None  # ... unless an absolute lr is given here
    betas: tuple[float, float] | None = None  # Adam's betas (None: the run's)
    weight_decay: float | None = None  # (None: the run's)
    steps: int = 1  # optimiser steps of this phase on each batch (a WGAN critic takes 5)

    def __post_init__(self) -> None:
        ok = (self.lr_scale > 0 and (self.lr is None or self.lr > 0) and isinstance(self.steps, int)
              and not isinstance(self.steps, bool) and self.steps >= 1
              and (self.weight_decay is None or self.weight_decay >= 0)
              and (self.betas is None or (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas))))
        if not ok:
            raise AekitError(f"bad phase options {dataclasses.asdict(self)}: lr_scale and lr must be > 0, steps a "
                             f"whole number >= 1, weight_decay >= 0 and betas two numbers in [0, 1)")

    def optimizer_settings(self, lr: float, betas: tuple[float, float], weight_decay: float) -> dict[str, Any]:
        """The optimiser's lr, betas and weight decay for a run whose own are ``lr``, ``betas``, ``weight_decay``."""
        return {"lr": self.lr if self.lr is not None else lr * self.lr_scale,
                "betas": self.betas if self.betas is not None else betas,
                "weight_decay": self.weight_decay if self.weight_decay is not None else weight_decay}


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(PhaseOptions))


def _options(model_name: str, phase: str, values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise AekitError(f"phase_options[{phase!r}] must be a mapping of options, e.g. {{lr_scale: 2}}, got {values!r}")
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise AekitError(f"unknown option(s) {', '.join(map(str, unknown))} for phase {phase!r} of model "
                         f"{model_name!r}: a phase takes {', '.join(OPTION_NAMES)}")
    out = dict(values)
    if out.get("betas") is not None:
        try:
            out["betas"] = tuple(float(b) for b in out["betas"])
        except (TypeError, ValueError):
            raise AekitError(f"phase {phase!r}: betas must be two numbers, e.g. [0.5, 0.9], got {out['betas']!r}") from None
    for key in ("lr_scale", "lr", "weight_decay"):
        if out.get(key) is not None and (isinstance(out[key], bool) or not isinstance(out[key], (int, float))):
            raise AekitError(f"phase {phase!r}: {key} must be a number, got {out[key]!r}")
    return out


def resolve_phase_options(model, overrides: Mapping[str, Any] | None) -> dict[str, PhaseOptions]:
    """Every phase of ``model`` with its options: the model's defaults, then the user's ``overrides``.

    A phase the model does not have, or an option no phase takes, is a user error naming what exists.
    """
    overrides = dict(overrides or {})
    phases = tuple(model.phases)
    unknown = sorted(set(overrides) - set(phases))
    if unknown:
        raise AekitError(f"model {model.name!r} has no phase {', '.join(map(repr, unknown))}: its phases are "
                         f"{', '.join(phases)} (set options with phase_options={{{phases[0]}: {{lr_scale: 0.5}}}})")
    defaults = dict(model.phase_options)
    return {phase: PhaseOptions(**{**_options(model.name, phase, defaults.get(phase, {})),
                                   **_options(model.name, phase, overrides.get(phase, {}))})
            for phase in phases}


class PhaseContext:
    """What one phase leaves for the next on the same batch (``ctx["x_hat"] = ...``); stored tensors are detached.

    A fresh context is made for every batch, so nothing leaks between batches, and a phase that finds no
    entry computes what it needs itself: correctness never depends on the order of the phases. It is
    deliberately not a ``dict``: Fabric copies mappings it passes to a model (to cast their tensors), and a
    copy would lose what the phase stores.
    """

    def __init__(self) -> None:
        self._store: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key] = value.detach() if isinstance(value, torch.Tensor) else value

    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)
