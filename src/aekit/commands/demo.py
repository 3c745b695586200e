"""``aekit demo``: PCA against autoencoders on built-in data, pictures and runs in one folder (:mod:`aekit.apps.demo`)."""
from __future__ import annotations

from aekit.commands.common import check_out


def cmd_demo(args) -> int:
    from aekit.apps.demo import run_demo

    run_demo(out=check_out(args.out, folder=True), quick=args.quick)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("demo", help="PCA vs autoencoders on built-in data, in about two minutes")
    p.add_argument("--out", default="demo_out", help="where pictures and runs go")
    p.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    p.set_defaults(func=cmd_demo)
