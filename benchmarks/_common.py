"""What every benchmark shares: where the data is, how results are written, how they are printed."""
from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
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


def train_resumably(model, data, out: Path | None = None, score=None, **train_args):
    """``aekit.train`` that survives interruption: with ``out`` the run keeps its checkpoint there after every
    pass, with ``progress.json`` (training seconds so far and the curve), and the same call continues it (a
    2^24-image run is longer than one sitting on a CPU). ``score(row)`` runs after each pass and may return a
    point for the curve; its time is not counted as training. Returns the ``Run`` and ``{"train_seconds",
    "curve"}``."""
    import aekit
    from aekit.io import CHECKPOINT, read_json, write_json

    progress = out / "progress.json" if out is not None else None
    resume = progress is not None and (out / CHECKPOINT).exists()
    state = read_json(progress) if resume and progress.exists() else {"curve": [], "train_seconds": 0.0}

    def on_pass(row: dict) -> None:
        # row["time"]: the run's training seconds up to this pass's checkpoint, over every sitting (the
        # checkpoint carries the clock), without the time spent in this hook's scoring
        state["train_seconds"] = row["time"]
        point = score(row) if score is not None else None
        if point is not None:
            state["curve"].append(point)
        if progress is not None:
            write_json(progress, state)

    run = aekit.train(model, data, out=out, resume=resume, on_epoch_end=on_pass, **train_args)
    return run, state


def images_label(n: int) -> str:
    """``n`` with thousands separators, then its form m·2^e (m odd, below 100) where it has one:
    1,572,864 -> '1,572,864 (3·2^19)'. The paper's budgets are powers of two."""
    e = (n & -n).bit_length() - 1
    m = n >> e
    if m > 99 or e < 4:  # not a budget counted in powers of two (e.g. epochs of 60,000)
        return f"{n:,}"
    return f"{n:,} ({'' if m == 1 else f'{m}·'}2^{e})"


def curve_table(path: Path, columns: Sequence[tuple[str, str]],
                runs_of: Callable[[dict], list[tuple[str, dict]]]) -> str:
    """The scores along a run, as recorded by :func:`train_resumably`'s ``score``: ``path`` is a run's
    ``progress.json`` (a run in progress, or its committed snapshot) or a benchmark's results file, whose runs
    ``runs_of(results)`` names. A curve row is (images seen, *values); ``columns`` gives each value's header and
    format ('-' where an older run's rows are shorter)."""
    from aekit.errors import AekitError
    from aekit.eval import format_table
    from aekit.io import read_json

    try:
        saved = read_json(path)
    except AekitError as e:
        raise SystemExit(str(e)) from None
    if "curve" in saved:  # one run in progress: its training time so far goes below the table
        runs, footer = [("", saved)], f"\ntraining: {saved['train_seconds'] / 3600:.2f} h"
    else:  # a results file: each run's training time goes in its name
        runs, footer = [(f"{name} ({run['train_seconds'] / 3600:.2f} h)", run)
                        for name, run in runs_of(saved) if run.get("curve")], ""
    if not runs:
        raise SystemExit(f"{path} holds no curve: pass a run's progress.json or a results file of this benchmark")
    rows = []
    for name, run in runs:
        for images, *values in run["curve"]:
            row = {"run": name} if name else {}
            row["images"] = images_label(images)
            values += [None] * (len(columns) - len(values))
            row.update({header: "-" if v is None else format(v, fmt) for (header, fmt), v in zip(columns, values)})
            rows.append(row)
    return format_table(rows) + footer
