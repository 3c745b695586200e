"""Numbers for a trained model on a dataset: reconstruction, and, where labels exist, what the codes say.

``recon_sse`` is Hinton & Salakhutdinov's figure: per-example sum of squared errors, inputs in [0, 1].
``probe_accuracy`` fits a logistic regression on training codes and tests it on test codes;
``cluster_accuracy``/``cluster_nmi`` run k-means on the test codes (Hungarian matching to labels).
On ACAI's synthetic ``lines`` data, ``lines_mean_distance`` (x10^-3) and ``lines_smoothness`` are the
interpolation scores of :func:`aekit.eval.lines.evaluate_lines_model` (256 pairs x 16 steps), and
``lines_endpoint_mean_distance`` the Mean Distance of the endpoints alone (the reconstructions' share).
"""
from __future__ import annotations

import torch

from aekit import inference
from aekit.eval import cluster_scores, probe_accuracy, psnr, recon_mse, recon_sse


def evaluate_model(model, test, train=None, batch_size: int = 2048) -> dict[str, float]:
    x_hat = inference.reconstruct(model, test.x, batch_size)
    metrics = {"recon_sse": recon_sse(test.x, x_hat), "recon_mse": recon_mse(test.x, x_hat),
               "psnr": psnr(test.x, x_hat, data_range=_data_range(test.x))}
    if test.y is not None and len(torch.unique(test.y)) > 1:
        z_test = inference.encode(model, test.x, batch_size).flatten(1)
        if train is not None and train.y is not None:
            z_train = inference.encode(model, train.x, batch_size).flatten(1)
            metrics["probe_accuracy"] = probe_accuracy(z_train, train.y, z_test, test.y)
        metrics.update(cluster_scores(z_test, test.y))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics.update(model.code_metrics(test.x))  # e.g. a codebook's usage over the whole test set
    model.train(was_training)
    metrics.update(_lines_metrics(model, test, batch_size))
    return {k: float(v) for k, v in metrics.items()}


def _lines_metrics(model, test, batch_size: int) -> dict[str, float]:
    """ACAI's interpolation scores when ``test`` is the synthetic ``lines`` dataset at its native 32x32."""
    from aekit.data.lines import SIZE

    is_lines = (getattr(test, "name", None) == "lines" and str(getattr(test, "source", "")).startswith("synthetic")
                and tuple(test.x.shape[1:]) == (1, SIZE, SIZE))  # a user's file called "lines" is not
    if not is_lines:
        return {}
    from aekit.eval.lines import evaluate_lines_model

    # the lines are rendered in [-1, 1]; "raw" keeps that range, "01" maps it to [0, 1]
    scores = evaluate_lines_model(model, value_range="01" if test.scale == "01" else "pm1", batch_size=batch_size)
    return {"lines_mean_distance": scores["mean_distance_x1e3"], "lines_smoothness": scores["smoothness"],
            "lines_endpoint_mean_distance": scores["endpoint_mean_distance_x1e3"]}


def _data_range(x: torch.Tensor) -> float:
    # [0,1] data has range 1, [-1,1] data (lines, tanh-scaled images) has range 2.
    return 2.0 if float(x.min()) < 0 else 1.0
