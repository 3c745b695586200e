"""Numbers for a trained model on a dataset: reconstruction, and, where labels exist, what the codes say.

``recon_sse`` is Hinton & Salakhutdinov's figure: per-example sum of squared errors, inputs in [0, 1].
``probe_accuracy`` fits a logistic regression on training codes and tests it on test codes;
``cluster_accuracy``/``cluster_nmi`` run k-means on the test codes (Hungarian matching to labels).
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
    return {k: float(v) for k, v in metrics.items()}


def _data_range(x: torch.Tensor) -> float:
    # [0,1] data has range 1, [-1,1] data (lines, tanh-scaled images) has range 2.
    return 2.0 if float(x.min()) < 0 else 1.0
