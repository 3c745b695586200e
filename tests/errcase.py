"""The bad-input catalogue: every mistake a user can make, its one-line message, and proof nothing was harmed.

A case is a mistake made on purpose: ``setup(tmp)`` builds its inputs in a fresh folder and returns the
``aekit`` arguments that make it. ``tests/test_error_catalogue.py`` runs every case and checks the product
rule: exit status 2, ONE line ``aekit: error: ...`` on stderr matching ``message``, no traceback, and the
folder byte-for-byte as it was (nothing written, nothing lost). ``docs/errors.md`` is written from the same
cases with the messages they actually print (``python tests/errcase.py``), and a test keeps it current.

Cases live in ``tests/error_cases_<area>.py`` files, each with a ``CASES`` list; a new file joins by existing.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

AREAS = ("data files", "CLI arguments", "config files", "run directories", "checkpoints", "search queries",
         "resource limits")
DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
PLACEHOLDER = "DIR"  # the case's folder, in the messages docs/errors.md shows


@dataclass(frozen=True)
class Case:
    id: str  # short, kebab-case, unique across the catalogue
    area: str  # one of AREAS
    did: str  # what the user did, one sentence
    setup: Callable[[Path], list[str]]  # builds the inputs under a fresh folder; returns the `aekit` argv
    message: str  # a regex the one error line (after "aekit: error: ") must match

    def __post_init__(self):
        if self.area not in AREAS:
            raise ValueError(f"case {self.id}: area {self.area!r} is not one of {AREAS}")


def all_cases() -> list[Case]:
    here = Path(__file__).resolve().parent
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    cases: list[Case] = []
    for path in sorted(here.glob("error_cases_*.py")):
        cases += importlib.import_module(path.stem).CASES
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate case ids: {dupes}")
    return cases


# ---- what the cases share ------------------------------------------------------------------------------------
_TINY_RUN: Path | None = None
TINY = ["--limit", "200", "--latent-dim", "4", "--set", "hidden=[16]", "--epochs", "2", "--quiet"]


def tiny_run(tmp: Path, name: str = "run") -> Path:
    """A copy, at ``tmp/name``, of an ae trained on 200 digits (trained once per process)."""
    global _TINY_RUN
    if _TINY_RUN is None:
        from aekit.cli import main

        out = Path(tempfile.mkdtemp(prefix="aekit-errcase-")) / "run"
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", "ae", "--data", "digits", *TINY, "--out", str(out)]) == 0
        _TINY_RUN = out
    dst = tmp / name
    shutil.copytree(_TINY_RUN, dst)
    return dst


def snapshot(path: Path) -> dict | None:
    """Every file and folder under ``path``: bytes and modification times (None when it does not exist)."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))}


def run_case(case: Case, tmp: Path) -> tuple[int, str, dict, dict]:
    """Run ``case`` in ``tmp``: (exit status, stderr, the folder before, the folder after)."""
    from aekit.cli import main

    argv = [str(a) for a in case.setup(tmp)]
    before = snapshot(tmp)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue(), before, snapshot(tmp)


def error_line(rc: int, err: str) -> str:
    """The one ``aekit: error:`` line of a failed command; AssertionError when the rule is broken."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    assert lines[0].startswith("aekit: error: "), lines[0]
    assert rc == 2, (rc, lines[0])
    return lines[0][len("aekit: error: "):]


def shown(line: str, tmp: Path) -> str:
    """The message as docs/errors.md shows it: the case's folder is ``DIR``."""
    return line.replace(str(tmp), PLACEHOLDER)


def render(rows: list[tuple[Case, str]]) -> str:
    out = ["# What aekit says when something is wrong", "",
           "Every mistake below prints one line `aekit: error: <message>` and exits with status 2, without a",
           "traceback, and leaves every file as it was. Each row is a test (`tests/test_error_catalogue.py`)",
           "that makes the mistake and checks the message, the exit status and the files; the messages are",
           "the ones the tests saw, with the test's folder shown as `DIR`. Regenerate with",
           "`python tests/errcase.py`.", "",
           f"{len(rows)} cases.", ""]
    for area in AREAS:
        mine = [(c, m) for c, m in rows if c.area == area]
        if not mine:
            continue
        out += [f"## {area[0].upper()}{area[1:]} ({len(mine)})", "", "| case | what you did | what aekit says |",
                "|---|---|---|"]
        out += [f"| `{c.id}` | {c.did} | {m.replace('|', chr(92) + '|')} |" for c, m in mine]
        out.append("")
    return "\n".join(out)


def observed_messages(cases: list[Case]) -> list[tuple[Case, str]]:
    rows = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="aekit-case-") as d:
            tmp = Path(d)
            rc, err, before, after = run_case(case, tmp)
            line = error_line(rc, err)
            assert re.search(case.message, line), (case.id, line)
            assert before == after, f"{case.id}: files changed"
            rows.append((case, shown(line, tmp)))
    return rows


if __name__ == "__main__":  # python tests/errcase.py: rewrite docs/errors.md from what the cases print
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(observed_messages(all_cases())))
    print(f"wrote {DOC}")
