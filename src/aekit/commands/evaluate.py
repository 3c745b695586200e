"""``aekit evaluate``: the reconstruction, probe and clustering numbers of a run (:mod:`aekit.evaluate`); an
evaluation that does not apply to the model or the data is skipped with its reason (on stderr)."""
from __future__ import annotations

from aekit.commands.common import add_data_args, print_metrics, run_source
from aekit.errors import AekitError


def cmd_evaluate(args) -> int:
    from aekit import io
    from aekit.evaluate import evaluate_model

    from aekit.evaluate import EVALUATIONS

    asked = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    unknown = [m for m in asked or () if m not in EVALUATIONS]
    if unknown:  # before the run and its data are loaded
        raise AekitError(f"--metrics: unknown evaluation {', '.join(unknown)}: choose from {', '.join(EVALUATIONS)}")
    run = io.load_run(args.run)
    source = run_source(args, run.config)
    test = source.load("test")
    train = source.load("train") if test.y is not None else None
    metrics = evaluate_model(run.model, test, train=train, metrics=asked)
    print_metrics(metrics, args.json)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("evaluate", help="reconstruction, probe and clustering numbers of a run")
    p.add_argument("run")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--metrics", default=None, metavar="NAMES",
                   help="comma-separated evaluations (default: reconstruction,probe,clustering,codes and the data's "
                   "own, e.g. lines); embedding_score trains a discriminator on (input, code) pairs: the lecture's L_D*")
    p.set_defaults(func=cmd_evaluate)
