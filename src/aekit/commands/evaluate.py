"""``aekit evaluate``: the reconstruction, probe and clustering numbers of a run (:mod:`aekit.evaluate`)."""
from __future__ import annotations

from aekit.commands.common import add_data_args, apply_saved_source, load_split, print_metrics


def cmd_evaluate(args) -> int:
    from aekit import io
    from aekit.evaluate import evaluate_model

    run = io.load_run(args.run)
    apply_saved_source(args, run.config)
    test = load_split(args, "test")
    train = load_split(args, "train") if test.y is not None else None
    metrics = evaluate_model(run.model, test, train=train)
    print_metrics(metrics, args.json)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("evaluate", help="reconstruction, probe and clustering numbers of a run")
    p.add_argument("run")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)
