"""How much memory a data file may make aekit allocate: bounds checked BEFORE allocating or decompressing.

A file's header says how big its data is (IDX dims, a .npy header, a PNG's width and height, an array
pickled inside a CIFAR batch), and a hostile or damaged header can say anything: 2^40 elements, or dims
whose product overflows. Every reader therefore compares what a header declares with what the file can
hold, with Python ints (no overflow), before it allocates:

* uncompressed data must fit in the bytes the file has (``check_fits``): a header that promises more is a
  truncated or damaged file;
* compressed data (gzip, deflated .npz members, PNG) may expand, but not without bound: at most
  ``EXPANSION_RATIO`` times its compressed size, and never less than ``FLOOR_BYTES`` (``expansion_limit``).
  Real data sets compress 2-50x (MNIST's gzip is about 5x); a zip bomb's 1000x is refused before any
  decompression. A genuine file that expands more is let through by setting the environment variable
  ``AEKIT_MAX_DATA_BYTES`` to the number of bytes to allow, which replaces the derived limit.
"""

from __future__ import annotations

import os

from aekit.errors import AekitError

LIMIT_ENV = "AEKIT_MAX_DATA_BYTES"
EXPANSION_RATIO = 100
FLOOR_BYTES = 16 << 20  # small files may always expand to 16 MiB (a blank image compresses 1000x)


def expansion_limit(compressed_bytes: int) -> int:
    """The most bytes ``compressed_bytes`` of compressed data may expand to: ``$AEKIT_MAX_DATA_BYTES`` when
    set, else ``max(EXPANSION_RATIO * compressed_bytes, FLOOR_BYTES)``."""
    override = os.environ.get(LIMIT_ENV, "").strip()
    if override:
        try:
            value = int(float(override))
        except ValueError:
            raise AekitError(f"{LIMIT_ENV}={override!r} is not a number of bytes; set it to e.g. 4000000000") from None
        if value < 0:
            raise AekitError(f"{LIMIT_ENV}={override!r} is negative; set it to a number of bytes, e.g. 4000000000")
        return value
    return max(EXPANSION_RATIO * int(compressed_bytes), FLOOR_BYTES)


def check_expansion(what: str, declared: int, compressed_bytes: int) -> None:
    """Refuse ``declared`` bytes of data from ``compressed_bytes`` compressed ones when over the limit."""
    limit = expansion_limit(compressed_bytes)
    if declared > limit:
        raise AekitError(
            f"{what} declares {declared} bytes of data from {compressed_bytes} compressed bytes, over the limit of "
            f"{limit} ({_limit_rule()}); if the file is genuine, set {LIMIT_ENV}={declared} to allow it"
        )


def check_fits(what: str, declared: int, available: int, fix: str) -> None:
    """Refuse a header that declares ``declared`` bytes of data when the file holds only ``available``."""
    if declared > available:
        raise AekitError(
            f"{what} is truncated or damaged: its header declares {declared} bytes of data but the file holds "
            f"{available}; {fix}"
        )


def _limit_rule() -> str:
    if os.environ.get(LIMIT_ENV, "").strip():
        return f"set by {LIMIT_ENV}"
    return f"{EXPANSION_RATIO}x the compressed size, at least {FLOOR_BYTES >> 20} MiB"
