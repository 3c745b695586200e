"""ACAI (Berthelot et al., ICLR 2019), Tables 2 and 3: what the codes are worth downstream.

For each of the seven autoencoders of Table 1, on the same network (ACAI's conv encoder/decoder, depth 16
as the official MNIST runs; 3 scales, so a 4x4 map of 2 or 16 channels = 32-d or 256-d codes), trained
on [-1, 1] images (MNIST padded to 32x32; the CIFAR-10 PNGs of ../shared/data, 20k train / 10k test):

- single-layer classifier: a linear softmax classifier on the frozen test codes, fitted on training codes
  (aekit.eval.probe_accuracy: standardised logistic regression), two ways: ``probe`` on 20,000 of them, as
  every aekit evaluation does, ``probe-all`` on all of them, as the paper's, whose classifier (one dense
  layer, Adam) trains beside the autoencoder on every training image (ours fits it to the final codes);
- clustering, accuracy after Hungarian matching (aekit.eval.cluster_scores), two ways: ``cluster`` fits
  k-means (10 clusters, k-means++ x10) on the PCA-whitened test codes themselves, as every aekit
  evaluation does; ``official`` follows ACAI's cluster.py: whitening and k-means (random starts,
  ``--kmeans-inits`` restarts, the official 1000 by default, keeping the lowest objective) fitted on the
  training codes, test codes assigned to the nearest centre. On whitened 256-d codes the two can differ
  by many points: the objective is nearly flat across starts while the accuracy is not.

Published (approximate, ANCHORS.md): ACAI MNIST probe 98.25% (32-d) / 99.00% (256-d), clustering 94.4% /
96.2%. The paper trains for 2^24 images; ``--epochs`` sets our budget and the table records it.

    python benchmarks/acai_downstream.py                                   # everything (hours on a CPU)
    python benchmarks/acai_downstream.py --tasks mnist32 --models ACAI,Baseline --epochs 5
    python benchmarks/acai_downstream.py --report                          # the saved table
    python benchmarks/acai_downstream.py --tasks mnist256 --models ACAI --epochs 280 --run-dir runs/downstream \
        --score-every 40                # the paper's 2^24 images (hours), scored on the way; the same command resumes
    python benchmarks/acai_downstream.py --curve runs/downstream/mnist256-ACAI/progress.json   # its scores so far
    python benchmarks/acai_downstream.py --tasks mnist256 --models ACAI --epochs 40 --run-dir runs/downstream \
        --score-every 10 --kmeans-inits 200 --results acai_downstream_mnist256_e40   # scored in full where it stopped
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _common import RESULTS, curve_table, shared_data_dir, train_resumably, write_results

import aekit
from aekit.eval import cluster_scores, format_table, probe_accuracy
from aekit.evaluate import evaluate_model
from aekit.io import read_json

# label -> (model, settings), the same baselines as benchmarks/acai_lines.py
from acai_lines import MODELS, for_model  # noqa: E402  (benchmarks/ is the script's own directory)

PUBLISHED = {("ACAI", "mnist32"): (98.25, 94.4), ("ACAI", "mnist256"): (99.00, 96.2)}
TASKS = {  # name -> (dataset, latent channels at 4x4, train limit, test limit)
    "mnist32": ("mnist", 32, None, None),
    "mnist256": ("mnist", 256, None, None),
    "cifar256": ("cifar10-images", 256, 20_000, 10_000),
}


def load(task: str, root, limit: int | None):
    dataset, _, train_limit, test_limit = TASKS[task]
    train_limit, test_limit = limit or train_limit, limit or test_limit
    if dataset == "mnist":
        options = dict(data_dir=root, scale="pm1", pad=32)
        return (aekit.data.load("mnist", split="train", limit=train_limit, **options),
                aekit.data.load("mnist", split="test", limit=test_limit, **options))
    folder = root / "cifar10-images" / "cifar10-images.tar"
    return (aekit.data.load(str(folder), split="train", scale="pm1", limit=train_limit),
            aekit.data.load(str(folder), split="test", scale="pm1", limit=test_limit))


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def report(runs: dict) -> str:
    """The saved runs laid out as the paper's Tables 2-3: a column per model, a row per task and score
    (probe accuracy on 20k and on all training codes; k-means accuracy, ours and by the official protocol),
    in %, the paper's figure beside its own protocol's row; '-' = not run."""
    rows = []
    for task in TASKS:
        paper = dict(zip(("probe-all", "official"), PUBLISHED.get(("ACAI", task), (None, None))))
        for score, key in (("probe", "probe_accuracy"), ("probe-all", "probe_accuracy_all"),
                           ("cluster", "cluster_accuracy"), ("official", "cluster_accuracy_official")):
            row = {"task": task, "score": score}
            row.update({label: percent(runs.get(f"{task}/{label}", {}).get(key)) for label in MODELS})
            row["paper ACAI"] = f"{paper[score]:.2f}" if paper.get(score) else "-"
            rows.append(row)
    return format_table(rows)


def curve(path: Path) -> str:
    """The probe and k-means (ours) along a run (its progress.json) or along each run of the results file
    that kept one (``--score-every``)."""
    return curve_table(path, [("probe", ".2%"), ("cluster", ".2%"), ("recon MSE", ".4f")],
                       lambda results: list(results.get("runs", {}).items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--limit", type=int, default=None,
                   help="use only this many train and test images (a quick check: prints, writes no results)")
    p.add_argument("--kmeans-inits", type=int, default=1000,
                   help="random starts of the official clustering (cluster.py: 1000), on one core: about 0.25 s "
                        "each for 60,000 32-d codes, over 2 s each for 256-d ones")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="threads for the official clustering, which runs alone after training (default: all, "
                        "as torch uses; two cores halve its time)")
    p.add_argument("--kmeans-spread", type=int, default=0,
                   help="also record the official clustering's accuracy from each of this many single random starts")
    p.add_argument("--score-every", type=int, default=0,
                   help="also record the probe and k-means (ours) every N epochs: a curve of what the budget buys "
                        "(its rows: images, probe accuracy, k-means accuracy, recon MSE)")
    p.add_argument("--run-dir", help="keep each model's checkpoint here; the same command then resumes an interrupted "
                                      "run (a long budget, e.g. --epochs 280 for the paper's 2^24 MNIST images)")
    p.add_argument("--results", default="acai_downstream",
                   help="results/NAME.json to read and write (a budget study, e.g. --epochs 40, keeps its own file)")
    p.add_argument("--report", action="store_true", help="print the table of the saved results and stop")
    p.add_argument("--curve", type=Path, metavar="JSON",
                   help="print the scores along a run (its progress.json, or the results file) and stop")
    args = p.parse_args()
    if args.curve:
        print(curve(args.curve))
        return
    if args.score_every < 0:
        raise SystemExit(f"--score-every must be >= 0 epochs (0: no curve), got {args.score_every}")
    path = RESULTS / f"{args.results}.json"
    results = read_json(path).get("runs", {}) if path.exists() else {}
    if args.report:
        print(report(results))
        return
    root = shared_data_dir()
    rows = []
    for task in args.tasks.split(","):
        train, test = load(task, root, args.limit)
        latent_dim = TASKS[task][1]
        for label in args.models.split(","):
            name, extra = MODELS[label]
            settings = {**extra}
            tr, te = for_model(train, settings), for_model(test, settings)
            suffix = f"-limit{args.limit}" if args.limit else ""  # a quick check never resumes a full run
            out = Path(args.run_dir) / f"{task}-{label}{suffix}" if args.run_dir else None
            torch.manual_seed(0)  # the weights' initialisation, as aekit.train seeds a model it builds by name
            model = aekit.build(name, input_shape=list(tr.item_shape), latent_dim=latent_dim, backbone="acai",
                                loss=settings.pop("loss", "mse"), backbone_options={"depth": args.depth, "scales": 3},
                                **settings)

            def score(row: dict) -> list | None:  # (images seen, probe accuracy, k-means accuracy, recon MSE)
                if not args.score_every or (row["epoch"] % args.score_every and row["epoch"] != args.epochs):
                    return None  # (the last pass too: a longer rerun continues the curve)
                s = evaluate_model(model, te, train=tr)
                return [row["epoch"] * len(tr), s["probe_accuracy"], s["cluster_accuracy"], s["recon_mse"]]

            run, progress = train_resumably(model, tr, out, score, epochs=args.epochs, batch_size=args.batch_size,
                                            lr=args.lr, precision=args.precision, eval_every=0, progress=False,
                                            evaluate=False)
            seconds = progress["train_seconds"]
            last = progress["curve"][-1] if progress["curve"] else None
            if last is not None and last[0] == args.epochs * len(tr):  # the curve has scored the final pass
                scores = dict(zip(("probe_accuracy", "cluster_accuracy", "recon_mse"), last[1:]))
            else:
                scores = evaluate_model(run.model, te, train=tr)
            z_train, z_test = (aekit.encode(run.model, d.x).reshape(len(d), -1) for d in (tr, te))
            probe_all = probe_accuracy(z_train, tr.y, z_test, te.y, max_train=None)
            t1 = time.perf_counter()
            official = cluster_scores(z_test, te.y, fit_codes=z_train, init="random", n_init=args.kmeans_inits,
                                      threads=args.threads)
            entry = {"probe_accuracy": scores["probe_accuracy"], "probe_accuracy_all": probe_all,
                     "cluster_accuracy": scores["cluster_accuracy"],
                     "cluster_accuracy_official": official["cluster_accuracy"], "kmeans_inits": args.kmeans_inits,
                     "official_cluster_seconds": round(time.perf_counter() - t1, 1),
                     "official_cluster_threads": args.threads,
                     **({"official_single_start_accuracies": [  # how much one start's luck moves the score
                         cluster_scores(z_test, te.y, fit_codes=z_train, init="random", n_init=1, seed=seed,
                                        threads=args.threads)
                         ["cluster_accuracy"] for seed in range(args.kmeans_spread)]} if args.kmeans_spread else {}),
                     "recon_mse": scores["recon_mse"], "epochs": args.epochs, "train_images": len(tr) * args.epochs,
                     "train_seconds": round(seconds, 1), "published": PUBLISHED.get((label, task)),
                     **({"curve": progress["curve"]} if args.score_every else {})}
            results[f"{task}/{label}"] = entry
            pub = PUBLISHED.get((label, task), (None, None))
            rows.append({"task": task, "model": label, "probe %": 100 * entry["probe_accuracy"],
                         "probe-all %": 100 * probe_all, "paper probe": pub[0],
                         "cluster %": 100 * entry["cluster_accuracy"],
                         "official cluster %": 100 * entry["cluster_accuracy_official"], "paper cluster": pub[1],
                         "images": entry["train_images"], "min": seconds / 60})
            print(rows[-1], flush=True)
            if args.limit is None:  # a quick check on a few images must not replace measured rows
                write_results(args.results, {"runs": results, "paper_images": 1 << 24, "lr": args.lr,
                                                  "batch_size": args.batch_size, "depth": args.depth})
    print(format_table(rows))


if __name__ == "__main__":
    main()
