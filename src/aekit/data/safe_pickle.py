"""A pickle reader that can only rebuild numpy arrays, for the CIFAR-10 "python version" batches.

The official CIFAR-10 batches are pickles, and ``pickle.load`` on a file from the internet runs whatever
code the file names (``os.system`` is one ``__reduce__`` away). ``find_class`` is the only door through
which a pickle reaches code, so this unpickler opens it for exactly the callables that numpy's own array
pickles use (array/dtype/scalar reconstruction, and ``_codecs.encode`` restricted to latin-1, which protocol-2
pickles use for raw bytes) and refuses everything else *before* anything is called.

Running no code is not enough: a 231-byte pickle can still ask numpy for a (2000000, 3072) array, and a
9-byte one can ask the unpickler's memo for index 2^28 (gigabytes of pointers). So before unpickling, the
opcodes are scanned (``pickletools.genops``, which also checks every length against the data) and a memo
index must be below the number of opcodes, as it is in any pickle a pickler wrote; and every array the
allowed callables allocate must fit in the bytes of the file, since real array data is stored in it.
Object arrays are refused: they would hold whatever Python objects the pickle builds, not numbers.
"""

from __future__ import annotations

import _codecs
import importlib
import io
import math
import operator
import pickle
import pickletools
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


def _dims(shape: Any) -> tuple[int, ...]:
    return tuple(operator.index(d) for d in ((shape,) if isinstance(shape, int) else shape))


class _Bounded:
    """The allowed callables, each refusing arrays larger than ``limit`` bytes or of object dtype."""

    def __init__(self, limit: int, what: str, fix: str):
        self.limit, self.what, self.fix = limit, what, fix

    def check(self, shape: Any, dtype: Any) -> None:
        if np.dtype(dtype).hasobject:
            raise AekitError(f"refusing {self.what}: its pickle builds an array of Python objects, not numbers; {self.fix}")
        dims = _dims(shape)
        nbytes = math.prod(dims) * np.dtype(dtype).itemsize  # Python ints: no overflow
        if nbytes > self.limit:
            raise AekitError(
                f"refusing {self.what}: its pickle asks for an array of shape {dims} ({nbytes} bytes), more than the "
                f"{self.limit} bytes the file holds; the file is damaged or hostile, {self.fix}"
            )

    def ndarray(self, shape: Any, dtype: Any = float, buffer: Any = None, *args: Any, **kwargs: Any) -> np.ndarray:
        if buffer is None:  # with a buffer numpy checks the bounds itself and allocates nothing
            self.check(shape, dtype)
        elif np.dtype(dtype).hasobject:
            self.check((0,), dtype)
        return np.ndarray(shape, dtype, buffer, *args, **kwargs)

    def reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        self.check(shape, dtype)
        if subtype == self.ndarray:  # the pickle names numpy.ndarray, which find_class answered with ours
            subtype = np.ndarray
        return _numpy_attr("multiarray", "_reconstruct")(subtype, shape, dtype)

    def dtype(self, *args: Any, **kwargs: Any) -> np.dtype:
        made = np.dtype(*args, **kwargs)
        self.check((0,), made)
        return made


