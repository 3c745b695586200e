"""`aekit anomaly RUN`: score every item of a dataset by its reconstruction error, flag the highest, and
write the scores (CSV) and the top anomalies (a picture). The library side is :mod:`aekit.apps.anomaly`."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from aekit.errors import AekitError

TOP_DEFAULT = 16


def _normal_classes(spec: str, classes: list[str] | None, n_classes: int | None) -> set[int]:
    """``--normal-class`` (names or indices, comma-separated) -> class indices."""
    names = classes or [str(i) for i in range(n_classes or 0)]
    chosen = set()
    for part in (p.strip() for p in spec.split(",")):
        if part in names:
            chosen.add(names.index(part))
        elif part.isdigit() and int(part) < len(names):
            chosen.add(int(part))
        else:
            raise AekitError(f"--normal-class {part!r} is not a class of the data: use one of {', '.join(names)}")
    return chosen


def _write_csv(out: Path, scores, flagged, labels) -> None:
    from aekit.atomic import atomic_path

    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "score", "flagged"] + (["label"] if labels is not None else []))
        for i, (s, fl) in enumerate(zip(scores, flagged)):
            writer.writerow([i, repr(float(s)), int(fl)] + ([int(labels[i])] if labels is not None else []))


def cmd_anomaly(args) -> int:
    import numpy as np
    import torch

    from aekit import inference, io
    from aekit.apps.anomaly import DEFAULT_CONTAMINATION, anomaly_scores, auroc, check_contamination, flag
    from aekit.apps.generate import picture_range
    from aekit.commands.common import check_out, check_picture_out, print_metrics, run_scale, run_source, write_images
    from aekit.eval import save_reconstructions
    from aekit.models.base import require

    # every check on the flags before the model or the data is loaded
    if args.contamination is not None:
        check_contamination(args.contamination)
    out = check_out(args.out, folder=False) if args.out else None
    if out is not None and out.suffix.lower() != ".csv":
        raise AekitError(f"--out must end in .csv (a table of id, score, flagged), got {out.name}")
    top = check_out(args.top, folder=False) if args.top else None
    if top is not None and top.suffix not in (".png", ".npy"):
        raise AekitError(f"--top must end in .png (a picture) or .npy (an array of the items), got {top.name}")
    if args.n_top < 1:
        raise AekitError(f"--n-top must be at least 1 item, got {args.n_top}")
    run = io.load_run(args.run)
    require(run.model, "likelihood" if args.score == "elbo" else "decode", f"aekit anomaly --score {args.score}")
    if top is not None:
        check_picture_out(top, run.model, 1)  # items that are not pictures go to a .npy
    source = run_source(args, run.config)
    data = source.load(args.split)
    normal = None
    if args.normal_class is not None:
        if data.y is None:
            raise AekitError(f"--normal-class needs labelled data, but the {args.split} data of {data.name} has no "
                             f"labels: drop --normal-class")
        normal = _normal_classes(args.normal_class, data.classes, data.n_classes)

    scores = anomaly_scores(run.model, data.x, score=args.score)
    flagged, threshold = flag(scores, contamination=args.contamination, threshold=args.threshold)
    summary = {"items": len(scores), "score": args.score, "flagged": int(flagged.sum()),
               "threshold": threshold, "rule": "threshold" if args.threshold is not None else
               f"contamination {args.contamination if args.contamination is not None else DEFAULT_CONTAMINATION}",
               "score_mean": float(scores.mean()), "score_max": float(scores.max())}
    if normal is not None:
        is_anomaly = ~np.isin(data.y.numpy(), sorted(normal))
        summary["anomalies_labelled"] = int(is_anomaly.sum())
        summary["auroc"] = auroc(scores, is_anomaly)
        summary["flagged_precision"] = float(is_anomaly[flagged].mean()) if flagged.any() else float("nan")
    if out is not None:
        _write_csv(out, scores, flagged, None if data.y is None else data.y.numpy())
    if top is not None:
        order = np.argsort(-scores, kind="stable")[: args.n_top]  # highest scores first
        items = data.x[torch.from_numpy(order)]
        if top.suffix == ".npy":
            write_images(top, items, args.n_top, None, 1)
        else:  # rows of 8 anomalies, each above its reconstructions: what the model could not draw
            vrange = picture_range(run_scale(source.scale, run.config), run.config.get("data", {}).get("value_range"))
            save_reconstructions(items, inference.reconstruct(run.model, items), top, n=len(order),
                                 nrow=min(len(order), 8), value_range=vrange)
    print_metrics(summary, args.json)
    for what, path in (("scores", out), ("top anomalies", top)):
        if path is not None:
            print(f"{what} written to {path}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    from aekit.commands.common import add_data_args, add_split_arg

    p = sub.add_parser("anomaly", help="anomaly scores (reconstruction error) of a dataset; flag the highest")
    p.add_argument("run")
    add_data_args(p)
    add_split_arg(p, "the split to score")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--contamination", type=float, default=None,
                      help="flag this fraction of the items, those scoring highest (in (0, 0.5]; default 0.05)")
    rule.add_argument("--threshold", type=float, default=None, help="flag every item scoring at least this")
    p.add_argument("--score", default="sse", choices=("sse", "elbo"),
                   help="sse: the item's sum of squared reconstruction errors (any model); elbo: a VAE's "
                   "negative ELBO at the posterior mean")
    p.add_argument("--normal-class", dest="normal_class", default=None, metavar="C[,C...]",
                   help="class(es) that are normal (names or indices): prints the AUROC against the labels")
    p.add_argument("--out", default=None, help="a .csv of id, score, flagged (and label when the data has labels)")
    p.add_argument("--top", default=None, help="a .png of the highest-scoring items above their reconstructions "
                   "(or a .npy of the items)")
    p.add_argument("--n-top", dest="n_top", type=int, default=TOP_DEFAULT, help="how many items --top shows")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_anomaly)
