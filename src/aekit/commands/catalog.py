"""``aekit models``, ``aekit datasets`` and ``aekit download``: what there is to train, on what, and fetching it."""
from __future__ import annotations

import sys


def cmd_models(args) -> int:
    from aekit.registry import MODELS, model_names

    width = 120
    for name in model_names():
        doc = " ".join((MODELS[name].__doc__ or "").split())
        summary = doc.split(" (")[0].split(". ")[0].split(": ")[0].rstrip(".")  # the model's name, before its paper
        capabilities = ", ".join(sorted(MODELS[name].capabilities)) or "encode only"
        line = f"{name:12s}  {capabilities:<44s}  {summary}"
        print(line if len(line) <= width else line[:width - 3] + "...")
    return 0


def cmd_datasets(args) -> int:
    from aekit import data

    for name, description in data.dataset_names().items():
        print(f"{name:14s} {description}")
    return 0


def cmd_download(args) -> int:
    from aekit import data

    say = lambda message: print(message, file=sys.stderr)  # noqa: E731  (progress on stderr, paths on stdout)
    for path in data.download(args.name, data_dir=args.data_dir, base_url=args.base_url, log=say):
        print(path)
    return 0


def add_commands(sub) -> None:
    sub.add_parser("models", help="list the registered models").set_defaults(func=cmd_models)
    sub.add_parser("datasets", help="list the named datasets").set_defaults(func=cmd_datasets)

    p = sub.add_parser("download", help="fetch a named dataset's standard files and check their sha256")
    p.add_argument("name")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--base-url", default=None, help="a mirror to fetch from instead of the canonical location")
    p.set_defaults(func=cmd_download)
