"""Where training batches come from: an in-memory tensor sliced by index, or an endless stream.

Both hand the loop whole batches: no per-example Python in the hot path.
"""
from __future__ import annotations

from typing import Iterator, Mapping, Protocol

import torch

from aekit.data.batch import Batch, Field
from aekit.errors import AekitError


class Stream(Protocol):
    """An endless dataset (e.g. ``aekit.data.lines.LinesStream``): makes batches on demand."""

    item_shape: tuple[int, ...]
    frontend: object  # what turns raw input into items (None for most streams), kept with a run

    def next_batch(self, batch_size: int, generator: torch.Generator) -> Batch: ...


def is_stream(data) -> bool:
    return hasattr(data, "next_batch") and not hasattr(data, "x")


def epoch_batches(data, fields: Mapping[str, Field] | None, epoch: int, batch_size: int, seed: int,
                  rank: int, world: int, steps: int | None, device: torch.device) -> Iterator[Batch]:
    """The batches of one epoch for this process: ``fields`` (every field of ``data``, already on ``device``)
    sliced with the same indices, or, for a stream (``fields`` None), ``data.next_batch`` moved to ``device``.

    The order depends only on (seed, epoch), never on state carried between epochs, which is what makes a
    resumed run replay exactly what the uninterrupted run would have seen. Under DDP each process
    takes every ``world``-th example of the same permutation.
    """
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if fields is None:  # a stream
        if not steps:
            raise AekitError("streaming data needs steps_per_epoch: pass --set steps_per_epoch=N")
        g.manual_seed(seed * 1_000_003 + epoch * world + rank)
        for _ in range(steps):
            yield data.next_batch(batch_size, g).to(device, non_blocking=True)
        return
    n = int(fields["x"].shape[0])
    usable = (n // world) * world  # every process gets the same number of batches, or DDP would hang
    order = torch.randperm(n, generator=g)[:usable][rank::world].to(device)
    n_local = order.shape[0]
    n_batches = n_local // batch_size if n_local >= batch_size else 1  # drop a ragged last batch
    if steps:
        n_batches = min(n_batches, steps)
    for i in range(n_batches):
        yield Batch.take(fields, order[i * batch_size:(i + 1) * batch_size])


def in_order(fields: Mapping[str, Field], batch_size: int) -> Iterator[Batch]:
    """Every item once, in order, ``batch_size`` at a time (evaluation)."""
    n = int(fields["x"].shape[0])
    device = fields["x"].device
    for i in range(0, n, batch_size):
        yield Batch.take(fields, torch.arange(i, min(i + batch_size, n), device=device))


def steps_in_epoch(data, n: int | None, batch_size: int, world: int, steps: int | None) -> int:
    if n is None:
        return int(steps or 0)
    n_local = n // world
    full = n_local // batch_size if n_local >= batch_size else 1
    return min(full, steps) if steps else full
