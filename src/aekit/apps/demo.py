"""``aekit demo``: PCA against the autoencoder family on built-in data, with numbers and pictures.

Runs offline on any machine in a few minutes on 2 CPU cores: scikit-learn's 8x8 digits (table of
reconstruction, linear probe and clustering; reconstructions; the lecture's 2-D map of PCA vs AE codes)
and ACAI's synthetic lines (reconstructions, where a nonlinear code wins clearly).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import torch

from aekit import data, inference
from aekit.eval import format_table, knn_accuracy_2d, plot_code_maps, save_reconstructions
from aekit.runs import train

# (model, settings) for the digits table: small widths suit 64-pixel images and 1437 training digits.
DIGITS_MODELS = [
    ("pca", {}),
    ("ae", dict(hidden=[256, 128], weight_decay=1e-5)),
    ("denoising", dict(hidden=[256, 128], noise="masking", noise_level=0.25)),
    ("sparse", dict(hidden=[256], penalty="l1", weight=1e-3)),
    ("contractive", dict(hidden=[256], activation="tanh", weight=0.01)),
    ("conv_ae", dict(channels=[32, 64], decoder="upsample")),
]
TRAIN = dict(epochs=150, batch_size=64, lr=2e-3, schedule="cosine", warmup_epochs=2)
QUICK = dict(epochs=3)


def run_demo(out: str | Path = "demo_out", quick: bool = False, latent_dim: int = 8) -> list[dict]:
    # These models are small (64-pixel digits): one thread beats two, whose OpenMP hand-offs cost more
    # than the arithmetic they share.
    torch.set_num_threads(1)
    out = Path(out)
    runs_dir = out / "runs"
    pictures = out / "pictures"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)  # the demo's own runs from last time
    train_set, test_set = data.load("digits", split="train"), data.load("digits", split="test")
    schedule = {**TRAIN, **(QUICK if quick else {}), "progress": False}
    t_all = time.perf_counter()
    rows = []
    print(f"aekit demo: {len(train_set)} train / {len(test_set)} test digits (8x8), code size {latent_dim}",
          file=sys.stderr)
    for name, settings in DIGITS_MODELS:
        run = train(name, train_set, test=test_set, out=runs_dir / f"digits-{name}", latent_dim=latent_dim,
                    **settings, **({} if name == "pca" else schedule))
        m = run.metrics
        rows.append({"model": name, "recon_sse": m["recon_sse"], "psnr_db": m["psnr"],
                     "probe_acc": m.get("probe_accuracy"), "cluster_acc": m.get("cluster_accuracy"),
                     "cluster_nmi": m.get("cluster_nmi"), "seconds": m["train_seconds"]})
        save_reconstructions(test_set.x[:12], inference.reconstruct(run.model, test_set.x[:12]),
                             pictures / f"digits-{name}-reconstructions.png", n=12, nrow=12, scale=4)
        print(f"  trained {name:12s} in {m['train_seconds']:.1f}s", file=sys.stderr)
    print("\nDigits test set (lower recon_sse is better; probe and clustering use the codes):")
    print(format_table(rows, ["model", "recon_sse", "psnr_db", "probe_acc", "cluster_acc", "cluster_nmi", "seconds"]))

    # The lecture's picture: 2-D codes of PCA and of a deep AE, coloured by digit.
    maps, knn = {}, {}
    for name, settings in (("pca", {}), ("ae", dict(hidden=[256, 128], **schedule))):
        run = train(name, train_set, test=test_set, latent_dim=2, evaluate=False, **settings)
        z_train, z_test = inference.encode(run.model, train_set.x), inference.encode(run.model, test_set.x)
        label = name.upper()
        maps[label] = z_test.numpy()
        knn[label] = knn_accuracy_2d(z_train, train_set.y, z_test, test_set.y)
    map_path = plot_code_maps(maps, test_set.y.numpy(), pictures / "digits-2d-map.png",
                              title="Digits in a 2-D code: PCA vs deep AE", numbers=knn)
    print("\n2-D map, kNN accuracy in the plane: " + ", ".join(f"{k} {v:.3f}" for k, v in knn.items()))

    # Lines: a one-parameter family (the angle) that PCA cannot capture in a small code.
    lines_train = data.load("lines", split="train", limit=300 if quick else 6000, scale="01")
    lines_test = data.load("lines", split="test", limit=500, scale="01")
    line_rows = []
    for name, settings in (("pca", {}), ("ae", dict(hidden=[512, 256], **{**schedule, "epochs": 3 if quick else 40}))):
        run = train(name, lines_train, test=lines_test, out=runs_dir / f"lines-{name}", latent_dim=2, **settings)
        line_rows.append({"model": name, "recon_sse": run.metrics["recon_sse"], "psnr_db": run.metrics["psnr"],
                          "seconds": run.metrics["train_seconds"]})
        save_reconstructions(lines_test.x[:12], inference.reconstruct(run.model, lines_test.x[:12]),
                             pictures / f"lines-{name}-reconstructions.png", n=12, nrow=12, scale=2)
    print("\nACAI lines (32x32), code size 2:")
    print(format_table(line_rows, ["model", "recon_sse", "psnr_db", "seconds"]))
    print(f"\nPictures: {pictures.resolve()}  (reconstructions: originals above, reconstructions below;"
          f" 2-D map: {map_path.name})\nRuns: {runs_dir.resolve()}  (reload with aekit.load(path))"
          f"\nTotal time {time.perf_counter() - t_all:.0f}s")
    return rows
