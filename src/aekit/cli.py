"""The ``aekit`` command. Every user mistake prints one line ``aekit: error: ...`` and exits 2.

This module only builds the parser and dispatches: every subcommand lives in a module of
:mod:`aekit.commands` (see :data:`aekit.commands.COMMAND_MODULES`).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from aekit import notices
from aekit.commands import COMMAND_MODULES
from aekit.errors import AekitError


class _Parser(argparse.ArgumentParser):
    """argparse with the product's error format: one line, ``aekit: error: ...``, exit status 2 (via main)."""

    def error(self, message: str):
        raise AekitError(f"{message} (see `{self.prog} --help`)")


def _threads(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    from aekit._version import __version__

    parser = _Parser(prog="aekit", description="The autoencoder family: train, evaluate, use.")
    parser.add_argument("--version", action="version", version=f"aekit {__version__}")
    parser.add_argument("--threads", type=_threads, default=None, metavar="N",
                        help="CPU threads torch computes with (default: torch's, one per core); it changes speed, "
                        "not results, so runs do not record it")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:  # in the order `aekit --help` lists them
        importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help
            return e.code if isinstance(e.code, int) else 0
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        with notices.held():  # a command that fails says only its error
            return args.func(args)
    except AekitError as e:
        print(f"aekit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system refused (permissions, a full disk, a file where a folder should be)
        where = f" {e.filename}" if e.filename else ""
        print(f"aekit: error: cannot use{where}: {e.strerror or e}; check the path and its permissions",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted; a run continues from its last checkpoint with `aekit train --resume --out DIR` "
              "(one stopped before its first checkpoint is trained again from the start)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
