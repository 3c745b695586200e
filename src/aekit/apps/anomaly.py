"""Anomaly detection by reconstruction: an autoencoder trained on normal data reconstructs normal items
well and others badly, so the reconstruction error is an anomaly score (Japkowicz, Myers & Gluck,
"A Novelty Detection Approach to Classification", IJCAI 1995; Hawkins et al., "Outlier Detection Using
Replicator Neural Networks", DaWaK 2002; for the VAE, An & Cho, "Variational Autoencoder based Anomaly
Detection using Reconstruction Probability", 2015).

* :func:`anomaly_scores`: one score per item, higher = more anomalous. ``"sse"`` (any model, the
  default): the item's sum of squared errors ``sum_d (x_d - x_hat_d)^2`` between the item and
  ``model.reconstruct(x)``, in the data's own scale. ``"elbo"`` (models with a Gaussian posterior, the
  VAE): the negative evidence lower bound ``-log p(x | z = mu) + KL(q(z|x) || N(0, I))``, with the
  expectation over ``q`` taken at its mean ``mu`` (one deterministic sample, so scores repeat exactly).
* :func:`flag`: which items to call anomalies, either the ``contamination`` fraction with the highest
  scores (exactly ``round(contamination * N)`` of them) or every item scoring at least ``threshold``.
* :func:`auroc`: area under the ROC curve of the scores against known anomaly labels (scikit-learn).

Scores are float64 numpy arrays ``(N,)``; the model runs in eval mode without gradients, in batches.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from aekit import inference
from aekit.errors import AekitError
from aekit.models.base import require

SCORES = ("sse", "elbo")
DEFAULT_CONTAMINATION = 0.05
MAX_CONTAMINATION = 0.5  # past half the data "anomalies" are the norm (PyOD's bound too)

__all__ = ["DEFAULT_CONTAMINATION", "Flags", "SCORES", "anomaly_scores", "auroc", "check_contamination", "flag"]


def _sse(model, x: torch.Tensor) -> torch.Tensor:
    x_hat = model.reconstruct(x).reshape(x.shape)  # reconstruct, not decode(encode): unpooling uses switches
    return (x.float() - x_hat.float()).pow(2).reshape(x.shape[0], -1).sum(1)  # (B,)


def anomaly_scores(model, x, score: str = "sse", batch_size: int = 2048) -> np.ndarray:
    """One anomaly score per item of ``x`` (``(N, *item)``): ``(N,)`` float64, higher = more anomalous.

    ``score="sse"``: the item's reconstruction sum of squared errors (any model); ``score="elbo"``: the
    negative ELBO at the posterior mean (a VAE; see the module docstring).
    """
    if score not in SCORES:
        raise AekitError(f"unknown anomaly score {score!r}: choose one of {', '.join(SCORES)}")
    require(model, "likelihood" if score == "elbo" else "decode", f"anomaly score {score!r}")
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise AekitError("anomaly scores need a non-empty batch of items (N, *item) as a tensor or numpy array")
    score_of = (lambda xb: _sse(model, xb)) if score == "sse" else model.negative_elbo
    # inference.batched: eval mode, no gradients, the model's device, input shape checked
    scores = inference.batched(lambda xb: score_of(xb.float()), model, x, batch_size)  # (N,)
    return scores.double().numpy()


def check_contamination(contamination: float) -> float:
    """``contamination`` as a float in (0, 0.5], else an AekitError saying so."""
    try:
        value = float(contamination)
    except (TypeError, ValueError):
        raise AekitError(f"contamination is the fraction of items to flag, in (0, {MAX_CONTAMINATION}]; "
                         f"got {contamination!r}") from None
    if not 0.0 < value <= MAX_CONTAMINATION:
        raise AekitError(f"contamination is the fraction of items to flag and must lie in (0, "
                         f"{MAX_CONTAMINATION}], got {contamination}: pass e.g. 0.05, or --threshold instead")
    return value


class Flags(NamedTuple):
    flagged: np.ndarray  # (N,) bool: True = called an anomaly
    threshold: float  # flagged items score at least this (inf when none is flagged)


def flag(scores, contamination: float | None = None, threshold: float | None = None) -> Flags:
    """Call items anomalies by their scores: pass ``contamination`` or ``threshold``, not both.

    * ``contamination`` in (0, 0.5]: flag exactly ``round(contamination * N)`` items, those with the highest
      scores (ties at the boundary go to the earlier item); ``threshold`` is then the lowest flagged score.
    * ``threshold``: flag every item scoring ``>= threshold``.

    Neither: ``contamination = 0.05``. Returns :class:`Flags` ``(flagged, threshold)``.
    """
    if contamination is not None and threshold is not None:
        raise AekitError("pass either contamination (a fraction of items to flag) or threshold (a score), not both")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise AekitError("there are no scores to flag: score at least one item")
    if not np.isfinite(s).all():
        raise AekitError(f"{int((~np.isfinite(s)).sum())} anomaly scores are NaN or infinite: the model's "
                         f"reconstructions are not finite; check the model and the data's value range")
    if threshold is not None:
        t = float(threshold)
        if not np.isfinite(t):
            raise AekitError(f"threshold must be a finite number, got {threshold}")
        return Flags(s >= t, t)
    frac = check_contamination(DEFAULT_CONTAMINATION if contamination is None else contamination)
    k = int(round(frac * s.size))
    flagged = np.zeros(s.size, dtype=bool)
    if k == 0:
        return Flags(flagged, float("inf"))
    top = np.argsort(-s, kind="stable")[:k]  # the k highest scores; stable: the earlier of equal scores first
    flagged[top] = True
    return Flags(flagged, float(s[top].min()))


def auroc(scores, is_anomaly) -> float:
    """Area under the ROC curve of ``scores`` (higher = more anomalous) against boolean ``is_anomaly``."""
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(is_anomaly, dtype=bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if truth.shape != s.shape:
        raise AekitError(f"{s.size} scores but {truth.size} anomaly labels: pass one label per score")
    if truth.all() or not truth.any():
        raise AekitError("AUROC needs both normal items and anomalies among the labelled items: "
                         "choose a normal class that some, but not all, items belong to")
    return float(roc_auc_score(truth, s))
