"""Evaluation of autoencoders: pure functions over numpy arrays or torch tensors.

* reconstruction error: :func:`recon_sse`, :func:`recon_mse`, :func:`psnr`;
* what the codes know: :func:`probe_accuracy` (linear probe), :func:`cluster_scores` /
  :func:`cluster_accuracy` / :func:`cluster_nmi` (k-means), :func:`hungarian_accuracy`;
* how well codes represent their inputs: :func:`embedding_score` (L_D* of an (input, code) discriminator);
* the 2-D map: :func:`knn_accuracy_2d`, :func:`plot_code_maps`;
* retrieval by code: :func:`precision_at_k`, :func:`precision_at_recall`, :func:`retrieval_curves`;
* pictures: :func:`save_image_grid`, :func:`save_reconstructions`;
* reporting: :func:`evaluate_codes`, :func:`format_table`.

Bad input raises :class:`aekit.errors.AekitError` with a one-line message.
"""

from .clustering import cluster_accuracy, cluster_nmi, cluster_scores, hungarian_accuracy
from .embedding_score import embedding_score
from .maps import knn_accuracy_2d, plot_code_maps
from .pictures import save_image_grid, save_reconstructions
from .probe import probe_accuracy
from .reconstruction import psnr, recon_mse, recon_sse
from .retrieval import precision_at_k, precision_at_recall, retrieval_curves
from .report import evaluate_codes, format_table

__all__ = [
    "cluster_accuracy",
    "cluster_nmi",
    "cluster_scores",
    "embedding_score",
    "evaluate_codes",
    "format_table",
    "hungarian_accuracy",
    "knn_accuracy_2d",
    "plot_code_maps",
    "precision_at_k",
    "precision_at_recall",
    "probe_accuracy",
    "psnr",
    "recon_mse",
    "recon_sse",
    "retrieval_curves",
    "save_image_grid",
    "save_reconstructions",
]
