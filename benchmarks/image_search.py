"""Image search by code on CIFAR-10: does searching by an autoencoder's code beat searching by pixels?

The lecture's claim (from Krizhevsky & Hinton, "Using Very Deep Autoencoders for Content-Based Image
Retrieval", ESANN 2011): nearest neighbours in pixel space are images of similar colour layout, not of the
same thing; a deep autoencoder's 256-d code (32x32x3 -> 8192 -> 4096 -> 2048 -> 1024 -> 256) finds more
images of the same kind. We measure it as precision@10: every test image is a query, the training images
are searched, and a neighbour is relevant when it has the query's class (the query is never among the
training images, so it cannot find itself).

Searched, all through :class:`aekit.apps.search.CodeIndex` (exact FAISS search):

* pixels: the 3072 values in [0, 1], by Euclidean (l2) and by cosine distance;
* PCA-256 (aekit's ``pca``): the best linear 256-d code, what a linear autoencoder learns;
* the lecture's deep AE: ``ae`` with hidden [8192, 4096, 2048, 1024] and a 256-d code, tied weights;
* a conv AE: ``ae`` with ACAI's convolutional backbone (Berthelot et al., ICLR 2019; depth 32, 3 scales:
  a 4x4x16 code map = 256 numbers; the README's image-search section has the measured table);
* single-layer patch features (Coates, Lee & Ng, AISTATS 2011; :mod:`aekit.apps.patch_features`): aekit's
  ``sparse`` AE (400 ReLU units, L1 penalty) trained on 200,000 contrast-normalised, ZCA-whitened 6x6
  patches, its filters applied at every position of an image, rectified, averaged over the 4 quadrants
  (1600 numbers). The encoder's bias is left out: trained to make patch codes sparse, it rectifies away
  most responses (P@10 37.1 with it in an exploratory run, 42.3 without);
* the controls: the same conv network untrained, and the patch pipeline with random Gaussian filters, so
  the table shows what training each AE adds.

Both AEs train with loss ``mse`` on [0, 1] pixels and a linear output: the Gaussian likelihood of
natural-image pixels (``bce`` treats a pixel as a coin's probability, and its minimum is not at zero error
for grey values). ``mse`` and ``sse`` differ by a constant factor of 3072, which Adam's update cancels;
``mse`` keeps the printed loss per pixel, comparable across image sizes. Training is bf16-mixed.

Data: the CIFAR-10 PNGs of ../shared/data/cifar10-images (20,000 training images, 2,000 per class; the
10,000 test images). Writes ``results/image_search.json`` and ``results/image_search.png`` (for a few
queries: the query, then its 8 nearest by pixels, by the deep AE's code, by the conv AE's code and by the
patch sparse AE's features, one row each, each compared in the way that gives it the highest P@10).

    flock /tmp/aekit-cpu.lock nice python benchmarks/image_search.py            # the reported run
    python benchmarks/image_search.py --quick                                     # a 2-minute check
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import RESULTS, shared_data_dir, write_results

import aekit
from aekit.apps.patch_features import PatchFeatures, PatchWhitener, sample_patches
from aekit.apps.search import CodeIndex
from aekit.data.dataset import ArrayDataset
from aekit.eval import format_table, save_image_grid
from aekit.eval.retrieval import precision_at_k, relevance

# the lecture's network, with tied weights (the decoder uses the encoder's transposed weights, as Hinton's
# RBM-pretrained deep AEs start): 69.5M parameters instead of 139M, 1.4x faster per image on our CPU
DEEP = dict(hidden=[8192, 4096, 2048, 1024], latent_dim=256, loss="mse", tied=True)
CONV = dict(backbone="acai", backbone_options={"depth": 32, "scales": 3}, latent_dim=256, loss="mse")
PATCH = dict(size=6, patches=200_000, filters=400)
PATCH_AE = dict(penalty="l1", weight=0.01, loss="mse", batch_size=256, lr=3e-3)
TRAINED = ("deep AE", "conv AE", "patch sparse AE")
# a trained network and the same network untrained: what training the AE adds is their difference
TRAINED_VS_CONTROL = {"conv AE": "conv AE untrained", "patch sparse AE": "patch random filters"}
PICTURE_QUERIES = 4  # rows of the picture: queries of different classes
PICTURE_K = 8


def load(args):
    root = shared_data_dir()
    train = aekit.data.load("cifar10", split="train", data_dir=root, limit=args.train_limit)
    test = aekit.data.load("cifar10", split="test", data_dir=root, limit=args.queries)
    return train, test


def train_ae(name: str, settings: dict, train, epochs: int, args) -> tuple:
    t0 = time.perf_counter()
    run = aekit.train("ae", train, **settings, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                      schedule="cosine", precision=args.precision, eval_every=0, progress=False, evaluate=False)
    seconds = time.perf_counter() - t0
    params = sum(p.numel() for p in run.model.parameters())
    print(f"{name}: {params / 1e6:.1f}M parameters, {epochs} epochs in {seconds / 60:.1f} min", flush=True)
    return run.model, {"parameters": params, "epochs": epochs, "train_seconds": round(seconds, 1),
                       "train_images_seen": epochs * len(train), **{k: v for k, v in settings.items()}}


def patch_features(train, args) -> tuple[PatchFeatures, PatchFeatures, dict]:
    """The sparse AE's patch features and the control with random filters, on one whitener."""
    t0 = time.perf_counter()
    size = PATCH["size"]
    whitener = PatchWhitener.fit(sample_patches(train.x, size, PATCH["patches"], seed=0), size)
    # the AE trains on a second, independent sample of patches, whitened by the first one's transform
    patches = whitener.transform(sample_patches(train.x, size, PATCH["patches"], seed=1))
    run = aekit.train("sparse", ArrayDataset(patches, name="cifar10 whitened patches"), latent_dim=PATCH["filters"],
                      **PATCH_AE, epochs=args.patch_epochs, schedule="cosine", precision=args.precision,
                      eval_every=0, progress=False, evaluate=False)
    learned = PatchFeatures(run.model.encoder.linears[0].weight.detach(), whitener)
    random_filters = PatchFeatures(torch.randn(PATCH["filters"], patches.shape[1],
                                               generator=torch.Generator().manual_seed(0)), whitener)
    seconds = time.perf_counter() - t0
    print(f"patch sparse AE: {PATCH['patches']} patches, {args.patch_epochs} epochs in {seconds:.0f} s", flush=True)
    settings = {**PATCH, **PATCH_AE, "epochs": args.patch_epochs, "train_seconds": round(seconds, 1)}
    return learned, random_filters, settings


