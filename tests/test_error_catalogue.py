"""Every case of the bad-input catalogue (tests/errcase.py, tests/error_cases_*.py) keeps the product rule,
and docs/errors.md shows the message each case prints today."""
from __future__ import annotations

import re

import pytest
from errcase import AREAS, DOC, all_cases, error_line, run_case, shown

CASES = all_cases()


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
    assert documented().get(case.id) == shown(line, tmp_path), (
        f"docs/errors.md does not show what {case.id} prints now: run `python tests/errcase.py`")


def test_catalogue_covers_every_area():
    """The issue's bar: at least 40 cases, across every area a user can get wrong."""
    assert len(CASES) >= 40, len(CASES)
    assert {c.area for c in CASES} == set(AREAS)
    assert set(documented()) == {c.id for c in CASES}, "docs/errors.md lists other cases: run `python tests/errcase.py`"
