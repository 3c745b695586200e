"""Reader and writer for the IDX format of MNIST and Fashion-MNIST (LeCun et al.).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the values. MNIST images are magic 2051 (uint8, 3 dims) and labels
2049 (uint8, 1 dim). Files may be gzipped; gzip is detected by its magic bytes, not the file name, so a
file that was un-gzipped but kept its ``.gz`` name still loads. The payload length is checked against the
header, so a truncated download is reported as such instead of as a reshape error.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from aekit.atomic import write_bytes_atomic
from aekit.data.limits import check_expansion
from aekit.errors import AekitError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
GZIP_MAGIC = b"\x1f\x8b"
_PEEK = 1 << 16
MAX_DIMS = 32  # numpy 1's most dimensions (numpy 2 allows 64); a byte can declare 255

# IDX type code -> big-endian numpy dtype
_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES: dict[str, int] = {np.dtype(v).newbyteorder("=").str: k for k, v in _TYPES.items()}


def read_idx(
    path: str | os.PathLike[str], expect_magic: int | None = None, fix: str = "download it again"
) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian numpy array of the header's shape.

    ``expect_magic`` (2051 images, 2049 labels) guards against swapped file names. ``fix`` ends every error
    message: the caller knows better than this function how the file is obtained (e.g. "run `aekit
    download mnist`"). The header's size is checked (with Python ints, which do not overflow) against the
    file's length, or for gzip against :func:`aekit.data.limits.expansion_limit`, before anything is
    allocated; gzip is decompressed as a stream that stops at the size the header declares.
    """
    path = Path(path)
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise AekitError(f"cannot read {path}: {e.strerror or e}; check the path and permissions") from None
    with raw:
        size = os.fstat(raw.fileno()).st_size
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        try:
            if gzipped:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read_stream(stream, path, size, True, expect_magic, fix)
            return _read_stream(raw, path, size, False, expect_magic, fix)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            what = "a damaged or truncated gzip file" if gzipped else "unreadable"
            raise AekitError(f"{path} is {what} ({e}); {fix}") from None


def _read_stream(
    stream: BinaryIO, path: Path, size: int, gzipped: bool, expect_magic: int | None, fix: str
) -> np.ndarray:
    head = stream.read(4)
    if len(head) < 4:
        raise AekitError(f"{path} is truncated: {len(head)} bytes, too short for an IDX header; {fix}")
    magic = int.from_bytes(head, "big")
    code, ndim = head[2], head[3]
    if head[:2] != b"\0\0" or code not in _TYPES or ndim == 0:
        raise AekitError(
            f"{path} is not an IDX file (magic {magic}; MNIST-style files start with "
            f"{IMAGES_MAGIC} for images or {LABELS_MAGIC} for labels); {fix}"
        )
    if expect_magic is not None and magic != expect_magic:
        kind = {IMAGES_MAGIC: "an images", LABELS_MAGIC: "a labels"}.get(expect_magic, "another")
        raise AekitError(
            f"{path} has IDX magic {magic} but {kind} file ({expect_magic}) was expected; "
            "check that image and label files are not swapped or renamed"
        )
    if ndim > MAX_DIMS:
        raise AekitError(f"{path} declares {ndim} dimensions, more than the {MAX_DIMS} an array can have; {fix}")
    header = 4 + 4 * ndim
    dim_bytes = stream.read(4 * ndim)
    if len(dim_bytes) < 4 * ndim:
        raise AekitError(f"{path} is truncated inside its header ({4 + len(dim_bytes)} of {header} bytes); {fix}")
    dims = tuple(int.from_bytes(dim_bytes[4 * i : 4 * i + 4], "big") for i in range(ndim))
    if 0 in dims:  # nothing to read, and numpy cannot even shape (0, 2^31, 2^31, ...): refused as empty
        raise AekitError(f"{path} declares shape {dims}, which holds no values; {fix}")
    dtype = np.dtype(_TYPES[code])
    expected = math.prod(dims) * dtype.itemsize  # Python ints: (2^31, 2^31, 4) is 2^64 bytes, not 0

    def truncated(got: int) -> AekitError:
        return AekitError(f"{path} is truncated: the header promises {expected} data bytes for shape {dims} but "
                          f"the file has {got}; {fix}")

    if gzipped:
        check_expansion(str(path), header + expected, size)
    elif expected > size - header:
        raise truncated(size - header)
    body = stream.read(expected)  # bounded: at most the file's length, or the expansion limit for gzip
    if len(body) < expected:
        raise truncated(len(body))
    # gzip's length is only known by decompressing on: peek a bounded amount instead of reading the rest
    trailing = len(stream.read(_PEEK)) if gzipped else size - header - expected
    if trailing:
        more = f"at least {trailing}" if gzipped and trailing == _PEEK else str(trailing)
        raise AekitError(f"{path} has {more} unexpected bytes after the data for shape {dims}; {fix}")
    arr = np.frombuffer(body, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzipped when ``compress`` is True, or by default when the name ends .gz).

    Used by tests and to export arrays for tools that read MNIST's format. The write is atomic.
    """
    path = Path(path)
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").str if a.dtype.itemsize > 1 else a.dtype.str
    if key not in _CODES:
        raise AekitError(f"IDX cannot store dtype {a.dtype}; use uint8, int8, int16, int32, float32 or float64")
    if a.ndim == 0 or a.ndim > 255:
        raise AekitError(f"IDX needs an array with 1..255 dimensions, got shape {a.shape}")
    code = _CODES[key]
    head = bytes([0, 0, code, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    body = np.ascontiguousarray(a, dtype=np.dtype(_TYPES[code])).tobytes()
    data = head + body
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6)
    return write_bytes_atomic(path, data)
