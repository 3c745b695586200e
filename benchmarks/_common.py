"""What every benchmark shares: where the data is, how results are written, how they are printed."""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def shared_data_dir() -> Path:
    """The real datasets: ``--data-dir``-style env ``AEKIT_SHARED_DATA``, else ``../shared/data`` beside the repo."""
    env = os.environ.get("AEKIT_SHARED_DATA") or os.environ.get("AEKIT_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        sys.exit(f"benchmark skipped: datasets not found at {path}; set AEKIT_SHARED_DATA or AEKIT_DATA "
                 f"(or run `aekit download mnist --data-dir DIR`)")
    return path


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_results(name: str, payload: dict, merge: bool = False) -> Path:
    """Write ``results/<name>.json``; with ``merge``, keep entries of an earlier run that this one lacks
    (so a benchmark can be run in parts, e.g. ``--only ae`` then ``--only ae_tied``)."""
    from aekit.io import read_json, write_json

    path = RESULTS / f"{name}.json"
    earlier = read_json(path) if merge and path.exists() else {}
    merged = {**earlier, **payload}
    for key, value in payload.items():  # one level deeper too: {"methods": {...}} keeps earlier methods
        if isinstance(value, dict) and isinstance(earlier.get(key), dict):
            merged[key] = {**earlier[key], **value}
    write_json(path, {**merged, "machine": machine()})
    return path
