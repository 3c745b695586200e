"""ACAI (Berthelot et al., ICLR 2019), Table 1: interpolation on the synthetic lines, seven autoencoders.

Every model is the same network (ACAI's conv encoder/decoder, depth 16, 4 scales, a 2x2x16 = 64-d
code, as the official runs/*.sh use for lines32), trained with Adam on [-1, 1] lines with MSE (the VAE:
a Bernoulli decoder on [0, 1], as the official vae.py), batch 64. Scored by aekit.eval.lines: 256
interpolations of 16 steps between random lines, Mean Distance (x10^-3) and Smoothness; lower is better.

The paper trains on 2^24 images per model. A CPU cannot: ``--images`` sets the budget per run (default
2^18), and the table says how many were seen, so the gap is on the record.

    python benchmarks/acai_lines.py                               # 7 models x 3 seeds
    python benchmarks/acai_lines.py --models ACAI,Baseline --seeds 1 --images 65536
    python benchmarks/acai_lines.py --models ACAI --seeds 1 --images 1048576 --schedule cosine \
        --results acai_lines_2e20                                 # how far 4x the budget gets (a CPU half-hour)
    python benchmarks/acai_lines.py --models ACAI --seeds 1 --images 16777216 --lr 1e-4 \
        --run-dir runs/acai_lines_2e24 --score-every 8 --results acai_lines_2e24
                                  # the paper's protocol (7-12 h on 2 cores): rerun the same command to resume
    python benchmarks/acai_lines.py --curve runs/acai_lines_2e24/ACAI-seed0/progress.json
                                  # its scores so far (or of a finished run's results file)
"""
from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import torch
from _common import RESULTS, curve_table, train_resumably, write_results

import aekit
from aekit.data.dataset import ArrayDataset
from aekit.eval import format_table
from aekit.eval.lines import evaluate_lines_model
from aekit.io import read_json

PUBLISHED = {  # Table 1 of the paper, as recalled in ANCHORS.md (approximate): (Mean Distance x1e3, Smoothness)
    "Baseline": (6.88, 0.44), "Dropout": (2.85, 0.74), "Denoising": (4.21, 0.66), "VAE": (1.21, 0.49),
    "AAE": (3.26, 0.14), "VQ-VAE": (5.41, 0.77), "ACAI": (0.24, 0.10),
}
NETWORK = dict(latent_dim=64, backbone="acai", backbone_options={"depth": 16, "scales": 4}, loss="mse")
MODELS = {  # label -> (registered model, its settings beyond NETWORK): the official baselines' flags
    "Baseline": ("ae", {}),
    "Dropout": ("dropout", {"p": 0.5}),  # dropout.py: keep probability 0.5 on the code
    "Denoising": ("denoising", {"noise": "gaussian", "noise_level": 1.0}),  # denoising.py: noise 1.0
    "VAE": ("vae", {"loss": "bce"}),  # vae.py: Bernoulli likelihood on (x + 1) / 2
    "AAE": ("aae", {"disc_hidden": [100, 100]}),  # aae.py: discriminator 100-100 on codes, N(0, I) prior
    "VQ-VAE": ("vqvae", {}),
    "ACAI": ("acai", {"adv_weight": 0.5, "reg": 0.2}),  # acai.py
}


def for_model(data: ArrayDataset, settings: dict) -> ArrayDataset:
    """The [-1, 1] data as the model of ``settings`` sees it: a Bernoulli decoder (loss bce) needs [0, 1]."""
    if settings.get("loss") != "bce":
        return data
    return ArrayDataset(x=(data.x + 1) / 2, y=data.y, name=data.name, scale="01", source=data.source)


