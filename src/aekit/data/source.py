"""``DataSource``: what to load and how, as a value a run records, so every command can load the run's data again.

The CLI's data flags (``--data``, ``--data-dir``, ``--limit``, ``--scale``, ``--pad-to``, ``--holdout``,
``--label-column``) parse into one; a run
keeps it in ``config.json`` (``data.source``), an index in its ``index.json``; below the CLI nothing sees
argparse. ``data`` is a registered dataset name or a path; which reader loads a path is chosen by the
registered readers of ``data/sources.py``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from aekit.data.holdout import DEFAULT_FRACTION, NO_SPLIT, check_fraction, held_out_part
from aekit.errors import AekitError
from aekit.notices import say

CSV_SUFFIXES = (".csv", ".tsv")
_TOLD: set[str] = set()  # CSV files whose label column this process has named on stderr


@dataclass(frozen=True)
class DataSource:
    data: str | None = None  # a dataset name (`aekit datasets`) or a path; None: the run's own data
    data_dir: str | None = None  # where named datasets live (None: $AEKIT_DATA, else ~/.cache/aekit)
    limit: int | None = None  # a seeded random subset of this many examples of each split
    scale: str | None = None  # 01 | pm1 | raw (None: 01)
    pad_to: int | None = None  # pad images to this size (28 -> 32)
    holdout: float | None = None  # data without a test split: this fraction is held out (None: the default, 0.2)
    holdout_seed: int = 0  # seeds which items are held out
    label_column: str | None = None  # a CSV's label column (None: a column named "label" if any; "none": none)

    def __post_init__(self) -> None:
        for name, kind in (("data", str), ("data_dir", str), ("scale", str), ("limit", int), ("pad_to", int),
                           ("holdout", (int, float)), ("holdout_seed", int), ("label_column", str)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                what = kind.__name__ if isinstance(kind, type) else "number"
                raise AekitError(f"data source: {name} must be a {what}, got {value!r}")
        if self.holdout is not None:
            check_fraction(self.holdout)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DataSource:
        """The source a run or an index recorded (an empty source when it recorded none). A source recorded
        before held-out splits existed trained and evaluated on every item: its holdout is 0."""
        if not d:
            return cls()
        if not isinstance(d, Mapping):
            raise AekitError(f"the recorded data source {d!r} is not a mapping: the run's config.json is damaged")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{"holdout": 0.0, **{k: v for k, v in d.items() if k in known}})

    def to_dict(self) -> dict[str, Any]:
        """What a run records: every setting, the holdout fraction as used (so a later default cannot change it)."""
        return {**dataclasses.asdict(self), "holdout": self.holdout_fraction}

    @property
    def holdout_fraction(self) -> float:
        return DEFAULT_FRACTION if self.holdout is None else float(self.holdout)

    def or_recorded(self, recorded: DataSource) -> DataSource:
        """These settings, or, when no data is named here, the recorded source with any setting given here."""
        if self.data is not None:
            return self
        given = {k: v for k, v in dataclasses.asdict(self).items()
                 if v is not None and v != getattr(DataSource, k, None)}
        return dataclasses.replace(recorded, **given)

    def load(self, split: str):
        """The ``split`` ("train" or "test") of this source as an ``ArrayDataset``; data without a test split
        is cut into a training part and a held-out part (:mod:`aekit.data.holdout`)."""
        from aekit.data.registry import load

        if self.data is None:
            raise AekitError("the run does not record its data: pass --data NAME")
        options: dict[str, Any] = {"pad": self.pad_to} if self.pad_to else {}
        if self.label_column is not None:
            if not self.data.lower().endswith(CSV_SUFFIXES):
                raise AekitError(f"--label-column names a column of a .csv/.tsv file, and {self.data} is not one: "
                                 f"a .npz keeps its labels in an array named y (or y_train and y_test)")
            options["label_column"] = None if self.label_column.lower() == "none" else self.label_column
        data = load(self.data, split=split, data_dir=self.data_dir, limit=self.limit, scale=self.scale or "01",
                    **options)
        if self.label_column is None and data.extra.get("label_column") is not None and self.data not in _TOLD:
            _TOLD.add(self.data)  # once per file and process, however many splits are loaded
            say(f"{data.name}: column {data.extra['label_column']!r} holds the labels, not a feature "
                f"(--label-column none reads every column as a feature)")
        if data.split != NO_SPLIT:
            return data
        return held_out_part(data, split, self.holdout_fraction, self.holdout_seed)
