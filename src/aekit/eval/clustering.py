"""Clustering of codes: do the codes fall into groups that match the classes?

Protocol: optionally PCA-whiten the codes (centre, rotate onto the principal axes, divide each
axis by its standard deviation; axes with no variance are dropped), run k-means
(scikit-learn ``KMeans``, k-means++ or random start, ``n_init`` restarts keeping the lowest
objective, ``random_state=seed``) with as many clusters as there are classes unless ``n_clusters``
says otherwise, then score the clusters against the labels. By default the whitening and k-means
are fitted on the scored codes themselves; with ``fit_codes`` they are fitted on those (e.g. the
training codes) and the scored codes are assigned to the nearest centre. ACAI's official
``cluster.py`` does the latter: whitening and k-means (random start, 1000 restarts, up to 1000
iterations) fitted on the 60,000 training codes, accuracy on the test codes.

How many restarts matters for whitened codes of many dimensions: there the k-means objective is
nearly flat across starts while the accuracy is not, so one start's luck can move the score by tens
of points (``benchmarks/acai_downstream.py --kmeans-spread``: 40 single random starts on one set of
256-d MNIST codes gave 39% to 80%).

* cluster accuracy: the best one-to-one matching of clusters to classes, found by the Hungarian
  algorithm (SciPy ``linear_sum_assignment``) on the cluster/class contingency matrix; the score
  is the fraction of examples whose cluster is matched to their class (unmatched clusters count
  as errors when there are more clusters than classes);
* NMI: scikit-learn ``normalized_mutual_info_score`` (arithmetic-mean normalisation), which does
  not need a matching.

The fits run on one thread unless ``threads`` says otherwise (see ``_threads``).
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
from ._threads import limit_threads


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


def _whitener(fit: np.ndarray, seed: int):
    """PCA whitening fitted on ``fit``: principal-axis coordinates with unit variance (on ``fit``);
    flat axes are dropped. Returns the function that applies it."""
    pca = PCA(svd_solver="full", random_state=seed).fit(fit)
    var = pca.explained_variance_
    keep = var > var.max() * 1e-10
    return lambda z: (z - pca.mean_) @ pca.components_[keep].T / np.sqrt(var[keep])


INITS = ("k-means++", "random")


def cluster_scores(
    z, y, n_clusters: int | None = None, whiten: bool = True, seed: int = 0, n_init: int = 10,
    init: str = "k-means++", fit_codes=None, threads: int = 1,
) -> dict[str, float]:
    """Run k-means on (optionally PCA-whitened) codes; return ``cluster_accuracy`` and ``cluster_nmi``.

    ``z`` are codes ``(N, D)``, ``y`` labels ``(N,)``; ``n_clusters`` defaults to the number of
    distinct labels. ``init`` is KMeans' start (``"k-means++"`` or ``"random"``), ``n_init`` its
    restarts. ``fit_codes`` ``(M, D)``, if given, are what the whitening and k-means are fitted on;
    ``z`` is then assigned to the nearest centre. Codes that are all identical form a single cluster.
    ``threads``: native threads for the fit (1 by default; more speeds up many restarts on an idle machine).
    """
    z, y = as_codes(z, "z"), as_labels(y, "y")
    same_length(z, y, "z", "y")
    fit = z if fit_codes is None else as_codes(fit_codes, "fit_codes")
    if fit.shape[1] != z.shape[1]:
        raise AekitError(f"fit_codes have {fit.shape[1]} numbers per code and z has {z.shape[1]}: "
                         "pass codes of the same model")
    k = len(np.unique(y)) if n_clusters is None else int(n_clusters)
    if k < 1 or k > len(fit):
        raise AekitError(f"n_clusters must be between 1 and the number of codes ({len(fit)}), got {k}")
    if n_init < 1:
        raise AekitError(f"n_init must be at least 1, got {n_init}")
    if init not in INITS:
        raise AekitError(f"unknown k-means init {init!r}: choose {' or '.join(INITS)}")
    if np.ptp(fit, axis=0).max() == 0:
        assigned = np.zeros(len(z), dtype=np.int64)  # all codes identical: nothing for k-means to split
    else:
        with limit_threads(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than clusters
            transform = _whitener(fit, seed) if whiten else (lambda codes: codes)
            # max_iter as the official cluster.py; Lloyd's iterations stop earlier once centres settle
            kmeans = KMeans(n_clusters=k, init=init, n_init=n_init, max_iter=1000, random_state=seed)
            kmeans.fit(transform(fit))
            assigned = kmeans.predict(transform(z))
    return {
        "cluster_accuracy": hungarian_accuracy(y, assigned),
        "cluster_nmi": float(normalized_mutual_info_score(y, assigned)),
    }


def cluster_accuracy(z, y, **options) -> float:
    """Hungarian-matched accuracy of k-means clusters of the codes (options: see :func:`cluster_scores`)."""
    return cluster_scores(z, y, **options)["cluster_accuracy"]


def cluster_nmi(z, y, **options) -> float:
    """Normalised mutual information between k-means clusters of the codes and the labels (see :func:`cluster_scores`)."""
    return cluster_scores(z, y, **options)["cluster_nmi"]