def run_one(label: str, seed: int, train: ArrayDataset, args) -> dict:
    """Train and score one model; with ``--run-dir`` in ``<run-dir>/<label>-seed<seed>``, resumable."""
    name, extra = MODELS[label]
    data = for_model(train, extra)
    value_range = (0, 1) if data.scale == "01" else (-1, 1)
    steps = max(1, args.images // args.batch_size)
    epochs = max(1, round(steps * args.batch_size / len(data)))
    torch.manual_seed(seed)
    model = aekit.build(name, input_shape=list(data.item_shape), **{**NETWORK, **extra})
    out = Path(args.run_dir) / f"{label}-seed{seed}" if args.run_dir else None

    def score(row: dict) -> list | None:  # (images seen, Mean Distance, Smoothness, endpoints' Mean Distance)
        if row["epoch"] % args.score_every and row["epoch"] != epochs:
            return None
        s = evaluate_lines_model(model, value_range=value_range, seed=1000 + seed)
        return [row["epoch"] * len(data), s["mean_distance_x1e3"], s["smoothness"], s["endpoint_mean_distance_x1e3"]]

    _, state = train_resumably(model, data, out, score, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                               precision=args.precision, schedule=args.schedule, seed=seed, progress=args.progress,
                               eval_every=0, evaluate=False)
    _, md, sm, ends = state["curve"][-1]
    return {"seed": seed, "mean_distance_x1e3": md, "smoothness": sm, "endpoint_mean_distance_x1e3": ends,
            "images_seen": epochs * len(data),
            "train_seconds": round(state["train_seconds"], 1), "curve": state["curve"]}


def summarise(runs: list[dict], key: str) -> tuple[float, float]:
    """Mean and std over the seeds whose score is defined (a collapsed model, one output for every code, has
    an undefined Smoothness: its runs are counted apart, in ``undefined_runs``)."""
    values = [r[key] for r in runs if math.isfinite(r.get(key, math.nan))]  # older results lack newer keys
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def table(models: dict) -> str:
    rows = []
    for label, r in models.items():
        (md, md_sd), (sm, sm_sd) = summarise(r["runs"], "mean_distance_x1e3"), summarise(r["runs"], "smoothness")
        undefined = sum(not math.isfinite(x["smoothness"]) for x in r["runs"])
        ends = summarise(r["runs"], "endpoint_mean_distance_x1e3")[0]  # the reconstructions' share of MD
        rows.append({"model": label, "Mean Distance x1e3": f"{md:.2f} ± {md_sd:.2f}", "paper MD": PUBLISHED[label][0],
                     "Smoothness": f"{sm:.3f} ± {sm_sd:.3f}" + (f" ({undefined} collapsed)" if undefined else ""),
                     "paper Sm": PUBLISHED[label][1], "MD endpoints": f"{ends:.2f}" if math.isfinite(ends) else "-",
                     "seeds": len(r["runs"]),
                     "images/run": r["runs"][0]["images_seen"],
                     "min/run": statistics.fmean(x["train_seconds"] for x in r["runs"]) / 60})
    return format_table(rows)


def curve(path: Path) -> str:
    """The lines scores along a run (its progress.json) or along each run of a results file."""
    def runs_of(results: dict) -> list[tuple[str, dict]]:
        return [(f"{label} seed {r['seed']}", r) for label, m in results.get("models", {}).items() for r in m["runs"]]
    return curve_table(path, [("Mean Distance x1e3", ".2f"), ("Smoothness", ".3f"), ("endpoints", ".2f")], runs_of)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--images", type=int, default=1 << 18, help="training images per run (the paper: 2^24)")
    p.add_argument("--train-size", type=int, default=1 << 16, help="distinct lines rendered for training")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4, help="the paper: 1e-4 over 2^24 images; 5e-4 converges faster on a CPU budget")
    p.add_argument("--schedule", default="none", choices=("none", "cosine", "linear"),
                   help="lr decay over the run (the paper: none)")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--results", default="acai_lines",
                   help="results/NAME.json to write (a budget study, e.g. --images 1048576, keeps its own file)")
    p.add_argument("--run-dir", help="keep each run's checkpoint here; the same command then resumes an interrupted run")
    p.add_argument("--score-every", type=int, default=1, help="score the lines metrics every N passes (and at the end)")
    p.add_argument("--report", action="store_true", help="print the table of the saved results and stop")
    p.add_argument("--curve", type=Path, metavar="JSON",
                   help="print the scores along a run (its progress.json, or a results file) and stop")
    args = p.parse_args()
    if args.curve:
        print(curve(args.curve))
        return
    if args.report:
        print(table(read_json(RESULTS / f"{args.results}.json")["models"]))
        return
    labels = [m for m in args.models.split(",") if m]
    unknown = [m for m in labels if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}: choose from {', '.join(MODELS)}")
    if args.score_every < 1:
        raise SystemExit(f"--score-every must be >= 1 pass, got {args.score_every}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train = aekit.data.load("lines", split="train", limit=args.train_size, scale="pm1")

    results = {}
    for label in labels:
        runs = []
        for seed in range(args.seeds):
            runs.append(run_one(label, seed, train, args))
            print(label, runs[-1], flush=True)
        results[label] = {"runs": runs, "published": PUBLISHED[label], "model": MODELS[label][0],
                          "settings": MODELS[label][1]}
        path = RESULTS / f"{args.results}.json"
        earlier = read_json(path).get("models", {}) if path.exists() else {}
        write_results(args.results, {"network": NETWORK, "lr": args.lr, "schedule": args.schedule,
                                     "batch_size": args.batch_size, "precision": args.precision,
                                     "train_size": args.train_size, "paper_images": 1 << 24,
                                     "models": {**earlier, **results}})
    print(table(results))
    for key, what in (("mean_distance_x1e3", "Mean Distance"), ("smoothness", "Smoothness")):
        means = {k: summarise(v["runs"], key)[0] for k, v in results.items()}
        print(f"best {what}: {min((k for k in means if math.isfinite(means[k])), key=means.get, default='-')}")


if __name__ == "__main__":
    main()
