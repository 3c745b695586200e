"""Pretraining a classifier with few labels: MNIST test error with 100, 1000 and all 60,000 labels.

Methods, all on one architecture (784-500-500-2000 ReLU, or sigmoid with ``--activation``, then a 10-way
softmax: the network of Hinton & Salakhutdinov, Science 2006, whose RBM-pretrained, fine-tuned classifier made
1.2% errors):

- random init: the same network from PyTorch's default initialisation, trained on the labels only;
- stacked AE: greedy layer-wise pretraining (Bengio et al., NIPS 2007) of three shallow autoencoders on
  all 60,000 unlabelled training images, then fine-tuning end to end on the labels;
- stacked denoising AE: the same with masking noise on each layer's input (Vincent et al., JMLR 2010,
  whose SDAE-3 made 1.28% errors with all labels);
- stacked contractive AE: the same with each layer a contractive AE (Rifai et al., ICML 2011);
- linear probe: the stacked AE's encoder frozen, only the softmax layer trained (``--freeze``).

Pretraining is unsupervised and done once per method; every method then sees the same 5 class-balanced
label draws (seeds 0..4; with all labels the draw is the whole training set, so only the seed changes).
Test error is measured on all 10,000 test images; nothing is tuned on them: ``--tune`` holds out the
last 10,000 training images and reports on those instead (what the settings below were chosen with).

    flock /tmp/aekit-cpu.lock nice python benchmarks/pretraining.py --threads 1   # the reported run
    python benchmarks/pretraining.py --threads 1 --activation sigmoid           # the papers' units
    python benchmarks/pretraining.py --quick                                    # a smoke run (10,000 images)
    python benchmarks/pretraining.py --tune --labels 100,1000 --draws 3 --methods random --lr 1e-3
                                                  # choose the learning rates on held-out data
"""
from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np
import torch
from _common import shared_data_dir, write_results

import aekit
from aekit.apps.finetune import finetune
from aekit.eval import format_table
from aekit.train import TrainConfig
from aekit.train.pretrain import init_autoencoder, pretrain_stack

WIDTHS = [500, 500, 2000]  # Hinton & Salakhutdinov 2006's classifier; 1.6M weights, CPU-affordable
PUBLISHED = {"Hinton & Salakhutdinov 2006 (DBN, 784-500-500-2000)": 1.2,
             "Vincent et al. 2010 (SDAE-3, 784-1000-1000-1000)": 1.28}
METHODS = ("random", "stacked", "denoising", "contractive", "probe")
LABELS = {"random": "random init", "stacked": "stacked AE + fine-tune", "denoising": "stacked denoising AE + fine-tune",
          "contractive": "stacked contractive AE + fine-tune", "probe": "linear probe (stacked AE codes)"}
# Layer-wise pretraining: every shallow AE gets the same settings; masking 25% was Vincent et al.'s
# best noise on MNIST; the contractive weight keeps the penalty a fraction of the reconstruction error.
PRETRAIN = dict(batch_size=128, lr=1e-3, precision="bf16-mixed", schedule="cosine", progress=False)
NOISE_LEVEL = 0.25
CONTRACTIVE_WEIGHT = 0.1
# Fine-tuning: Adam with cosine decay, many epochs over few labels (100 labels: one full batch per step), the
# same for pretrained and random networks. Learning rates: for 100 and 1000 labels the best of 3e-4, 1e-3
# and 3e-3 (1e-2 too for sigmoid) for the random-init network on held-out training images (--tune --lr, 3
# draws), so the baseline that pretraining has to beat is not handicapped; with all labels Adam's usual 1e-3
# (not tuned) for --all-epochs epochs.
FINETUNE = dict(precision="bf16-mixed", progress=False, eval_every=0)
TUNED_LR = {"relu": {100: 3e-4, 1000: 3e-3}, "sigmoid": {100: 1e-3, 1000: 1e-3}}


