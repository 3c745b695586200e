"""``DataSource``: what to load and how, as a value a run records, so every command can load the run's data again.

The CLI's data flags (``--data``, ``--data-dir``, ``--limit``, ``--scale``, ``--pad-to``) parse into one; a run
keeps it in ``config.json`` (``data.source``), an index in its ``index.json``; below the CLI nothing sees
argparse. ``data`` is a registered dataset name or a path; which reader loads a path is chosen by the
registered readers of ``data/sources.py``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from aekit.errors import AekitError


@dataclass(frozen=True)
class DataSource:
    data: str | None = None  # a dataset name (`aekit datasets`) or a path; None: the run's own data
    data_dir: str | None = None  # where named datasets live (None: $AEKIT_DATA, else ~/.cache/aekit)
    limit: int | None = None  # a seeded random subset of this many examples of each split
    scale: str | None = None  # 01 | pm1 | raw (None: 01)
    pad_to: int | None = None  # pad images to this size (28 -> 32)

    def __post_init__(self) -> None:
        for name, kind in (("data", str), ("data_dir", str), ("scale", str), ("limit", int), ("pad_to", int)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise AekitError(f"data source: {name} must be a {kind.__name__}, got {value!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DataSource:
        """The source a run or an index recorded (an empty source when it recorded none)."""
        if not d:
            return cls()
        if not isinstance(d, Mapping):
            raise AekitError(f"the recorded data source {d!r} is not a mapping: the run's config.json is damaged")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def or_recorded(self, recorded: DataSource) -> DataSource:
        """These settings, or, when no data is named here, the recorded source with any setting given here."""
        if self.data is not None:
            return self
        given = {k: v for k, v in self.to_dict().items() if v is not None}
        return dataclasses.replace(recorded, **given)

    def load(self, split: str):
        """The ``split`` ("train" or "test") of this source as an ``ArrayDataset``."""
        from aekit.data.registry import load

        if self.data is None:
            raise AekitError("the run does not record its data: pass --data NAME")
        options = {"pad": self.pad_to} if self.pad_to else {}
        return load(self.data, split=split, data_dir=self.data_dir, limit=self.limit, scale=self.scale or "01",
                    **options)
