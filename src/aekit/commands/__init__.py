"""The subcommands of ``aekit``, one module per subcommand or per close group of them.

Each module in :data:`COMMAND_MODULES` defines ``add_commands(sub)``, which adds its subparsers to the
``aekit`` parser and sets ``func`` on each; :func:`aekit.cli.build_parser` calls them in this order, which
is the order ``aekit --help`` lists the commands in. Modules import torch and the apps inside their command
functions, so ``aekit --help`` stays fast. Flags and helpers they share live in :mod:`aekit.commands.common`.
"""
COMMAND_MODULES: tuple[str, ...] = tuple(f"aekit.commands.{name}" for name in (
    "catalog",    # models, datasets, download
    "train",      # train
    "evaluate",   # evaluate
    "embed",      # embed, reconstruct
    "generate",   # interpolate, generate
    "pretrain",   # pretrain
    "demo",       # demo
    "search",     # index, search
    "denoise",    # denoise
    "anomaly",    # anomaly
    "finetune",   # finetune
))