def finetune_budget(n_labels: int, n_train: int, all_epochs: int, activation: str) -> dict:
    if n_labels == n_train:
        return dict(batch_size=128, epochs=all_epochs, lr=1e-3, schedule="cosine")
    lr = TUNED_LR.get(activation, TUNED_LR["relu"])
    if n_labels <= 100:
        return dict(batch_size=n_labels, epochs=300, lr=lr[100], schedule="cosine")
    return dict(batch_size=100, epochs=60, lr=lr[1000], schedule="cosine")  # up to 1000 labels: 600 steps


def pretrain(method: str, train, widths, layer_epochs: int, activation: str, seed: int = 0):
    """A deep AE (an aekit ``ae`` model) whose encoder holds the pretrained stack (freshly initialised for
    random init)."""
    if method == "random":
        return build_network(train, widths, activation, seed)
    options = {"denoising": dict(noise="masking", noise_level=NOISE_LEVEL),
               "contractive": dict(layer_model="contractive", layer_options={"weight": CONTRACTIVE_WEIGHT})}
    stack = pretrain_stack(train, [math.prod(train.item_shape), *widths], activation=activation,
                           code_activation=activation, loss="bce", config=TrainConfig(epochs=layer_epochs, seed=seed, **PRETRAIN),
                           **options.get(method, {}))
    model = build_network(train, widths, activation, seed)
    init_autoencoder(model, stack)
    return model


def build_network(train, widths, activation: str, seed: int):
    torch.manual_seed(seed)
    return aekit.build("ae", input_shape=list(train.item_shape), hidden=widths[:-1], latent_dim=widths[-1],
                       activation=activation, code_activation=activation)


