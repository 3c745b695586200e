"""Subcommands of ``aekit`` that live beside the apps they drive, one module per use of the codes.

Each module in :data:`COMMAND_MODULES` defines ``add_commands(sub)``, which adds its subparsers to the
``aekit`` parser and sets ``func`` on each, exactly as the commands in :mod:`aekit.cli` do. Modules import
torch and the apps inside their command functions, so ``aekit --help`` stays fast.
"""
COMMAND_MODULES: tuple[str, ...] = tuple(f"aekit.commands.{name}" for name in (
    "search", "denoise", "anomaly", "finetune",
))
