"""Clustering of codes: do the codes fall into groups that match the classes?

Protocol: optionally PCA-whiten the codes (centre, rotate onto the principal axes, divide each
axis by its standard deviation; axes with no variance are dropped), run k-means
(scikit-learn ``KMeans``, k-means++ start, ``n_init`` restarts, ``random_state=seed``) with as
many clusters as there are classes unless ``n_clusters`` says otherwise, then score the clusters
against the labels:

* cluster accuracy: the best one-to-one matching of clusters to classes, found by the Hungarian
  algorithm (SciPy ``linear_sum_assignment``) on the cluster/class contingency matrix; the score
  is the fraction of examples whose cluster is matched to their class (unmatched clusters count
  as errors when there are more clusters than classes);
* NMI: scikit-learn ``normalized_mutual_info_score`` (arithmetic-mean normalisation), which does
  not need a matching.

The fits run on one thread (see ``_threads``).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score

from aekit.errors import AekitError

from ._arrays import as_codes, as_labels, same_length
from ._threads import single_thread


def hungarian_accuracy(y_true, y_pred) -> float:
    """Accuracy of ``y_pred`` under the best one-to-one relabelling of its ids onto ``y_true``'s.

    Ids on either side can be anything sortable (ints, strings) and need not share a vocabulary;
    with more predicted groups than classes the extra groups count as errors.
    """
    y_true, y_pred = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    same_length(y_true, y_pred, "y_true", "y_pred")
    _, t = np.unique(y_true, return_inverse=True)
    _, p = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(counts, (p, t), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(y_true))


def _whiten(z: np.ndarray, seed: int) -> np.ndarray:
    """PCA-whitened codes: principal-axis coordinates with unit variance; flat axes are dropped."""
    pca = PCA(svd_solver="full", random_state=seed).fit(z)
    var = pca.explained_variance_
    keep = var > var.max() * 1e-10
    return (z - pca.mean_) @ pca.components_[keep].T / np.sqrt(var[keep])


def cluster_scores(
    z, y, n_clusters: int | None = None, whiten: bool = True, seed: int = 0, n_init: int = 10
) -> dict[str, float]:
    """Run k-means once on (optionally PCA-whitened) codes; return ``cluster_accuracy`` and ``cluster_nmi``.

    ``z`` are codes ``(N, D)``, ``y`` labels ``(N,)``; ``n_clusters`` defaults to the number of
    distinct labels. Codes that are all identical form a single cluster.
    """
    z, y = as_codes(z, "z"), as_labels(y, "y")
    same_length(z, y, "z", "y")
    k = len(np.unique(y)) if n_clusters is None else int(n_clusters)
    if k < 1 or k > len(z):
        raise AekitError(f"n_clusters must be between 1 and the number of codes ({len(z)}), got {k}")
    if n_init < 1:
        raise AekitError(f"n_init must be at least 1, got {n_init}")
    if np.ptp(z, axis=0).max() == 0:
        assigned = np.zeros(len(z), dtype=np.int64)  # all codes identical: nothing for k-means to split
    else:
        with single_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
            features = _whiten(z, seed) if whiten else z
            assigned = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(features)
    return {
        "cluster_accuracy": hungarian_accuracy(y, assigned),
        "cluster_nmi": float(normalized_mutual_info_score(y, assigned)),
    }


def cluster_accuracy(z, y, n_clusters: int | None = None, whiten: bool = True, seed: int = 0, n_init: int = 10) -> float:
    """Hungarian-matched accuracy of k-means clusters of the codes (see :func:`cluster_scores`)."""
    return cluster_scores(z, y, n_clusters=n_clusters, whiten=whiten, seed=seed, n_init=n_init)["cluster_accuracy"]


def cluster_nmi(z, y, n_clusters: int | None = None, whiten: bool = True, seed: int = 0, n_init: int = 10) -> float:
    """Normalised mutual information between k-means clusters of the codes and the labels (see :func:`cluster_scores`)."""
    return cluster_scores(z, y, n_clusters=n_clusters, whiten=whiten, seed=seed, n_init=n_init)["cluster_nmi"]