def main() -> None:
    p = argparse.ArgumentParser(description="MNIST classification with few labels: pretraining vs random init")
    p.add_argument("--labels", default="100,1000,all", help="label counts, comma-separated ('all' = 60000)")
    p.add_argument("--draws", type=int, default=5, help="label draws (seeds) per label count")
    p.add_argument("--all-draws", dest="all_draws", type=int, default=1,
                   help="seeds with all labels (the draw is the whole set; each costs a full training)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--layer-epochs", dest="layer_epochs", type=int, default=8, help="pretraining epochs per layer")
    p.add_argument("--all-epochs", dest="all_epochs", type=int, default=8, help="fine-tuning epochs with all labels")
    p.add_argument("--lr", type=float, default=None,
                   help="one fine-tuning learning rate for every label count (default: the tuned budgets); for --tune")
    p.add_argument("--activation", default="relu",
                   help="hidden units: relu, or sigmoid as in the 2006-2011 papers (results/pretraining_sigmoid.json)")
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="hidden widths after the 784 inputs")
    p.add_argument("--tune", action="store_true", help="evaluate on the last 10,000 training images, not the test set")
    p.add_argument("--quick", action="store_true", help="a smoke run: 10,000 images, 1 layer epoch, 2 draws")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)  # no "Using bfloat16 AMP" line per run
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    root = shared_data_dir()
    train = aekit.data.load("mnist", split="train", data_dir=root)
    test = aekit.data.load("mnist", split="test", data_dir=root)
    if args.tune:  # settings are chosen on held-out training images; the test set stays unseen
        train, test = train.subset(slice(0, 50_000)), train.subset(slice(50_000, None))
    if args.quick:
        train, test = train.subset(slice(0, 10_000)), test.subset(slice(0, 2_000))
        args.draws, args.layer_epochs, args.all_epochs = min(args.draws, 2), 1, 1
    widths = [int(w) for w in args.widths.split(",")]
    methods = args.methods.split(",")
    label_counts = [len(train) if n == "all" else int(n) for n in args.labels.split(",")]

    networks, pretrain_info = {}, {}
    for method in dict.fromkeys("stacked" if m == "probe" else m for m in methods):
        t0 = time.perf_counter()
        networks[method] = pretrain(method, train, widths, args.layer_epochs, args.activation)
        seconds = time.perf_counter() - t0
        pretrain_info[method] = {"seconds": round(seconds, 1), "images": len(train),
                                 "layer_epochs": 0 if method == "random" else args.layer_epochs}
        print(f"pretrained {method}: {seconds:.0f} s", flush=True)

    results: dict = {}
    for n in label_counts:
        budget = finetune_budget(n, len(train), args.all_epochs, args.activation)
        if args.lr:
            budget["lr"] = args.lr
        draws = args.all_draws if n == len(train) else args.draws
        for method in methods:
            network = networks["stacked" if method == "probe" else method]
            errors, seconds = [], 0.0
            for seed in range(draws):
                run = finetune(network, train, test, labels=n, label_seed=seed, seed=seed,
                               from_scratch=method == "random", freeze=method == "probe", **budget, **FINETUNE)
                errors.append(100 * run.metrics["test_error"])
                seconds += run.metrics["train_seconds"]
            results.setdefault(method, {})[str(n)] = {
                "errors": [round(e, 3) for e in errors], "mean": float(np.mean(errors)),
                "std": float(np.std(errors, ddof=1)) if len(errors) > 1 else None, "draws": draws,
                "train_seconds": round(seconds, 1), "steps_per_draw": run.metrics["steps"], **budget}
            r = results[method][str(n)]
            print(f"{n:>6} labels  {LABELS[method]:36s} error {r['mean']:6.2f}% "
                  f"± {r['std'] if r['std'] is not None else float('nan'):.2f}  ({seconds:.0f} s)", flush=True)

    rows = []
    for method in methods:
        row = {"method": LABELS[method]}
        for n in label_counts:
            r = results[method][str(n)]
            name = "all" if n == len(train) else str(n)
            spread = f" ± {r['std']:.2f}" if r["std"] is not None else ""
            row[f"{name} labels"] = f"{r['mean']:.2f}{spread}"
        rows.append(row)
    where = "held-out training images (--tune)" if args.tune else f"the {len(test)} test images"
    network = "-".join(map(str, [math.prod(train.item_shape), *widths, 10])) + f" ({args.activation})"
    print(f"\nMNIST test error (%) on {where}, mean ± std over label draws; network {network};"
          f" pretraining on {len(train)} unlabelled images")
    print(format_table(rows))
    if str(len(train)) in results.get("stacked", {}):
        print("published, all labels: " + "; ".join(f"{k}: {v}%" for k, v in PUBLISHED.items()))

    goal = {}
    for n in (c for c in label_counts if c < len(train)):
        if "random" not in results:
            break
        base = results["random"][str(n)]["mean"]
        goal[str(n)] = {m: results[m][str(n)]["mean"] < base for m in ("stacked", "denoising", "contractive")
                        if m in results}
        verdict = "yes" if goal[str(n)] and all(goal[str(n)].values()) else "NO"
        print(f"goal, {n} labels: every pretraining beats random init ({base:.2f}%): {verdict} {goal[str(n)]}")

    wall = time.perf_counter() - t_start
    print(f"wall time {wall / 60:.1f} min")
    if args.quick or args.tune:
        return  # smoke and tuning runs never overwrite the reported results
    name = "pretraining" if args.activation == "relu" else f"pretraining_{args.activation}"
    write_results(name, {
        "network": [math.prod(train.item_shape), *widths, 10], "activation": args.activation,
        "train_images": len(train), "test_images": len(test), "draws": args.draws, "all_label_draws": args.all_draws,
        "pretrain": {**pretrain_info, "settings": {**PRETRAIN, "noise": f"masking {NOISE_LEVEL}",
                                                   "contractive_weight": CONTRACTIVE_WEIGHT}},
        "finetune": {**FINETUNE, "budgets": {str(n): finetune_budget(n, len(train), args.all_epochs, args.activation)
                                             for n in label_counts}},
        "test_error_percent": results, "published_all_labels_percent": PUBLISHED, "goal_beats_random": goal,
        "wall_seconds": round(wall, 1)})


if __name__ == "__main__":
    main()
