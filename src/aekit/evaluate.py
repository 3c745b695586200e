"""Numbers for a trained model on a dataset: each evaluation asks for a capability or for data that has what it
needs, and one that does not apply is skipped with its reason (``metrics["skipped"]``), never guessed.

- ``reconstruction`` (capability "decode"): ``recon_sse`` is Hinton & Salakhutdinov's figure, the per-example
  sum of squared errors; ``recon_mse``; ``psnr``.
- ``probe`` (labelled training and test data): a logistic regression fitted on training codes, tested on test
  codes (``probe_accuracy``).
- ``clustering`` (labelled test data): k-means on the test codes, Hungarian matching to the labels
  (``cluster_accuracy``, ``cluster_nmi``).
- ``codes``: the model's own numbers about its codes (``code_metrics``: a codebook's usage).
- plug-ins the data asks for (``extra["evaluations"]``, e.g. ``lines`` for ACAI's synthetic lines: the
  interpolation scores of :func:`aekit.eval.lines.evaluate_lines_model`).
- ``embedding_score`` (asked for by name, it trains a discriminator): the lecture's L_D*.
"""
from __future__ import annotations

from typing import Callable

import torch

from aekit import inference
from aekit.errors import AekitError
from aekit.eval import cluster_scores, probe_accuracy, psnr, recon_mse, recon_sse
from aekit.models.base import code_size

DEFAULT = ("reconstruction", "probe", "clustering", "codes", "plugins")


class _Codes:
    """The codes of a dataset, encoded once per ``evaluate_model`` call however many evaluations read them."""

    def __init__(self, model, batch_size: int):
        self.model, self.batch_size, self._done = model, batch_size, {}

    def __call__(self, data) -> torch.Tensor:
        if id(data) not in self._done:
            self._done[id(data)] = inference.encode(self.model, data.x, self.batch_size).flatten(1)
        return self._done[id(data)]


def _reconstruction(model, test, train, batch_size, codes):
    if not model.can("decode"):
        return f"model {model.name!r} has no decoder (capability 'decode')"
    x_hat = inference.reconstruct(model, test.x, batch_size)
    return {"recon_sse": recon_sse(test.x, x_hat), "recon_mse": recon_mse(test.x, x_hat),
            "psnr": psnr(test.x, x_hat, data_range=_data_range(test.x))}


def _labelled(data) -> bool:
    return data is not None and data.y is not None and len(torch.unique(data.y)) > 1


def _not_one_vector(model, needed_by: str) -> str | None:
    """Why ``needed_by`` does not apply to a model with one code per time step, or None when codes are vectors."""
    try:
        code_size(model, needed_by)
    except AekitError as e:
        return str(e)
    return None


def _probe(model, test, train, batch_size, codes):
    if reason := _not_one_vector(model, "the probe"):
        return reason
    if not (_labelled(test) and train is not None and train.y is not None):
        return "needs labelled training and test data"
    return {"probe_accuracy": probe_accuracy(codes(train), train.y, codes(test), test.y)}


def _clustering(model, test, train, batch_size, codes):
    if reason := _not_one_vector(model, "clustering"):
        return reason
    if not _labelled(test):
        return "needs test data with two or more classes"
    return cluster_scores(codes(test), test.y)


def _codes(model, test, train, batch_size, codes):
    with torch.no_grad(), inference.eval_mode(model):
        return model.code_metrics(test.x)  # e.g. a codebook's usage over the whole test set


def _lines(model, test, train, batch_size, codes):
    """ACAI's interpolation scores, for the synthetic ``lines`` data at its native 32x32."""
    from aekit.data.lines import SIZE
    from aekit.eval.lines import evaluate_lines_model

    if not model.can("decode"):
        return f"model {model.name!r} has no decoder (capability 'decode') to decode interpolations"
    if tuple(test.x.shape[1:]) != (1, SIZE, SIZE):
        return f"the lines scores need the native {SIZE}x{SIZE} images"
    # the lines are rendered in [-1, 1]; "raw" keeps that range, "01" maps it to [0, 1]
    scores = evaluate_lines_model(model, value_range="01" if test.scale == "01" else "pm1", batch_size=batch_size)
    return {"lines_mean_distance": scores["mean_distance_x1e3"], "lines_smoothness": scores["smoothness"],
            "lines_endpoint_mean_distance": scores["endpoint_mean_distance_x1e3"]}


def _embedding_score(model, test, train, batch_size, codes):
    from aekit.eval.embedding_score import embedding_score

    return _not_one_vector(model, "the embedding score") or embedding_score(model, test)


# Evaluations a dataset asks for by name in ``extra["evaluations"]`` (the plug-ins chosen by the data).
PLUGINS: dict[str, Callable] = {"lines": _lines}
EVALUATIONS: dict[str, Callable] = {"reconstruction": _reconstruction, "probe": _probe, "clustering": _clustering,
                                    "codes": _codes, "embedding_score": _embedding_score, **PLUGINS}


def evaluate_model(model, test, train=None, batch_size: int = 2048,
                   metrics: tuple[str, ...] | list[str] | None = None) -> dict:
    """The ``metrics`` evaluations (default: all but ``embedding_score``, plus the data's plug-ins) of ``model``
    on ``test`` (``train``: for the probe). Returns floats, and ``skipped``: {evaluation: reason} for those that
    do not apply to this model or data."""
    asked = list(metrics) if metrics else list(DEFAULT)
    if "plugins" in asked:
        asked.remove("plugins")
        asked += [p for p in test.extra.get("evaluations", ()) if p in PLUGINS and p not in asked]
    unknown = [m for m in asked if m not in EVALUATIONS]
    if unknown:
        raise AekitError(f"unknown evaluation {', '.join(unknown)}: choose from {', '.join(EVALUATIONS)}")
    out: dict = {}
    skipped: dict[str, str] = {}
    codes = _Codes(model, batch_size)
    for name in asked:
        result = EVALUATIONS[name](model, test, train, batch_size, codes)
        if isinstance(result, str):  # the reason it does not apply
            skipped[name] = result
        else:
            out.update({k: float(v) for k, v in result.items()})
    if skipped:
        out["skipped"] = skipped
    return out


def _data_range(x: torch.Tensor) -> float:
    """The span PSNR is measured against: 1 for data in [0, 1], 2 for [-1, 1] (lines, tanh-scaled images), and
    otherwise the data's own span (a raw table has no pixel range to assume)."""
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return 1.0
    if lo >= -1.0 and hi <= 1.0:
        return 2.0
    return hi - lo