# How codes are compared: the index's metric after a transform fitted on the training codes. Centring
# matters for cosine: every pixel and every code unit has a mean far from 0, and the cosine of raw vectors
# mostly measures that shared mean; "centred" subtracts the training mean first (cosine = correlation);
# "standardised" also divides each unit by its std (so no unit's scale dominates the distance); "whitened"
# is CodeIndex's PCA whitening onto the top 256 principal axes (``whiten=256``), with each regulariser of
# WHITEN_EPS tried and the best kept, as every representation is judged at its best comparison.
COMPARISONS = {"l2": ("l2", "none"), "cosine": ("cosine", "none"), "centred cosine": ("cosine", "centre"),
               "standardised l2": ("l2", "standardise"), "whitened cosine": ("cosine", "whiten")}
WHITEN_DIMS = 256
WHITEN_EPS = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)


def transformed(z_train: torch.Tensor, z_test: torch.Tensor, how: str) -> tuple[torch.Tensor, torch.Tensor]:
    if how in ("none", "whiten"):  # whitening is the index's own
        return z_train, z_test
    mean = z_train.mean(0, keepdim=True)
    std = z_train.std(0, keepdim=True).clamp_min(1e-6) if how == "standardise" else 1.0
    return (z_train - mean) / std, (z_test - mean) / std


def evaluate(codes_train, codes_test, metric: str, train, test, **whiten) -> dict:
    """Precision@1 and @10 of an exact search of the test codes among the training codes."""
    t0 = time.perf_counter()
    index = CodeIndex.build(codes_train, metric, kind="exact", **whiten)
    _, ids = index.search(codes_test, 10)
    rel = relevance(ids, train.y.numpy(), test.y.numpy())  # ids are positions in the training set
    p1, p10 = precision_at_k(rel, (1, 10))
    return {"precision@1": float(p1), "precision@10": float(p10), "search_seconds": round(time.perf_counter() - t0, 1),
            "ids": ids, **whiten}


