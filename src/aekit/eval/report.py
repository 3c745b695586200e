"""Putting the numbers together: the standard code evaluation, and a plain-text results table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

from .clustering import cluster_scores
from .probe import probe_accuracy


def evaluate_codes(
    z_train, y_train, z_test, y_test, *, seed: int = 0, max_train: int | None = 20_000
) -> dict[str, float]:
    """Score codes with the linear probe and k-means clustering, as ``aekit evaluate`` reports them.

    Returns ``probe_accuracy`` (fitted on the training codes, scored on the test codes, see
    :func:`aekit.eval.probe_accuracy`) and ``cluster_accuracy`` / ``cluster_nmi`` (one k-means run
    on the *test* codes with one cluster per test class, see :func:`aekit.eval.cluster_scores`).
    """
    scores = {"probe_accuracy": probe_accuracy(z_train, y_train, z_test, y_test, max_train=max_train, seed=seed)}
    scores.update(cluster_scores(z_test, y_test, seed=seed))
    return scores


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or isinstance(v, Integral):
        return str(v)
    if isinstance(v, Real):
        v = float(v)
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4f}"
    return str(v)


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> str:
    """An aligned plain-text table: a header, a rule of dashes, one line per row.

    ``columns`` picks and orders the columns (default: every key, in order of first appearance).
    Floats get 4 decimals (scientific notation when very large or very small), a missing value
    shows as ``-``; columns holding only numbers are right-aligned, others left-aligned.
    """
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    columns = [str(c) for c in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), Real) or row.get(c) is None for row in rows) and any(c in row for row in rows)
        for c in columns
    ]
    widths = [max([len(c)] + [len(line[j]) for line in cells]) for j, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(values) for values in cells]
    return "\n".join(out)
