"""A batch: aligned named fields, each with its own dtype, sliced by index on the device.

Every model receives one (``forward(batch)``, ``phase_losses(batch, phase, ctx)``): ``x`` always, ``y`` when
the data has labels, and whatever else a family needs (``speaker``, ``next``, ``lengths``, ...). Token ids
stay int64, images float32. Variable-length items live in a :class:`Ragged` field (all items concatenated,
with offsets); taking a batch of them pads to the longest item of that batch and keeps the lengths under
:func:`lengths_key` of the field, so no sequence is padded to the longest of the whole dataset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

import torch

from aekit.errors import AekitError


def lengths_key(field: str) -> str:
    """Where a padded field's lengths go: ``lengths`` for ``x``, ``<field>_lengths`` for the others."""
    return "lengths" if field == "x" else f"{field}_lengths"


@dataclass
class Ragged:
    """Variable-length items: ``values`` (sum of lengths, *feature) holds them one after another and item
    ``i`` is ``values[offsets[i]:offsets[i + 1]]``; ``offsets`` is int64 (N + 1,), starting at 0."""

    values: torch.Tensor
    offsets: torch.Tensor

    def __post_init__(self) -> None:
        self.offsets = torch.as_tensor(self.offsets, dtype=torch.int64)
        o = self.offsets
        if o.ndim != 1 or len(o) < 1 or int(o[0]) != 0 or int(o[-1]) != self.values.shape[0] \
                or bool((o[1:] < o[:-1]).any()):
            raise AekitError(f"ragged field: offsets must rise from 0 to {self.values.shape[0]} (the number of "
                             f"values), one more than the items; got {len(o)} offsets")

    @classmethod
    def from_items(cls, items: list[torch.Tensor]) -> Ragged:
        lengths = torch.tensor([len(t) for t in items], dtype=torch.int64)
        return cls(torch.cat(items), torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def shape(self) -> tuple[int, ...]:  # (N, *feature): what aligned-length checks read
        return (len(self), *self.values.shape[1:])

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    def to(self, device) -> Ragged:
        return Ragged(self.values.to(device), self.offsets.to(device))

    def subset(self, idx: torch.Tensor) -> Ragged:
        starts, lengths = self.offsets[idx], self.offsets[idx + 1] - self.offsets[idx]
        pos = torch.arange(int(lengths.sum()), device=self.values.device)
        item_start = torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)  # (T,) where each item begins
        take = torch.repeat_interleave(starts, lengths) + pos - item_start
        return Ragged(self.values[take], torch.cat([lengths.new_zeros(1), lengths.cumsum(0)]))

    def padded(self, idx: torch.Tensor, value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Items ``idx`` padded to the longest of them: ``(B, T_max, *feature)`` and their lengths ``(B,)``."""
        starts, lengths = self.offsets[idx], self.offsets[idx + 1] - self.offsets[idx]
        t_max = int(lengths.max()) if len(idx) else 0
        steps = torch.arange(t_max, device=self.values.device)  # (T_max,)
        inside = steps[None, :] < lengths[:, None]  # (B, T_max)
        where = (starts[:, None] + steps[None, :]).clamp_max(max(self.values.shape[0] - 1, 0))  # (B, T_max)
        out = self.values[where]  # (B, T_max, *feature)
        mask = inside.reshape(*inside.shape, *([1] * (out.ndim - 2)))
        return torch.where(mask, out, torch.full_like(out, value)), lengths


Field = Union[torch.Tensor, Ragged]


class Batch(dict):
    """Named tensors of one batch, aligned on dim 0: ``batch["x"]``, ``batch.get("y")``, ``batch.size``."""

    @property
    def x(self) -> torch.Tensor:
        return self["x"]

    @property
    def size(self) -> int:
        return int(self["x"].shape[0])

    @classmethod
    def take(cls, fields: Mapping[str, Field], idx: torch.Tensor) -> Batch:
        """The items at ``idx`` of every field; ragged fields are padded and their lengths added."""
        out = cls()
        for name, value in fields.items():
            if isinstance(value, Ragged):
                out[name], out[lengths_key(name)] = value.padded(idx)
            else:
                out[name] = value[idx]
        return out

    def to(self, device, non_blocking: bool = False) -> Batch:
        return Batch({k: v.to(device, non_blocking=non_blocking) for k, v in self.items()})


def move_fields(fields: Mapping[str, Field], device) -> dict[str, Field]:
    return {k: v.to(device) for k, v in fields.items()}


def check_fields(fields: Mapping[str, Field], what: str) -> int:
    """All fields have the same number of items (returned); one line naming the odd one out otherwise."""
    sizes = {name: int(v.shape[0]) for name, v in fields.items()}
    n = sizes.get("x", next(iter(sizes.values()), 0))
    odd = {k: s for k, s in sizes.items() if s != n}
    if odd:
        raise AekitError(f"{what}: field(s) {', '.join(f'{k} ({s} items)' for k, s in odd.items())} do not align "
                         f"with x ({n} items); give every field one entry per example")
    return n