def _allowed(bounded: _Bounded) -> dict[tuple[str, str], Callable[..., Any]]:
    scalar = _numpy_attr("multiarray", "scalar")
    frombuffer = _numpy_attr("numeric", "_frombuffer")  # builds from bytes stored in the pickle: bounded by it
    table: dict[tuple[str, str], Callable[..., Any]] = {("numpy", "ndarray"): bounded.ndarray,
                                                        ("numpy", "dtype"): bounded.dtype}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = bounded.reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    table[("_codecs", "encode")] = _latin1_encode
    return table


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array-reconstruction callables, each bounded to arrays of at most
    ``limit`` bytes; anything else is an AekitError naming ``what`` and ending with ``fix``."""

    def __init__(self, file: Any, limit: int, what: str = "pickle", fix: str = "download it again", **kwargs: Any):
        super().__init__(file, **kwargs)
        self._table = _allowed(_Bounded(limit, what, fix))

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._table[(module, name)]
        except KeyError:
            raise AekitError(
                f"refusing to unpickle {module}.{name}: this file is not a plain numpy data pickle (it could run "
                "code); use the official files from `aekit download` or convert the data to .npz"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise AekitError("refusing pickle with persistent ids: not a plain numpy data pickle; use .npz instead")


_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
MAX_DEPTH = 100  # containers nested deeper than this are refused; a CIFAR batch nests about 5 deep


def _stack_effect(op: pickletools.OpcodeInfo) -> tuple[bool, int, int]:
    """(pops down to the last mark?, items it pops below that or in all, items it pushes)."""
    before = op.stack_before
    if pickletools.markobject in before:
        return True, before.index(pickletools.markobject), len(op.stack_after)
    return False, len(before), len(op.stack_after)


_EFFECTS = {op.name: _stack_effect(op) for op in pickletools.opcodes}


def check_opcodes(data: bytes, what: str, fix: str) -> None:
    """Refuse a pickle with memo indices out of range or containers nested too deep, before unpickling.

    A pickler numbers memo entries 0, 1, 2, ... as it writes them, one opcode of at least a byte each, so a
    genuine index is below the pickle's length (the unpickler sizes its memo by the index: 2^28 is
    gigabytes). Nesting is followed by replaying each opcode's stack effect: a dict keyed by a tuple nested a
    million deep crashes the interpreter when hashed (C recursion), which no except clause catches. The
    opcodes are scanned as a stream, so a refusal comes at the opcode that earns it; ``genops`` itself
    refuses lengths that run past the end of the data.
    """
    stack: list[int] = []  # the nesting depth of each object on the unpickler's stack
    marks: list[int] = []
    memo: dict[int, int] = {}

    def refuse(why: str, pos: int) -> AekitError:
        return AekitError(f"refusing {what}: its pickle {why} at byte {pos}; the file is damaged or hostile, {fix}")

    for op, arg, pos in pickletools.genops(data):
        name = op.name
        if name in _PUT_OPS or name in _GET_OPS:
            if not 0 <= arg < len(data):
                raise refuse(f"uses memo index {arg} but is only {len(data)} bytes long", pos)
            if name in _GET_OPS:
                stack.append(memo.get(arg, 0))
                continue
        if name in _PUT_OPS or name == "MEMOIZE":
            memo[arg if name != "MEMOIZE" else len(memo)] = stack[-1] if stack else 0
            continue
        if name == "MARK":
            marks.append(len(stack))
            continue
        to_mark, n, pushed = _EFFECTS[name]
        inner = -1  # the deepest item this opcode consumes
        if to_mark:
            start = marks.pop() if marks else len(stack)
            inner = max(stack[start:], default=-1)
            del stack[start:]
        if n:
            inner = max(inner, max(stack[-n:], default=-1))
            del stack[-n:]
        if inner >= MAX_DEPTH:
            raise refuse(f"nests containers more than {MAX_DEPTH} deep", pos)
        stack.extend([inner + 1] * pushed)


def load_array_pickle(data: bytes, what: str, encoding: str = "latin1", fix: str = "download it again") -> Any:
    """Unpickle ``data`` allowing only numpy arrays, dtypes, scalars and plain Python containers.

    ``encoding="latin1"`` is what numpy needs to read arrays pickled by Python 2 (the CIFAR batches). Arrays
    may hold at most ``len(data)`` bytes (their data is stored in the pickle). Any malformed pickle becomes an
    AekitError naming ``what``.
    """
    try:
        check_opcodes(data, what, fix)
        obj = ArrayOnlyUnpickler(io.BytesIO(data), len(data), what, fix, encoding=encoding).load()
    except AekitError:
        raise
    except Exception as e:  # a damaged pickle can raise almost anything (UnpicklingError, EOFError, ValueError...)
        raise AekitError(f"{what} is not a readable pickle ({type(e).__name__}: {e}); {fix}") from None
    return obj
