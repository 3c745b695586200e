"""Settings chosen by the training data, before a model is built: what ``aekit train`` does with ``loss=auto``
and with a loss that cannot fit the data.

The model declares which of its settings depend on the data (:meth:`aekit.models.Model.settings_for_data`),
the losses declare the values they can fit (:data:`aekit.losses.RECONSTRUCTION`); this module measures the
data's range, asks the model, says each choice on stderr in one line, and the resolved settings are what the
run records, so a saved run rebuilds the same model.
"""
from __future__ import annotations

from typing import Any

import torch

from aekit.losses import choose_reconstruction
from aekit.notices import say
from aekit.registry import get


def value_range(data) -> tuple[float, float]:
    """The smallest and largest value of the training items; a stream is measured on one seeded batch (drawn
    with its own generator, so the training stream is not disturbed)."""
    x = data.x if hasattr(data, "x") else data.next_batch(256, generator=torch.Generator().manual_seed(0))["x"]
    return float(x.min()), float(x.max())


def settings_for_data(name: str, hparams: dict[str, Any], data) -> dict[str, Any]:
    """``hparams`` of model ``name`` with its data-dependent settings resolved for ``data`` (each choice said
    on stderr); a setting that cannot fit the data is refused in one line."""
    resolved, notes = get(name).settings_for_data(hparams, *value_range(data))
    for note in notes:
        say(note)
    return resolved


def check_model_fits(model, data) -> None:
    """A model built before training (``aekit.train(model, data)``) must have a loss its data can fit."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        choose_reconstruction(loss, *value_range(data))  # refuses, with the fix, a loss that cannot fit

