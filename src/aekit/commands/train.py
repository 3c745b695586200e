"""``aekit train``: train a registered model into a run directory, or continue one with ``--resume``."""
from __future__ import annotations

import sys

from aekit.commands.common import (
    add_data_args, add_train_args, check_out, print_metrics, refuse_existing_run, run_source, source_of, train_settings,
)
from aekit.errors import AekitError


def cmd_train(args) -> int:
    from aekit import io
    from aekit.runs import train
    from aekit.train.checkpoint import check_checkpoint

    out = check_out(args.out, folder=True)
    if args.resume and not (out / io.CONFIG).is_file():
        raise AekitError(f"nothing to resume in {out}: it holds no aekit run (no {io.CONFIG}); "
                         f"start a new run without --resume")
    if not args.resume:
        refuse_existing_run(out)
    settings = train_settings(args)
    model = args.model
    if args.resume:
        saved = io.read_run_config(out)  # checked against its schema (one line for a classifier's or index's folder)
        if (out / io.CHECKPOINT).is_file():  # and its checkpoint against the model it describes, from headers alone
            check_checkpoint(out / io.CHECKPOINT, model=io.described_model(out, saved))
        model = model or saved["model"]
        source = run_source(args, saved)
        settings = {**saved["hparams"], **{k: v for k, v in saved["train"].items()}, **settings}
        settings.pop("input_shape", None)
    else:
        source = source_of(args)
    if not model:
        raise AekitError("name a model to train (see `aekit models`), or pass --resume with --out DIR")
    if not source.data:
        raise AekitError("pass --data NAME or a path (see `aekit datasets`)")
    train_data, test_data = source.load("train"), source.load("test")
    run = train(model, train_data, test=test_data, out=out, resume=args.resume,
                data_source=source.to_dict(), **settings)
    if run.is_main:  # under DDP only the first process reports
        print_metrics(run.metrics, args.json)
        print(f"run saved to {out}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a model into a run directory")
    p.add_argument("model", nargs="?", help="model name (see `aekit models`); optional with --resume")
    add_data_args(p)
    p.add_argument("--out", required=True, help="run directory to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_train_args(p)
    p.set_defaults(func=cmd_train)
