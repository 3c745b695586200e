"""``aekit finetune``: a classifier from an autoencoder run's encoder and a few labels (``aekit.apps.finetune``)."""
from __future__ import annotations

import sys

from aekit.commands.common import add_data_args, check_out, print_metrics, run_source
from aekit.errors import AekitError


def _labels(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise AekitError(f"--labels must be a whole number of labelled examples or 'all', got {text!r}") from None


def cmd_finetune(args) -> int:
    from aekit import io
    from aekit.apps.finetune import code_encoder, finetune, is_classifier_dir

    labels = _labels(args.labels)
    out = check_out(args.out, folder=True) if args.out else None
    if out is not None and (out / io.CONFIG).exists():
        raise AekitError(f"{out} already holds a run: choose another --out or delete it")
    if is_classifier_dir(args.run):
        raise AekitError(f"{args.run} is a classifier (from `aekit finetune`), not an autoencoder run: pass the "
                         f"--out directory of `aekit train` or `aekit pretrain`")
    run = io.load_run(args.run)
    code_encoder(run.model)  # a model with discrete codes is refused before any data is loaded
    source = run_source(args, run.config)
    if args.scale is None:  # the encoder expects the values it was trained on
        args.scale = run.config.get("data", {}).get("scale")
    train, test = source.load("train"), source.load("test")
    settings = {"progress": not args.quiet}  # the rest defaults to apps.finetune.default_budget
    for key in ("epochs", "batch_size", "lr", "precision", "seed"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    result = finetune(run, train, test, labels=labels, label_seed=args.label_seed, freeze=args.freeze,
                      from_scratch=args.from_scratch, val_labels=args.val_labels, out=out,
                      data_source=source.to_dict(), **settings)
    print_metrics(result.metrics, args.json)
    if out is not None:
        print(f"classifier saved to {out}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("finetune", help="a classifier from a run's encoder + a softmax layer, trained on few labels")
    p.add_argument("run", help="an autoencoder run directory (aekit train / aekit pretrain); its encoder, up to the "
                   "code, becomes the classifier's hidden layers (a pca run's projection a linear layer)")
    add_data_args(p)
    p.add_argument("--labels", default="100", help="labelled training examples, drawn class-balanced (N/classes "
                   "per class), or 'all' (default 100)")
    p.add_argument("--label-seed", dest="label_seed", type=int, default=0, help="seeds which examples are labelled")
    p.add_argument("--freeze", action="store_true", help="train only the softmax layer on the frozen codes "
                   "(a linear probe)")
    p.add_argument("--from-scratch", dest="from_scratch", action="store_true",
                   help="re-initialise the encoder at random: the same network without pretraining, to compare")
    p.add_argument("--val-labels", dest="val_labels", type=int, default=0, metavar="N",
                   help="hold N of the drawn examples out and keep the epoch with the best accuracy on them")
    p.add_argument("--epochs", type=int, default=None, help="default: enough for 1000 steps, at least 10")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam's learning rate (default 1e-3, decayed to 0 on a cosine)")
    p.add_argument("--precision", default=None, help="32-true | bf16-mixed")
    p.add_argument("--seed", type=int, default=None, help="seeds the softmax layer, batch order (and --from-scratch)")
    p.add_argument("--out", default=None, help="classifier directory to create (config.json, model.safetensors, "
                   "metrics.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=cmd_finetune)
