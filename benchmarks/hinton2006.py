"""Hinton & Salakhutdinov (Science 2006), Fig. 2: deep autoencoder vs PCA on MNIST, 30-d codes.

Metric: per-image sum over the 784 pixels (in [0, 1]) of the squared reconstruction error, averaged over
the 10,000 test images. Published: PCA 13.87, deep AE 784-1000-500-250-30 3.00 (RBM-pretrained, CG
fine-tuned). We train the same architecture end to end with aekit's own loop and a modern recipe (below),
plus the tied-weight and the greedy-layer-wise-pretrained variants, and draw the 2-D codes (PCA vs AE)
with kNN accuracy in the plane.

    python benchmarks/hinton2006.py                    # everything (about 45 minutes on 2 CPU cores)
    python benchmarks/hinton2006.py --only pca,ae      # a subset
    python benchmarks/hinton2006.py --only ae --set weight_decay=0   # an ablation of the recipe
    AEKIT_SHARED_DATA=/path/to/data python benchmarks/hinton2006.py
"""
from __future__ import annotations

import argparse
import time

from _common import RESULTS, shared_data_dir, write_results

import aekit
from aekit import inference
from aekit.apps.pretrain import pretrain_and_finetune
from aekit.eval import format_table, knn_accuracy_2d, plot_code_maps
from aekit.settings import parse_assignments

PUBLISHED = {"pca": 13.87, "ae": 3.00, "ae_tied": None, "ae_stacked": 3.00}
ARCH = dict(hidden=[1000, 500, 250], latent_dim=30)
# The recipe, from a search over activations, norms, losses, learning rates, schedules and weight decay
# (what mattered: batch norm, then decoupled weight decay; see the README's benchmark notes): ReLU + batch
# norm in the hidden layers, linear 30-d code, BCE on logits, AdamW (lr 1e-2, weight decay 0.05), batch 512,
# 5% linear warm-up then cosine decay to 0, bf16 autocast (AMX).
EPOCHS = 250
RECIPE = dict(activation="relu", norm="batch", loss="bce", optimizer="adamw", lr=1e-2, weight_decay=0.05,
              batch_size=512, schedule="cosine", warmup_epochs=0.05 * EPOCHS, precision="bf16-mixed",
              epochs=EPOCHS, eval_every=0)


def main() -> None:
    p = argparse.ArgumentParser(description="Hinton & Salakhutdinov 2006 on MNIST")
    p.add_argument("--only", default="pca,ae,ae_tied,ae_stacked,map2d", help="comma-separated subset")
    p.add_argument("--epochs", type=int, default=RECIPE["epochs"], help="fine-tuning epochs per deep model")
    p.add_argument("--layer-epochs", type=int, default=3, help="epochs per layer for the stacked variant")
    p.add_argument("--map-epochs", type=int, default=15, help="epochs for the 2-D AE of the picture")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change the recipe for an ablation, e.g. --set weight_decay=0 --set norm=none")
    args = p.parse_args()
    only = set(args.only.split(","))
    root = shared_data_dir()
    train = aekit.data.load("mnist", split="train", data_dir=root)
    test = aekit.data.load("mnist", split="test", data_dir=root)
    recipe = {**RECIPE, "epochs": args.epochs, "warmup_epochs": 0.05 * args.epochs, "progress": True,
              **parse_assignments(args.set)}
    rows, results = [], {"arch": ARCH, "train_images": len(train), "test_images": len(test)}
    if not args.set:
        results["recipe"] = recipe

    ablation = f" [{', '.join(args.set)}]" if args.set else ""  # kept apart from the main results

    def record(key: str, label: str, run, extra_seconds: float = 0.0):
        key, label = key + ablation, label + ablation
        m = run.metrics
        minutes = (m["train_seconds"] + extra_seconds) / 60
        results[key] = {"recon_sse": m["recon_sse"], "published": PUBLISHED.get(key.split(" ")[0]), "train_minutes": minutes,
                        "train": None if run.model.closed_form else run.config["train"],
                        **{k: m[k] for k in ("probe_accuracy", "cluster_accuracy", "recon_mse") if k in m}}
        rows.append({"model": label, "test_sse": m["recon_sse"], "published": PUBLISHED.get(key.split(" ")[0]),
                     "train_min": minutes, "probe_acc": m.get("probe_accuracy")})
        print(format_table(rows[-1:]), flush=True)

    if "pca" in only:
        record("pca", "PCA (30)", aekit.train("pca", train, test=test, latent_dim=30))
    if "ae" in only:
        record("ae", "deep AE 784-1000-500-250-30", aekit.train("ae", train, test=test, **ARCH, **recipe))
    if "ae_tied" in only:
        record("ae_tied", "deep AE, tied weights", aekit.train("ae", train, test=test, tied=True, **ARCH, **recipe))
    if "ae_stacked" in only:
        t0 = time.perf_counter()
        run = pretrain_and_finetune(train, test, widths=[*ARCH["hidden"], ARCH["latent_dim"]],
                                    layer_epochs=args.layer_epochs,
                                    **{k: v for k, v in recipe.items()})
        record("ae_stacked", "deep AE, stacked pretraining", run, extra_seconds=run.metrics["pretrain_seconds"])
        results["ae_stacked" + ablation]["wall_minutes"] = (time.perf_counter() - t0) / 60
    if "map2d" in only:
        maps, knn = {}, {}
        for name, settings in (("pca", {}), ("ae", dict(hidden=ARCH["hidden"], **{**recipe, "epochs": args.map_epochs,
                                                                          "warmup_epochs": 0.05 * args.map_epochs}))):
            run = aekit.train(name, train, test=test, latent_dim=2, evaluate=False, **settings)
            z_train, z_test = inference.encode(run.model, train.x), inference.encode(run.model, test.x)
            maps[name.upper()] = z_test.numpy()
            knn[name.upper()] = knn_accuracy_2d(z_train, train.y, z_test, test.y)
        picture = plot_code_maps(maps, test.y.numpy(), RESULTS / "hinton2006_map2d.png", numbers=knn,
                                 title="MNIST test digits in a 2-D code: PCA vs deep AE 784-1000-500-250-2")
        results["map2d"] = {"knn_accuracy": knn, "picture": picture.name}
        print(f"2-D codes, kNN accuracy in the plane: {knn}; picture {picture}")

    print("\nHinton & Salakhutdinov 2006, MNIST test SSE per image (30-d codes):")
    print(format_table(rows, ["model", "test_sse", "published", "train_min", "probe_acc"]))
    print(f"results: {write_results('hinton2006', results, merge=True)}")


if __name__ == "__main__":
    main()
