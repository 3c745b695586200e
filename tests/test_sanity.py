"""Issue 17, "sanity": a loss that cannot fit the data is refused (or chosen by the data), data without a test
split is evaluated out of sample, CSV labels are named, and the CLI's friction (a slow --help, no --threads,
megabytes of progress bars, split defaults that disagree) is gone. Each test failed on the code before its fix.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["--latent-dim", "2", "--set", "hidden=[8]", "--epochs", "1", "--quiet"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


# ---- aekit --help is fast: the parser is built without torch ------------------------------------------------
def test_help_builds_the_parser_without_importing_torch():
    """`aekit --help` took ~4.5 s because `import aekit` loaded torch, Lightning and scikit-learn; the package
    root and the command modules now load them on first use (PEP 562)."""
    code = ("import json, sys, time; t = time.perf_counter(); from aekit.cli import main; rc = main(['--help']); "
            "print(json.dumps([rc, [m for m in ('torch', 'lightning', 'sklearn', 'numpy') if m in sys.modules], "
            "time.perf_counter() - t]), file=sys.stderr)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_subprocess_env(),
                          timeout=120)
    rc, heavy, inside = json.loads(done.stderr.strip().splitlines()[-1])
    print(f"aekit --help: {time.perf_counter() - start:.2f} s in a fresh interpreter, {inside:.3f} s inside it")
    assert rc == 0 and "usage: aekit" in done.stdout
    assert heavy == []  # the parser needs none of them


def test_lazy_package_names_are_the_functions_even_after_their_submodules_load():
    """``aekit.train`` is the function although ``aekit/train/`` is a package (and ``aekit.data.lines`` the
    function, ``aekit/data/lines.py`` a module): loading a submodule must not rebind the public name."""
    import aekit.data.corrupt  # noqa: F401
    import aekit.data.lines  # noqa: F401
    import aekit.train.loop  # noqa: F401

    assert callable(aekit.train) and aekit.train.__module__ == "aekit.runs"
    assert callable(aekit.data.lines) and callable(aekit.data.corrupt) and callable(aekit.data.download)
    assert {"train", "load", "AutoEncoder", "data"} <= set(dir(aekit))
    with pytest.raises(AttributeError):
        aekit.no_such_name  # noqa: B018
