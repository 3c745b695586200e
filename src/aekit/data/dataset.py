"""The in-memory dataset every loader returns.

Datasets that fit in memory are one float32 tensor ``x`` of shape ``(N, *item_shape)`` (images are
``(N, C, H, W)``), optional int64 labels ``y``, and any other aligned named fields a model family needs
(``fields``: a speaker id, the next sentence, variable-length ``Ragged`` sequences), each with its own dtype:
the training loop slices them all by index on the device into a ``Batch``, with no per-sample Python. Validation happens once, here, so a NaN in a user's CSV is reported at load time with
a count, not as a diverging loss an hour later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from aekit.data.batch import Field, Ragged, check_fields
from aekit.errors import AekitError

SCALES = ("01", "pm1", "raw")


def count_nonfinite(a: np.ndarray | torch.Tensor) -> int:
    """Number of NaN / +-Inf values in a numeric array (0 for integer arrays)."""
    # A float64 sum is one allocation-free pass and is NaN/Inf exactly when a value is (barring overflow,
    # which only costs the exact count below); the exact count allocates a mask as large as the data.
    if isinstance(a, torch.Tensor):
        if not a.is_floating_point() or a.numel() == 0 or bool(torch.isfinite(a.sum(dtype=torch.float64))):
            return 0
        return int((~torch.isfinite(a)).sum())
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or a.size == 0:
        return 0
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(a.sum(dtype=np.float64 if a.dtype.kind == "f" else None)):
            return 0
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def check_finite(a: np.ndarray | torch.Tensor, what: str) -> None:
    """Raise AekitError naming how many values of ``what`` are NaN or infinite."""
    bad = count_nonfinite(a)
    if bad:
        raise AekitError(
            f"{what} contains {bad} NaN/Inf value(s) out of {int(np.prod(tuple(a.shape)))}; "
            "remove or impute them (e.g. replace with the column mean) before loading"
        )


@dataclass
class ArrayDataset:
    """Examples ``x`` (float32, ``(N, *item_shape)``) with optional int64 labels ``y`` (``(N,)``).

    ``scale`` records how pixel values were mapped ("01": [0, 1], "pm1": [-1, 1], "raw": unchanged) so a run's
    config says what the model saw; ``source`` is where the data came from (a path, "sklearn", "synthetic").
    Numpy arrays are accepted and converted; labels must lie in ``[0, len(classes))`` when classes are given.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    name: str = "data"
    classes: list[str] | None = None
    scale: str = "raw"
    split: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Field] = field(default_factory=dict)  # more named fields, aligned with x, any dtype
    frontend: Any = None  # the fitted front end that made x from raw input (data/frontend.py), saved with a run

    def __post_init__(self) -> None:
        self.x = _as_float_tensor(self.x, self.name)
        if self.x.ndim < 2:
            raise AekitError(
                f"dataset {self.name} has shape {tuple(self.x.shape)}; it needs examples on the first axis, "
                "e.g. (N, D) vectors or (N, C, H, W) images"
            )
        if self.x.shape[0] == 0 or self.x.numel() == 0:
            raise AekitError(
                f"dataset {self.name} is empty: shape {tuple(self.x.shape)}; check the path, the split and "
                "the limit, and that the files hold at least one example"
            )
        check_finite(self.x, f"dataset {self.name}")
        if self.scale not in SCALES:
            raise AekitError(f"dataset {self.name} has scale {self.scale!r}; use one of {', '.join(SCALES)}")
        if self.y is not None:
            self.y = _as_label_tensor(self.y, self.name)
            if self.y.shape[0] != self.x.shape[0]:
                raise AekitError(
                    f"dataset {self.name} has {self.x.shape[0]} examples but {self.y.shape[0]} labels; "
                    "give one label per example"
                )
            if self.classes is not None and len(self.y):
                lo, hi = int(self.y.min()), int(self.y.max())
                if lo < 0 or hi >= len(self.classes):
                    raise AekitError(
                        f"dataset {self.name} has labels in [{lo}, {hi}] but {len(self.classes)} classes; "
                        f"labels must be class indices 0..{len(self.classes) - 1}"
                    )
        if self.classes is not None:
            self.classes = [str(c) for c in self.classes]
        reserved = sorted({"x", "y"} & set(self.fields))
        if reserved:
            raise AekitError(f"dataset {self.name}: pass {', '.join(reserved)} as its own argument, not in fields")
        self.fields = {k: v if isinstance(v, Ragged) else torch.as_tensor(v) for k, v in self.fields.items()}
        check_fields(self.batch_fields(), f"dataset {self.name}")

    def batch_fields(self) -> dict[str, Field]:
        """Every aligned field the loop slices into a ``Batch``: ``x``, ``y`` if labelled, then ``fields``."""
        return {"x": self.x, **({} if self.y is None else {"y": self.y}), **self.fields}

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one example: ``(C, H, W)`` for images, ``(D,)`` for vectors."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def n_classes(self) -> int | None:
        """Number of classes (from ``classes``, else from the labels), or None for unlabelled data."""
        if self.classes is not None:
            return len(self.classes)
        if self.y is not None:
            return int(self.y.max()) + 1
        return None

    @property
    def is_image(self) -> bool:
        """True for ``(N, C, H, W)`` data."""
        return self.x.ndim == 4

    def subset(self, idx: Any) -> ArrayDataset:
        """A new dataset with the examples at ``idx`` (a slice, index array, list or bool mask), same metadata."""
        if isinstance(idx, np.ndarray):
            idx = torch.from_numpy(idx)
        elif isinstance(idx, list):
            idx = torch.as_tensor(idx, dtype=torch.long)
        if isinstance(idx, torch.Tensor) and idx.dtype not in (torch.bool, torch.long):
            idx = idx.long()
        return ArrayDataset(
            x=self.x[idx],
            y=None if self.y is None else self.y[idx],
            name=self.name,
            classes=self.classes,
            scale=self.scale,
            split=self.split,
            source=self.source,
            extra=dict(self.extra),
            fields={k: v.subset(torch.arange(len(self))[idx]) if isinstance(v, Ragged) else v[idx]
                    for k, v in self.fields.items()},
            frontend=self.frontend,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for a run's config: what the model was trained on, reproducibly named."""
        return {
            "name": self.name,
            "split": self.split,
            "n": len(self),
            "item_shape": list(self.item_shape),
            "n_classes": self.n_classes,
            "classes": self.classes,
            "labelled": self.y is not None,
            "scale": self.scale,
            "value_range": [float(self.x.min()), float(self.x.max())],
            "source": self.source,
            **({"fields": {k: str(v.dtype).removeprefix("torch.") for k, v in self.fields.items()}}
               if self.fields else {}),
            **({"frontend": self.frontend.name} if self.frontend is not None else {}),
            **self.extra,
        }


def _as_float_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise AekitError(f"dataset {name} has dtype {x.dtype}; pass numbers")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise AekitError(f"dataset {name}: x must be a torch tensor or numpy array, got {type(x).__name__}")
    if x.dtype != torch.float32:
        x = x.to(torch.float32)
    return x


def _as_label_tensor(y: Any, name: str) -> torch.Tensor:
    if isinstance(y, np.ndarray):
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise AekitError(f"dataset {name} has non-integer labels; labels must be class indices 0..K-1")
        elif y.dtype.kind not in "biu":
            raise AekitError(f"dataset {name} has labels of dtype {y.dtype}; labels must be class indices 0..K-1")
        y = torch.from_numpy(np.ascontiguousarray(y).astype(np.int64))
    elif not isinstance(y, torch.Tensor):
        y = torch.as_tensor(y)
    if y.is_floating_point():
        if not torch.all(y == torch.round(y)):
            raise AekitError(f"dataset {name} has non-integer labels; labels must be class indices 0..K-1")
    if y.ndim != 1:
        raise AekitError(f"dataset {name} has labels of shape {tuple(y.shape)}; give one integer label per example")
    y = y.to(torch.int64)
    if len(y) and int(y.min()) < 0:
        raise AekitError(f"dataset {name} has negative labels (min {int(y.min())}); labels must be class indices 0..K-1")
    return y


@dataclass
class RawData:
    """Arrays as read from disk, before subsetting and scaling.

    ``x`` is ``(N, *item_shape)`` with values in ``[low, high]`` (e.g. 0..255 for 8-bit pixels); ``low`` and
    ``high`` are None when the values are not in a known range (then only scale "raw" applies).
    Text sources (with a ``frontend``, the fitted vectoriser) hold word counts, kept as counts (scale "raw").
    """

    x: np.ndarray
    y: np.ndarray | None
    classes: list[str] | None
    low: float | None
    high: float | None
    source: str
    split: str | None
    extra: dict[str, Any] = field(default_factory=dict)  # goes into ArrayDataset.extra
    frontend: Any = None  # what turned raw input into these items (a fitted text vectoriser), kept with a run
