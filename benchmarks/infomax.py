"""Deep InfoMax against autoencoders on one encoder, and the embedding score L_D* as a judge of encoders.

Hjelm et al., "Learning deep representations by mutual information estimation and maximization", ICLR 2019,
Table 1 (CIFAR-10): classification accuracy of a probe on an encoder's conv features, its 1024-d layer and its
64-d code (Y). Every trained encoder here is DIM's (conv 64-128-256, kernel 4, stride 2, batch norm, ReLU,
linear 1024, code 64: the ``dim`` part): AE, VAE and AAE (with the ``dim`` part's mirror decoder), DIM global
(JSD), DIM local with JSD and with InfoNCE, each trained on the same number of images with the same recipe;
PCA (64 components of the pixels) and the same encoder at its random initialisation are the floors.

Probes (DIM's protocol): features of the frozen encoder, standardised on the training images; DIM's probe
(linear 200, batch norm, dropout 0.1, ReLU, linear 10) and a linear probe, each trained with Adam on the
training images, test accuracy on the 10,000 test images. The embedding score of every encoder is the
lecture's L_D* (``aekit.eval.embedding_score`` on the test images, lower is better); its Spearman correlation
with the probe accuracies says whether it ranks encoders as the probes do.

Data: ../shared/data/cifar10-images (20,000 training PNGs, 2,000 per class; the 10,000 test PNGs).

    python benchmarks/infomax.py                      # default: 8 epochs each (160,000 images), about an hour
    python benchmarks/infomax.py --only dim_local_infonce,ae --epochs 2
    python benchmarks/infomax.py --run-dir runs/infomax   # keeps every run; a second call resumes or reuses them
    python benchmarks/infomax.py --only dim_local_infonce,ae --epochs 24 --results infomax_e24   # a budget study
    python benchmarks/infomax.py --paper --run-dir runs/infomax-paper   # the paper's protocol (a GPU job)
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from _common import machine, shared_data_dir, write_results
from torch import nn

import aekit
from aekit import inference
from aekit.eval import embedding_score, format_table
from aekit.io import METRICS, load_run

# The published numbers (conv / fc / Y), DIM's Table 1, full CIFAR-10 (50,000 images), 1000 epochs.
PUBLISHED = {"dim_local_infonce": (75.21, 75.57, 69.13), "dim_local_jsd": (73.25, 73.62, 66.96)}
PUBLISHED_NOTE = "as recalled, not checked against the paper"
LATENT = 64
RECIPE = dict(optimizer="adam", lr=5e-4, schedule="cosine", batch_size=64, precision="bf16-mixed")
PAPER = dict(optimizer="adam", lr=1e-4, schedule="none", batch_size=64, precision="32-true", epochs=1000)
MODELS = {  # name: (registered model, hyperparameters)
    "ae": ("ae", dict(backbone="dim", loss="sse")),
    "vae": ("vae", dict(backbone="dim", loss="sse", sigma=0.1)),
    "aae": ("aae", dict(backbone="dim", loss="sse")),
    "dim_global": ("infomax", dict(estimator="jsd", global_weight=1.0, local_weight=0.0)),
    "dim_local_jsd": ("infomax", dict(estimator="jsd", global_weight=0.0, local_weight=1.0)),
    "dim_local_infonce": ("infomax", dict(estimator="infonce", global_weight=0.0, local_weight=1.0)),
}
FLOORS = ("pca", "random")
LAYERS = ("conv", "fc", "code")


# ---- features and probes ---------------------------------------------------------------------------------
@torch.no_grad()
def features(model, x: torch.Tensor, batch_size: int = 1000) -> dict[str, torch.Tensor]:
    """The frozen encoder's conv map (flattened), 1024-d layer and code of every image; PCA has a code only.

    The code is ``encode(x)`` (a VAE's posterior mean, not its log-variance); conv and fc come from the
    ``dim`` encoder's ``features``."""
    model.eval()
    out: dict[str, list[torch.Tensor]] = {k: [] for k in LAYERS}
    layered = callable(getattr(model.encoder, "features", None)) if hasattr(model, "encoder") else False
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        out["code"].append(model.encode(xb).float())
        if layered:
            f = model.encoder.features(xb)
            out["conv"].append(f.conv.flatten(1).float())
            out["fc"].append(f.fc.float())
    return {k: torch.cat(v) for k, v in out.items() if v}


def probe_accuracy(train_z, train_y, test_z, test_y, hidden: int | None, epochs: int, seed: int = 0) -> float:
    """Test accuracy (%) of DIM's probe (``hidden`` 200: linear, batch norm, dropout 0.1, ReLU, linear) or of a
    linear probe (``hidden`` None) trained with Adam 1e-3 (batch 128, cosine) on standardised features."""
    torch.manual_seed(seed)
    mean, std = train_z.mean(0), train_z.std(0).clamp_min(1e-6)
    train_z, test_z = (train_z - mean) / std, (test_z - mean) / std
    d, k = train_z.shape[1], int(train_y.max()) + 1
    net = nn.Linear(d, k) if hidden is None else nn.Sequential(
        nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.Dropout(0.1), nn.ReLU(), nn.Linear(hidden, k))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps = epochs * (len(train_z) // 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_z), generator=g)
        for i in range(0, len(order) - 127, 128):
            idx = order[i:i + 128]
            loss = nn.functional.cross_entropy(net(train_z[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        return 100.0 * float((net(test_z).argmax(1) == test_y).float().mean())


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


# ---- the encoders ----------------------------------------------------------------------------------------
def trained(name: str, train, recipe: dict, epochs: int, run_dir: Path | None) -> tuple[object, dict]:
    """Train (or, with ``run_dir``, reuse or resume) one encoder; returns the model and its training record."""
    model_name, hparams = MODELS[name]
    out = run_dir / name if run_dir is not None else None
    if out is not None and (out / METRICS).exists():
        run = load_run(out)
        if run.config["train"]["epochs"] == epochs:
            return run.model, run.metrics
    resume = out is not None and (out / "checkpoint.safetensors").exists()
    run = aekit.train(model_name, train, out=out, resume=resume, latent_dim=LATENT, epochs=epochs, evaluate=False,
                      **hparams, **recipe)
    return run.model, run.metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join([*MODELS, *FLOORS]), help="comma-separated encoders")
    p.add_argument("--epochs", type=int, default=8, help="epochs of the 20,000 training images for every encoder")
    p.add_argument("--probe-epochs", type=int, default=20)
    p.add_argument("--train-limit", type=int, default=None, help="fewer training images (a quick look)")
    p.add_argument("--run-dir", type=Path, default=None, help="keep the runs here; a second call resumes them")
    p.add_argument("--paper", action="store_true", help="the paper's protocol: Adam 1e-4, batch 64, fp32, "
                   "1000 epochs (use with --run-dir on a GPU; the full 50,000 images need the cifar10 batches)")
    p.add_argument("--data-dir", type=Path, default=None, help="where cifar10 lives (default: the shared data)")
    p.add_argument("--results", default="infomax", help="results file name (a budget study keeps its own)")
    args = p.parse_args()
    only = args.only.split(",")
    recipe = dict(PAPER) if args.paper else dict(RECIPE)
    epochs = recipe.pop("epochs", args.epochs) if args.paper else args.epochs
    recipe["progress"] = True

    t_start = time.perf_counter()
    root = args.data_dir or shared_data_dir()
    train = aekit.data.load("cifar10", split="train", data_dir=root, limit=args.train_limit)
    test = aekit.data.load("cifar10", split="test", data_dir=root)
    print(f"CIFAR-10: {len(train)} training and {len(test)} test images of {train.item_shape}", flush=True)

    rows, results = [], {"machine": machine(), "recipe": recipe, "epochs": epochs, "latent_dim": LATENT,
                         "train_images": len(train), "test_images": len(test), "published_note": PUBLISHED_NOTE,
                         "encoders": {}}
    for name in only:
        t0 = time.perf_counter()
        if name in MODELS:
            model, record = trained(name, train, recipe, epochs, args.run_dir)
            seen, train_seconds = epochs * len(train), record.get("train_seconds")
        elif name == "pca":
            model = aekit.train("pca", train, latent_dim=LATENT, evaluate=False).model
            seen, train_seconds = len(train), None
        elif name == "random":  # DIM's encoder at its (seeded) initialisation
            torch.manual_seed(0)
            model = aekit.build("infomax", input_shape=list(train.item_shape), latent_dim=LATENT)
            seen, train_seconds = 0, 0.0
        else:
            raise SystemExit(f"unknown encoder {name!r}: choose from {', '.join([*MODELS, *FLOORS])}")
        f_train, f_test = features(model, train.x), features(model, test.x)
        entry = {"images_seen": seen, "train_seconds": train_seconds, "probe": {}, "linear": {}}
        for layer in f_train:
            entry["probe"][layer] = probe_accuracy(f_train[layer], train.y, f_test[layer], test.y, 200, args.probe_epochs)
            entry["linear"][layer] = probe_accuracy(f_train[layer], train.y, f_test[layer], test.y, None,
                                                    args.probe_epochs)
        entry.update(embedding_score(model, test))
        entry["seconds"] = time.perf_counter() - t0
        results["encoders"][name] = entry
        row = {"encoder": name, "images": seen,
               **{f"probe_{k}": entry["probe"].get(k) for k in LAYERS},
               **{f"linear_{k}": entry["linear"].get(k) for k in LAYERS},
               "L_D*": entry["embedding_score"], "train_min": None if train_seconds is None else train_seconds / 60}
        rows.append(row)
        print(format_table([row]), flush=True)
        write_results(args.results, results)  # after every encoder: an interrupted run keeps what it measured

    # Does the embedding score rank encoders as the probes do? (lower L_D* = better, so its negative)
    names = list(results["encoders"])
    scores = [-results["encoders"][n]["embedding_score"] for n in names]
    rho = {}
    for kind in ("probe", "linear"):
        for layer in LAYERS:
            have = [n for n in names if layer in results["encoders"][n][kind]]
            if len(have) >= 3:
                rho[f"{kind}_{layer}"] = spearman([scores[names.index(n)] for n in have],
                                                  [results["encoders"][n][kind][layer] for n in have])
    results["spearman_embedding_score_vs"] = rho

    # Goals: DIM local's probe on conv features >= 65; every DIM variant >= 10 points above AE, VAE and AAE.
    enc = results["encoders"]
    dims = [n for n in enc if n.startswith("dim_")]
    aes = [n for n in ("ae", "vae", "aae") if n in enc]
    goals = {}
    if "dim_local_jsd" in enc or "dim_local_infonce" in enc:
        best_local = max(enc[n]["probe"]["conv"] for n in ("dim_local_jsd", "dim_local_infonce") if n in enc)
        goals["dim_local_conv_probe_at_least_65"] = best_local >= 65
    if dims and aes:
        for layer in LAYERS:
            margin = min(enc[d]["probe"][layer] for d in dims) - max(enc[a]["probe"][layer] for a in aes)
            goals[f"every_dim_10_points_above_ae_vae_aae_{layer}"] = {"margin": margin, "met": margin >= 10}
    if "probe_code" in rho:
        goals["embedding_score_spearman_at_least_0.8"] = {"rho_vs_probe_code": rho["probe_code"],
                                                           "encoders": len(names), "met": rho["probe_code"] >= 0.8}
    results["goals"] = goals
    results["wall_minutes"] = (time.perf_counter() - t_start) / 60
    path = write_results(args.results, results)

    print("\nProbe accuracy (%) on CIFAR-10 test images; L_D* on the test images (lower is better):")
    print(format_table(rows))
    for name, (conv, fc, y) in PUBLISHED.items():
        print(f"published ({PUBLISHED_NOTE}) {name}: conv {conv}, fc {fc}, Y {y} (50,000 images, 1000 epochs)")
    print(f"Spearman rho, -L_D* vs probe accuracy: {', '.join(f'{k} {v:.3f}' for k, v in rho.items())}")
    print(f"goals: {goals}")
    print(f"{results['wall_minutes']:.1f} min wall; results: {path}")


if __name__ == "__main__":
    main()
