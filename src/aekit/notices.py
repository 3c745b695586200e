"""One-line notices on stderr (``aekit: ...``): a choice aekit made for the user (the loss ``auto`` picked, the
items held out for evaluation, a CSV's label column), said once so that nothing is chosen silently.

A command that fails prints only its one ``aekit: error:`` line (the catalogue's rule, ``docs/errors.md``), so
the CLI holds notices while a command checks its inputs and drops them when it fails; :func:`release` prints
them once the work begins (``aekit.train`` before its first epoch), or the CLI does when the command succeeds.
Outside the CLI (the Python API) a notice is printed at once.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_held: list[str] | None = None  # notices waiting for the command to get past its checks; None: print at once


def say(line: str) -> None:
    if _held is None:
        print(f"aekit: {line}", file=sys.stderr)
    else:
        _held.append(line)


def release() -> None:
    """Print the held notices and print later ones at once: the command is past its checks."""
    global _held
    waiting, _held = _held or [], None
    for line in waiting:
        say(line)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold notices for the body: printed when it returns (or when it calls :func:`release`), dropped when it
    raises, so that a failed command's one line is its error."""
    global _held
    outer, _held = _held, []
    try:
        yield
        release()
    finally:
        _held = outer
