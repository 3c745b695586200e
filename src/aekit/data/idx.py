"""Reader and writer for the IDX format of MNIST and Fashion-MNIST (LeCun et al.).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the values. MNIST images are magic 2051 (uint8, 3 dims) and labels
2049 (uint8, 1 dim). Files may be gzipped; gzip is detected by its magic bytes, not the file name, so a
file that was un-gzipped but kept its ``.gz`` name still loads. The payload length is checked against the
header, so a truncated download is reported as such instead of as a reshape error.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from aekit.atomic import write_bytes_atomic
from aekit.errors import AekitError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype
_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES: dict[str, int] = {np.dtype(v).newbyteorder("=").str: k for k, v in _TYPES.items()}


def read_idx(
    path: str | os.PathLike[str], expect_magic: int | None = None, fix: str = "download it again"
) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian numpy array of the header's shape.

    ``expect_magic`` (2051 images, 2049 labels) guards against swapped file names. ``fix`` ends every error
    message: the caller knows better than this function how the file is obtained (e.g. "run `aekit
    download mnist`").
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AekitError(f"cannot read {path}: {e.strerror or e}; check the path and permissions") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
            raise AekitError(f"{path} is a damaged or truncated gzip file ({e}); {fix}") from None
    if len(data) < 4:
        raise AekitError(f"{path} is truncated: {len(data)} bytes, too short for an IDX header; {fix}")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or code not in _TYPES or ndim == 0:
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
    header = 4 + 4 * ndim
    if len(data) < header:
        raise AekitError(f"{path} is truncated inside its header ({len(data)} of {header} bytes); {fix}")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise AekitError(
            f"{path} is truncated: the header promises {expected} data bytes for shape {dims} but the file "
            f"has {got}; {fix}"
        )
    if got > expected:
        raise AekitError(f"{path} has {got - expected} unexpected bytes after the data for shape {dims}; {fix}")
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(dims)
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
