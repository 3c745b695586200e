"""Input checking shared by every ``aekit.eval`` function.

Each public function converts its arguments exactly once, here: torch tensors are detached and
moved to the CPU, lists and numpy arrays go through :func:`numpy.asarray`. Mistakes raise
:class:`aekit.errors.AekitError` with a one-line message saying what is wrong and how to fix it.
"""

from __future__ import annotations

import numpy as np

from aekit.errors import AekitError


def to_numpy(a, name: str) -> np.ndarray:
    """Return ``a`` as a numpy array (torch tensors are detached and copied to the CPU)."""
    if type(a).__module__.split(".")[0] == "torch" and hasattr(a, "detach"):
        t = a.detach().cpu()
        if t.is_floating_point() and str(t.dtype) not in ("torch.float32", "torch.float64"):
            t = t.float()  # bfloat16 / float16 have no (or a lossy) numpy twin
        return t.numpy()
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as e:
        raise AekitError(f"{name} could not be read as an array ({e}); pass a numpy array or a torch tensor") from None


def as_float(a, name: str, min_ndim: int = 1) -> np.ndarray:
    """A finite, non-empty float64 array with at least ``min_ndim`` dimensions."""
    x = to_numpy(a, name)
    if x.dtype.kind not in "biuf":
        raise AekitError(f"{name} has dtype {x.dtype}; pass numbers (a float array or tensor)")
    if x.ndim < min_ndim:
        raise AekitError(
            f"{name} has shape {tuple(x.shape)}; it needs at least {min_ndim} dimensions with examples on the first axis"
        )
    if x.size == 0 or (x.ndim and x.shape[0] == 0):
        raise AekitError(f"{name} is empty (shape {tuple(x.shape)}); pass at least one example")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise AekitError(f"{name} contains NaN or inf; check the model for divergence before evaluating")
    return x


def as_codes(z, name: str) -> np.ndarray:
    """Codes as a finite float64 matrix ``(N, D)``; codes with more dimensions are flattened per example."""
    x = as_float(z, name, min_ndim=2)
    return x.reshape(x.shape[0], -1)


def as_labels(y, name: str) -> np.ndarray:
    """Labels as a non-empty 1-D array (integers, strings, anything :func:`numpy.unique` can sort)."""
    x = to_numpy(y, name)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise AekitError(f"{name} has shape {tuple(x.shape)}; labels must be 1-D, one class id per example")
    if x.shape[0] == 0:
        raise AekitError(f"{name} is empty; pass one label per example")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise AekitError(f"{name} contains NaN or inf; labels must be class ids")
    return x


def same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise unless ``a`` and ``b`` have the same number of examples (first axis)."""
    if a.shape[0] != b.shape[0]:
        raise AekitError(
            f"{name_a} has {a.shape[0]} examples but {name_b} has {b.shape[0]}; pass one row per example in both"
        )


def same_width(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise unless two code matrices have the same number of columns."""
    if a.shape[1] != b.shape[1]:
        raise AekitError(
            f"{name_a} has {a.shape[1]} features but {name_b} has {b.shape[1]}; encode both with the same model"
        )
