""".npy and .npz files read with their sizes checked before anything is allocated.

``np.load`` trusts the header: a 100-byte .npy claiming shape (2^40,) makes it allocate 4 TiB before it
reads a byte of data, and a deflated .npz member may expand a thousandfold. Here the header is read first
(``numpy.lib.format``) and the array's bytes (shape x itemsize, in Python ints) must fit in what the file
can hold: the file's length after the header for .npy; for an .npz member, its declared uncompressed size,
no more than the archive holds when stored, and within :func:`aekit.data.limits.expansion_limit` of its
compressed size when deflated. Only then does numpy read the array. Object arrays are refused (they would
need pickle, which can run code). Whatever a damaged file makes numpy or zipfile raise becomes one
AekitError naming the file.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npformat

from aekit.data.limits import check_expansion, check_fits
from aekit.errors import AekitError

_HEADER_READERS = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0,
                   (3, 0): npformat.read_array_header_2_0}  # 3.0 is 2.0 with a UTF-8 header


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """The array of a .npy file, refused before allocating when its header promises more than the file has."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _read_array(f, str(path), os.fstat(f.fileno()).st_size, "save the array again with numpy.save")
    except OSError as e:
        raise AekitError(f"cannot read {path} as a .npy file ({e.strerror or e}); check the path and the file") from None


class NpzArchive:
    """The arrays of an .npz file by name (``files``, ``archive[name]``), each checked before it is read."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._fix = "save the arrays again with numpy.savez"
        try:
            self._size = self.path.stat().st_size
            self._zip = zipfile.ZipFile(self.path)
        except Exception as e:  # noqa: BLE001  zipfile raises BadZipFile, OSError, ValueError, EOFError... on damage
            raise AekitError(f"cannot read {self.path} as a .npz file ({_reason(e)}); {self._fix}") from None
        self._members = {(n[:-4] if n.endswith(".npy") else n): n for n in self._zip.namelist()}
        self.files = list(self._members)

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def __getitem__(self, key: str) -> np.ndarray:
        name = self._members[key]
        what = f"{self.path} (array {key!r})"
        try:
            info = self._zip.getinfo(name)
            stored = min(info.compress_size, self._size)  # a member cannot hold more than the archive has
            deflated = info.compress_type != zipfile.ZIP_STORED
            room = info.file_size if deflated else min(info.file_size, stored)
            with self._zip.open(info) as f:
                return _read_array(f, what, room, self._fix, compressed=stored if deflated else None)
        except AekitError:
            raise
        except Exception as e:  # noqa: BLE001  damaged members: BadZipFile, zlib.error, EOFError, NotImplementedError...
            raise AekitError(f"cannot read {what} from the .npz file ({_reason(e)}); {self._fix}") from None


def _read_array(f: IO[bytes], what: str, room: int, fix: str, compressed: int | None = None) -> np.ndarray:
    """Read one .npy stream whose data may take at most ``room`` bytes (header included); ``compressed``
    is the member's compressed size when the stream is decompressed on the fly."""
    try:
        version = npformat.read_magic(f)
        _check_header_length(f, version, what, room, fix)
        shape, fortran_order, dtype = _HEADER_READERS[version](f)
    except AekitError:
        raise
    except Exception as e:  # noqa: BLE001  a damaged header: ValueError, SyntaxError, tokenize.TokenError, KeyError...
        raise AekitError(f"{what} is not a readable .npy array ({_reason(e)}); {fix}") from None
    if dtype.hasobject:
        raise AekitError(f"{what} holds Python objects, not numbers; save a numeric array instead")
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a shape of 2^40 is 2^40, not an overflow
    check_fits(what, nbytes, room - f.tell(), fix)
    if compressed is not None:
        check_expansion(what, nbytes, compressed)
    try:
        f.seek(0)
        return npformat.read_array(f, allow_pickle=False)
    except Exception as e:  # noqa: BLE001  truncated or corrupt data after a good header
        raise AekitError(f"{what} is damaged ({_reason(e)}); {fix}") from None


def _check_header_length(f: IO[bytes], version: tuple[int, int], what: str, room: int, fix: str) -> None:
    """Refuse a header longer than the file can hold before numpy reads it: numpy asks the file for the whole
    declared length at once, and a buffered read allocates it (a 178-byte file declaring a 662 MB header took
    662 MB; found by benchmarks/fuzz.py)."""
    width = 2 if version == (1, 0) else 4  # the header's length field: uint16 in format 1.0, uint32 after
    start = f.tell()
    field = f.read(width)
    f.seek(start)
    declared = int.from_bytes(field, "little") if len(field) == width else 0
    if declared > room - start - width:
        raise AekitError(f"{what} is not a readable .npy array (its header claims {declared} bytes, more than the "
                         f"file holds); {fix}")


def _reason(e: BaseException) -> str:
    """A short, one-line reason from a library's exception."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:160]}" if text else type(e).__name__
