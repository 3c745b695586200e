"""Every case of the bad-input catalogue (tests/errcase.py, tests/error_cases_*.py) keeps the product rule,
and docs/errors.md shows the message each case prints today."""
from __future__ import annotations

import re

import pytest
from errcase import AREAS, DOC, all_cases, error_line, run_case, shown

CASES = all_cases()
SEEN: dict[str, str] = {}  # case id -> the line it printed in this session, as the doc shows it


def documented() -> dict[str, str]:
    """case id -> the message docs/errors.md shows for it."""
    rows = {}
    for line in DOC.read_text().splitlines() if DOC.exists() else []:
        m = re.match(r"\| `([^`]+)` \| .* \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = m.group(2).replace("\\|", "|")
    return rows


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path):
    rc, err, before, after = run_case(case, tmp_path)
    line = error_line(rc, err)
    assert re.search(case.message, line), f"{line!r} does not match {case.message!r}"
    assert after == before, "the command changed the files it was given: " + ", ".join(
        sorted(set(before) ^ set(after)) or [k for k in before if before[k] != after.get(k)])
    SEEN[case.id] = shown(line, tmp_path)


def test_docs_show_what_the_cases_print():
    """Runs after the cases above (one file runs in order on one worker): each one's row in docs/errors.md is the
    line it printed. Run alone it has nothing to compare and skips."""
    if not SEEN:
        pytest.skip("no case ran in this session")
    doc = documented()
    stale = sorted(k for k, v in SEEN.items() if doc.get(k) != v)
    assert not stale, f"docs/errors.md does not show what {', '.join(stale)} print now: run `python tests/errcase.py`"


def test_catalogue_covers_every_area():
    """The issue's bar: at least 40 cases, across every area a user can get wrong."""
    assert len(CASES) >= 40, len(CASES)
    assert {c.area for c in CASES} == set(AREAS)
    assert set(documented()) == {c.id for c in CASES}, "docs/errors.md lists other cases: run `python tests/errcase.py`"
