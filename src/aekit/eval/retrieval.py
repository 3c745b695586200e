"""Retrieval quality of ranked neighbours: precision at k and precision at fixed recall levels.

The document-retrieval measure of Hinton & Salakhutdinov ("Reducing the Dimensionality of Data with Neural
Networks", Science 2006, Fig. 4) and of "Semantic Hashing" (Salakhutdinov & Hinton 2009): every test
document is a query, the training documents are ranked by the distance of their codes to the query's, and a
retrieved document is relevant when it has the query's label (same newsgroup). For one query with ``R``
relevant items in the collection and ``h(n)`` relevant items among its first ``n`` neighbours:

* precision at k: ``h(k) / k``;
* recall at n: ``h(n) / R``; the precision at recall level ``r`` is the precision at the rank where the
  query's recall first reaches ``r``, i.e. at the rank ``n_m`` of its ``m = ceil(r * R)``-th relevant
  item: ``m / n_m`` (not interpolated). It needs the ranking to go at least that deep: with the whole
  collection ranked every level up to 1 is defined.

Both are averaged over queries (queries whose label has no relevant item are left out of the recall
levels, where recall is undefined). Neighbour ids of -1 (an approximate index that found fewer than k)
count as not relevant.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from aekit.errors import AekitError

from ._arrays import as_labels

DEFAULT_KS = tuple(range(1, 101))
DEFAULT_RECALLS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def relevance(neighbour_ids, item_labels, query_labels) -> np.ndarray:
    """``(Q, k)`` bool: whether each ranked neighbour (an index into ``item_labels``) has its query's label."""
    ids = np.asarray(neighbour_ids)
    if ids.ndim != 2:
        raise AekitError(f"neighbour ids must be (queries, k), got shape {ids.shape}")
    items, queries = as_labels(item_labels, "item_labels"), as_labels(query_labels, "query_labels")
    if len(queries) != ids.shape[0]:
        raise AekitError(f"{ids.shape[0]} rows of neighbour ids but {len(queries)} query labels; give one per query")
    if ids.size and (ids.max() >= len(items) or ids.min() < -1):
        raise AekitError(f"neighbour ids must index the {len(items)} item labels (or be -1), got ids in "
                         f"[{ids.min()}, {ids.max()}]")
    found = ids >= 0
    return found & (items[np.where(found, ids, 0)] == queries[:, None])


def precision_at_k(relevant, ks: Sequence[int] = DEFAULT_KS) -> np.ndarray:
    """Mean over queries of the precision of the first k neighbours, for each k of ``ks``: ``(len(ks),)``."""
    relevant = _as_relevance(relevant)
    ks = np.asarray(ks, dtype=np.int64)
    if not len(ks) or ks.min() < 1 or ks.max() > relevant.shape[1]:
        raise AekitError(f"k must lie in 1..{relevant.shape[1]} (the neighbours ranked per query), got {ks.tolist()}")
    hits = np.cumsum(relevant, axis=1, dtype=np.int64)  # (Q, k): relevant items among the first n
    return (hits[:, ks - 1] / ks).mean(axis=0)


def precision_at_recall(relevant, n_relevant, recalls: Sequence[float] = DEFAULT_RECALLS) -> np.ndarray:
    """Mean over queries of the precision where each query's recall first reaches each level: ``(len(recalls),)``.

    ``n_relevant`` ``(Q,)`` is how many relevant items each query has in the whole collection. A level is
    NaN when some query's ranking is too short to reach it (rank the whole collection to avoid that).
    """
    relevant = _as_relevance(relevant)
    n_relevant = np.asarray(n_relevant, dtype=np.int64).reshape(-1)
    levels = np.asarray(recalls, dtype=np.float64)
    if len(n_relevant) != relevant.shape[0]:
        raise AekitError(f"{relevant.shape[0]} queries but {len(n_relevant)} counts of relevant items")
    if not len(levels) or levels.min() <= 0 or levels.max() > 1:
        raise AekitError(f"recall levels must lie in (0, 1], got {levels.tolist()}")
    keep = n_relevant > 0  # recall is undefined for a query with nothing to find
    relevant, n_relevant = relevant[keep], n_relevant[keep]
    if not len(n_relevant):
        return np.full(len(levels), np.nan)
    rows, cols = np.nonzero(relevant)  # positions of relevant neighbours, row by row, in rank order
    found = np.bincount(rows, minlength=len(n_relevant))  # (Q,)
    start = np.concatenate([[0], np.cumsum(found)[:-1]])  # offset of each query's first relevant neighbour
    out = np.empty(len(levels))
    for i, r in enumerate(levels):
        m = np.maximum(np.ceil(r * n_relevant - 1e-9).astype(np.int64), 1)  # (Q,) relevant items to reach r
        if np.any(m > found):
            out[i] = np.nan
            continue
        rank = cols[start + m - 1] + 1  # (Q,) 1-based rank of the m-th relevant neighbour
        out[i] = float(np.mean(m / rank))
    return out


def retrieval_curves(search: Callable, queries, query_labels, item_labels, k: int | None = None,
                     ks: Sequence[int] = DEFAULT_KS, recalls: Sequence[float] = DEFAULT_RECALLS,
                     chunk: int = 512) -> dict[str, np.ndarray]:
    """Precision at ``ks`` and at ``recalls`` of ``search(queries, k) -> (distances, ids)`` (e.g.
    ``CodeIndex.search``), over all queries, ``chunk`` queries at a time so that the ``(chunk, k)``
    rankings are all that is held. ``k`` defaults to the whole collection (every recall level defined).

    Returns ``{"k": ks, "precision_at_k": ..., "recall": recalls, "precision_at_recall": ...}``.
    """
    items, query_y = as_labels(item_labels, "item_labels"), as_labels(query_labels, "query_labels")
    if len(queries) != len(query_y):
        raise AekitError(f"{len(queries)} queries but {len(query_y)} query labels; give one label per query")
    k = len(items) if k is None else int(k)
    ks = np.asarray(ks, dtype=np.int64)
    if k < ks.max():
        raise AekitError(f"k = {k} neighbours cannot give precision at k = {int(ks.max())}; rank more")
    _, codes = np.unique(np.concatenate([items, query_y]), return_inverse=True)  # any labels -> 0..C-1
    items, query_y = codes[:len(items)], codes[len(items):]
    n_relevant = np.bincount(items, minlength=int(codes.max()) + 1)[query_y]  # (Q,) same-label items
    sums_k, sums_r, counted = np.zeros(len(ks)), np.zeros(len(recalls)), 0
    for i in range(0, len(query_y), chunk):
        _, ids = search(queries[i:i + chunk], k)
        rel = relevance(ids, items, query_y[i:i + chunk])
        sums_k += precision_at_k(rel, ks) * len(rel)
        weight = int(np.count_nonzero(n_relevant[i:i + chunk]))
        if weight:
            sums_r += precision_at_recall(rel, n_relevant[i:i + chunk], recalls) * weight
            counted += weight
    return {"k": ks, "precision_at_k": sums_k / len(query_y), "recall": np.asarray(recalls, dtype=np.float64),
            "precision_at_recall": sums_r / counted if counted else np.full(len(recalls), np.nan)}


def _as_relevance(relevant) -> np.ndarray:
    relevant = np.asarray(relevant)
    if relevant.ndim != 2 or relevant.shape[0] == 0 or relevant.shape[1] == 0:
        raise AekitError(f"relevance must be a non-empty (queries, k) array, got shape {relevant.shape}")
    return relevant.astype(bool, copy=False)
