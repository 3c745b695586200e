"""A pickle reader that can only rebuild numpy arrays, for the CIFAR-10 "python version" batches.

The official CIFAR-10 batches are pickles, and ``pickle.load`` on a file from the internet runs whatever
code the file names (``os.system`` is one ``__reduce__`` away). ``find_class`` is the only door through
which a pickle reaches code, so this unpickler opens it for exactly the callables that numpy's own array
pickles use (array/dtype/scalar reconstruction, and ``_codecs.encode`` restricted to latin-1, which protocol-2
pickles use for raw bytes) and refuses everything else *before* anything is called.
"""

from __future__ import annotations

import _codecs
import importlib
import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from aekit.errors import AekitError


def _numpy_attr(module: str, name: str) -> Any:
    """``numpy._core.<module>.<name>`` (numpy 2) or ``numpy.core.<module>.<name>`` (numpy 1), without warnings."""
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {module}.{name}")


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol-2 pickles store bytes as _codecs.encode(text, "latin1"); any other codec is not needed.
    if str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise AekitError(f"refusing pickle: it asks for codec {encoding!r}; only latin-1 is needed for array data")
    return _codecs.encode(text, "latin1", errors)


def _allowed() -> dict[tuple[str, str], Callable[..., Any]]:
    reconstruct = _numpy_attr("multiarray", "_reconstruct")
    scalar = _numpy_attr("multiarray", "scalar")
    frombuffer = _numpy_attr("numeric", "_frombuffer")
    table: dict[tuple[str, str], Callable[..., Any]] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    table[("_codecs", "encode")] = _latin1_encode
    return table


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array-reconstruction callables; anything else is an AekitError."""

    _table: dict[tuple[str, str], Callable[..., Any]] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if ArrayOnlyUnpickler._table is None:
            ArrayOnlyUnpickler._table = _allowed()
        try:
            return ArrayOnlyUnpickler._table[(module, name)]
        except KeyError:
            raise AekitError(
                f"refusing to unpickle {module}.{name}: this file is not a plain numpy data pickle (it could run "
                "code); use the official files from `aekit download` or convert the data to .npz"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise AekitError("refusing pickle with persistent ids: not a plain numpy data pickle; use .npz instead")


def load_array_pickle(data: bytes, what: str, encoding: str = "latin1", fix: str = "download it again") -> Any:
    """Unpickle ``data`` allowing only numpy arrays, dtypes, scalars and plain Python containers.

    ``encoding="latin1"`` is what numpy needs to read arrays pickled by Python 2 (the CIFAR batches). Any
    malformed pickle becomes an AekitError naming ``what``.
    """
    try:
        obj = ArrayOnlyUnpickler(io.BytesIO(data), encoding=encoding).load()
    except AekitError:
        raise
    except Exception as e:  # a damaged pickle can raise almost anything (UnpicklingError, EOFError, ValueError...)
        raise AekitError(f"{what} is not a readable pickle ({type(e).__name__}: {e}); {fix}") from None
    return obj
