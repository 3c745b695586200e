"""One-class MNIST anomaly detection: aekit's autoencoders vs PCA and PyOD's detectors, by AUROC.

Protocol (the one of Ruff et al., "Deep One-Class Classification", ICML 2018, without their contrast
normalisation): for each digit d, train on the MNIST training images of d only (about 6,000), score all
10,000 test images, and measure the area under the ROC curve with "anomaly" = any other digit. Ten
runs, one per digit; the table gives every digit and the mean.

Methods, all on pixels in [0, 1] (784 values):
  * aekit ``ae``: MLP 784-256-64-16-64-256-784, BCE loss, Adam, bf16; score = per-image SSE of the
    reconstruction (``aekit.apps.anomaly.anomaly_scores``);
  * aekit ``vae``: the same network with a Gaussian code; scored twice, by the SSE of the reconstruction
    from the posterior mean and by the negative ELBO at the posterior mean;
  * aekit ``denoising``: the AE trained to undo masking noise (30% of pixels zeroed);
  * PCA with 16 components (the AEs' code size): reconstruction SSE;
  * PyOD's ``AutoEncoder`` with its defaults (standardised inputs, 64-32 hidden layers, 10 epochs) and
    ``IForest`` (100 trees), through their ``decision_function``.
Goal: the best mean AUROC of aekit's autoencoders (PCA not counted) >= PyOD's AutoEncoder's.

    pip install "pyod>=2.0"          # or: pip install -e ".[bench]"
    python benchmarks/anomaly.py                 # 10 digits, about 3 minutes on 2 CPU cores (alone)
    python benchmarks/anomaly.py --digits 0,1 --epochs 2  # a quick look
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import shared_data_dir, write_results

import aekit
from aekit.apps.anomaly import anomaly_scores, auroc
from aekit.eval import format_table

ARCH = dict(hidden=[256, 64], latent_dim=16)
RECIPE = dict(loss="bce", lr=1e-3, batch_size=256, precision="bf16-mixed", progress=False, evaluate=False,
              eval_every=0)
NOISE = dict(noise="masking", noise_level=0.3)
METHODS = ("ae", "vae_sse", "vae_elbo", "denoising", "pca", "pyod_ae", "pyod_iforest")
LABELS = {"ae": "aekit AE", "vae_sse": "aekit VAE (recon SSE)", "vae_elbo": "aekit VAE (neg. ELBO)",
          "denoising": "aekit denoising AE", "pca": "PCA (16)", "pyod_ae": "PyOD AutoEncoder",
          "pyod_iforest": "PyOD IsolationForest"}
AUTOENCODERS = ("ae", "vae_sse", "vae_elbo", "denoising")  # the goal is about these; PCA is reported beside


def need_pyod():
    try:
        import pyod  # noqa: F401
    except ImportError:
        sys.exit('benchmark needs PyOD for its baselines: pip install "pyod>=2.0" (or pip install -e ".[bench]")')


def score_digit(digit: int, train, test, epochs: int, seed: int) -> tuple[dict, dict]:
    """AUROC and seconds (fit + score) of every method for normal class ``digit``."""
    from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder
    from pyod.models.iforest import IForest

    normal = train.subset(train.y == digit)
    is_anomaly = (test.y != digit).numpy()
    x_fit = normal.x.reshape(len(normal), -1).numpy()  # (n, 784) for PyOD
    x_test = test.x.reshape(len(test), -1).numpy()
    aucs, seconds = {}, {}

    def timed(key, fn):
        t0 = time.perf_counter()
        scores = fn()
        seconds[key] = time.perf_counter() - t0
        aucs[key] = auroc(scores, is_anomaly)

    common = dict(epochs=epochs, seed=seed, **RECIPE, **ARCH)
    timed("ae", lambda: anomaly_scores(aekit.train("ae", normal, **common).model, test.x))
    vae = {}

    def vae_sse():
        vae["model"] = aekit.train("vae", normal, **common).model
        return anomaly_scores(vae["model"], test.x, "sse")

    timed("vae_sse", vae_sse)
    timed("vae_elbo", lambda: anomaly_scores(vae["model"], test.x, "elbo"))  # same model, other score
    timed("denoising", lambda: anomaly_scores(aekit.train("denoising", normal, **common, **NOISE).model, test.x))
    timed("pca", lambda: anomaly_scores(aekit.train("pca", normal, latent_dim=ARCH["latent_dim"],
                                                    evaluate=False).model, test.x))

    def pyod(detector):
        detector.fit(x_fit)
        return detector.decision_function(x_test)

    timed("pyod_ae", lambda: pyod(PyODAutoEncoder(verbose=0, random_state=seed, device="cpu")))
    timed("pyod_iforest", lambda: pyod(IForest(random_state=seed)))
    return aucs, seconds


def main() -> None:
    p = argparse.ArgumentParser(description="one-class MNIST: AUROC of autoencoders vs PyOD")
    p.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9", help="normal classes to run, comma-separated")
    p.add_argument("--epochs", type=int, default=20, help="epochs of every aekit model")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    need_pyod()
    digits = [int(d) for d in args.digits.split(",")]
    root = shared_data_dir()
    train = aekit.data.load("mnist", split="train", data_dir=root)
    test = aekit.data.load("mnist", split="test", data_dir=root)

    t_start = time.perf_counter()
    per_digit, times, sizes = {m: {} for m in METHODS}, {m: 0.0 for m in METHODS}, {}
    for d in digits:
        aucs, seconds = score_digit(d, train, test, args.epochs, args.seed)
        sizes[d] = int((train.y == d).sum())
        for m in METHODS:
            per_digit[m][d] = aucs[m]
            times[m] += seconds[m]
        print(f"digit {d} ({sizes[d]} training images): "
              + ", ".join(f"{m} {aucs[m]:.4f}" for m in METHODS), flush=True)
    wall = time.perf_counter() - t_start

    means = {m: float(np.mean(list(per_digit[m].values()))) for m in METHODS}
    rows = [{"method": LABELS[m], **{str(d): per_digit[m][d] for d in digits}, "mean": means[m],
             "minutes": times[m] / 60} for m in METHODS]
    print(f"\nOne-class MNIST, AUROC on the 10,000 test images (normal = the digit trained on; "
          f"{args.epochs} epochs, wall {wall / 60:.1f} min):")
    print(format_table(rows, ["method", *map(str, digits), "mean", "minutes"]))
    best = max(AUTOENCODERS, key=means.get)
    met = means[best] >= means["pyod_ae"]
    print(f"\ngoal: aekit's best autoencoder mean AUROC ({LABELS[best]}, {means[best]:.4f}) >= PyOD AutoEncoder's "
          f"({means['pyod_ae']:.4f}): {'met' if met else 'NOT met'}")
    results = {
        "protocol": "train on one digit's MNIST training images, score the 10000 test images, AUROC with "
                    "anomaly = other digits",
        "arch": ARCH, "recipe": {**RECIPE, "epochs": args.epochs, "seed": args.seed}, "denoising_noise": NOISE,
        "pyod": {"AutoEncoder": "defaults (preprocessing=True, hidden [64, 32], 10 epochs, batch 32)",
                 "IForest": "defaults (100 trees)"},
        "train_images_per_digit": sizes, "test_images": len(test), "wall_minutes": wall / 60,
        "auroc": {m: {"per_digit": per_digit[m], "mean": means[m], "minutes": times[m] / 60,
                      "label": LABELS[m]} for m in METHODS},
        "best_aekit": best, "goal_met": bool(met),
    }
    print(f"results: {write_results('anomaly', results)}")


if __name__ == "__main__":
    main()