def picture_rows(train, test, neighbours: dict[str, np.ndarray]) -> torch.Tensor:
    """For PICTURE_QUERIES queries of different classes: one row per method, the query then its top 8."""
    y = test.y.numpy()
    queries = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)[:PICTURE_QUERIES]]
    rows = []
    for q in queries:
        for ids in neighbours.values():
            rows.append(torch.cat([test.x[q:q + 1], train.x[torch.as_tensor(ids[q, :PICTURE_K])]]))  # (9, 3, 32, 32)
    return torch.cat(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deep-epochs", type=int, default=2)
    p.add_argument("--conv-epochs", type=int, default=30)
    p.add_argument("--patch-epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--train-limit", type=int, default=None, help="training images (default: all 20,000)")
    p.add_argument("--queries", type=int, default=None, help="test images used as queries (default: all 10,000)")
    p.add_argument("--quick", action="store_true", help="2,000 images, 500 queries, 1 epoch each: a check")
    args = p.parse_args()
    if args.quick:
        args.train_limit, args.queries, args.deep_epochs, args.conv_epochs, args.patch_epochs = 2000, 500, 1, 1, 1
    t_start = time.perf_counter()
    train, test = load(args)
    print(f"{len(train)} training images, {len(test)} queries", flush=True)
    flat_train, flat_test = train.x.reshape(len(train), -1), test.x.reshape(len(test), -1)  # (N, 3072)

    codes = {"pixels": (flat_train, flat_test)}
    models = {}
    pca = aekit.train("pca", train, latent_dim=256, progress=False, evaluate=False).model
    codes["PCA-256"] = (aekit.inference.encode(pca, train.x), aekit.inference.encode(pca, test.x))
    deep, models["deep AE"] = train_ae("deep AE", DEEP, train, args.deep_epochs, args)
    codes["deep AE"] = (aekit.inference.encode(deep, train.x), aekit.inference.encode(deep, test.x))
    conv, models["conv AE"] = train_ae("conv AE", CONV, train, args.conv_epochs, args)
    codes["conv AE"] = (aekit.inference.encode(conv, train.x), aekit.inference.encode(conv, test.x))
    # the control: the same conv network untrained (seed 0). A random conv net's outputs are already a
    # useful image descriptor; what training adds is the difference between the two rows
    torch.manual_seed(0)
    untrained = aekit.build("ae", input_shape=list(train.item_shape), **CONV).eval()
    codes["conv AE untrained"] = (aekit.inference.encode(untrained, train.x), aekit.inference.encode(untrained, test.x))
    learned, random_filters, models["patch sparse AE"] = patch_features(train, args)
    codes["patch sparse AE"] = (learned(train.x), learned(test.x))
    codes["patch random filters"] = (random_filters(train.x), random_filters(test.x))
    for name, model in (("deep AE", deep), ("conv AE", conv)):
        x_hat = aekit.inference.reconstruct(model, test.x)
        models[name]["test_mse"] = float(((x_hat - test.x) ** 2).mean())

    results, rows, all_ids = {}, [], {}
    for name, (z_train, z_test) in codes.items():
        for comparison, (metric, how) in COMPARISONS.items():
            options = [dict(whiten=WHITEN_DIMS, whiten_eps=eps) for eps in WHITEN_EPS] if how == "whiten" else [{}]
            scores = max((evaluate(*transformed(z_train, z_test, how), metric, train, test, **o) for o in options),
                         key=lambda c: c["precision@10"])
            all_ids[name, comparison] = scores.pop("ids")
            results[f"{name}/{comparison}"] = scores
            rows.append({"search by": name, "compared by": comparison, "P@1": 100 * scores["precision@1"],
                         "P@10": 100 * scores["precision@10"], "s": scores["search_seconds"]})
            print(rows[-1], flush=True)

    neighbours = {}  # the picture: each method compared its best way (by P@10)
    for name in ("pixels", *TRAINED):
        best = max(COMPARISONS, key=lambda c: results[f"{name}/{c}"]["precision@10"])
        neighbours[f"{name} ({best})"] = all_ids[name, best]
    print(format_table(rows))
    if args.quick:
        return  # a check never overwrites the reported results
    picture = RESULTS / "image_search.png"
    save_image_grid(picture_rows(train, test, neighbours), picture, nrow=1 + PICTURE_K, scale=2)
    seconds = time.perf_counter() - t_start
    def best(name: str) -> float:
        return max(results[f"{name}/{c}"]["precision@10"] for c in COMPARISONS)

    pixels_best = best("pixels")
    codes_best = max(best(name) for name in TRAINED)
    write_results("image_search", {
        "data": "cifar10-images (PNG)", "train_images": len(train), "queries": len(test),
        "relevant": "same class as the query; the query is a test image, never in the searched training set",
        "results": results, "models": models, "picture": picture.name,
        "picture_rows": list(neighbours), "wall_seconds": round(seconds, 1),
        "codes_beat_pixels": bool(codes_best > pixels_best),
        "training_beats_control": {name: bool(best(name) > best(control))
                                   for name, control in TRAINED_VS_CONTROL.items()},
        "settings": {"batch_size": args.batch_size, "lr": args.lr, "schedule": "cosine", "precision": args.precision},
    })
    controls = ", ".join(f"{name} {100 * best(name):.2f}% vs {control} {100 * best(control):.2f}%"
                         for name, control in TRAINED_VS_CONTROL.items())
    print(f"best trained code P@10 {100 * codes_best:.2f}% vs best pixel P@10 {100 * pixels_best:.2f}%; "
          f"against the controls: {controls}; wall time {seconds / 60:.1f} min; picture: {picture}")


if __name__ == "__main__":
    main()
