"""What every ``aekit`` command shares: data and training flags, loading a run's data again, checked --out
paths, metrics and pictures written out. The command modules (``aekit.commands.*``) use these."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from aekit.atomic import atomic_path
from aekit.data.source import DataSource
from aekit.errors import AekitError


def check_out(path: str | Path, folder: bool) -> Path:
    """Refuse an --out whose parent is a file, or (for a run directory) that is itself a file."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise AekitError(f"--out {path} is a file, not a directory; choose another --out")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AekitError(f"--out {path}: {parent} is a file, not a folder; choose another --out")
            break
    return path


def add_data_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--data", required=required, help="dataset name (see `aekit datasets`) or a path "
                   "(.npy/.npz/.csv, or a folder/tar of images with one subfolder per class)")
    p.add_argument("--data-dir", default=None, help="where named datasets live (default: $AEKIT_DATA, "
                   "else ~/.cache/aekit)")
    p.add_argument("--limit", type=int, default=None, help="use a seeded random N examples of each split")
    p.add_argument("--scale", default=None, help="01 (default: pixels to [0,1]) | pm1 ([-1,1]) | raw (as stored)")
    p.add_argument("--pad-to", dest="pad_to", type=int, default=None, help="pad images to this size (28 -> 32)")
    p.add_argument("--holdout", type=_fraction, default=None, metavar="FRACTION",
                   help="data without a test split (a .npy/.npz/.csv file, an image folder without train/test): "
                   "hold out this seeded fraction of the items for evaluation (default 0.2; recorded in the run); "
                   "0 trains and evaluates on every item (in-sample)")
    p.add_argument("--label-column", dest="label_column", default=None, metavar="NAME",
                   help="a CSV's label column, by header name or 0-based index (default: a column named 'label', "
                   "if any; 'none': every column is a feature)")


def _fraction(text: str) -> float:
    """--holdout's value; argparse shows the message of ``check_fraction`` as it is."""
    from aekit.data.holdout import check_fraction

    try:
        value: float | str = float(text)
    except ValueError:
        value = text
    try:
        return check_fraction(value)
    except AekitError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


DEFAULT_SPLIT = "test"  # every command that takes --split: the items evaluate measures on, never trained on


def add_split_arg(p: argparse.ArgumentParser, what: str) -> None:
    """``--split``, with one default for every command (``index`` defaulted to train, ``embed`` to test)."""
    p.add_argument("--split", default=DEFAULT_SPLIT, choices=("train", "test"),
                   help=f"{what} (default {DEFAULT_SPLIT}: the held-out items, for data without a test split)")


SOURCE_KEYS = ("data", "data_dir", "limit", "scale", "pad_to", "holdout", "label_column")


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The training flags of ``aekit train`` and ``aekit pretrain``; :func:`train_settings` reads them."""
    p.add_argument("--latent-dim", dest="latent_dim", type=int, default=None, help="code size")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--devices", type=int, default=None, help="processes/GPUs (with --strategy ddp)")
    p.add_argument("--strategy", default=None, help="auto | ddp")
    p.add_argument("--precision", default=None, help="32-true | bf16-mixed")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any model or training setting, e.g. --set hidden=[1000,500,250] --set schedule=cosine")
    p.add_argument("--config", help="YAML/JSON file of settings (flat, or with model: and train: sections)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")


def train_settings(args) -> dict:
    """The settings of :func:`add_train_args`: the --config file, then the named flags, then each --set."""
    from aekit.settings import parse_assignments, read_config_file

    settings = read_config_file(args.config) if args.config else {}
    for flag, key in (("latent_dim", "latent_dim"), ("epochs", "epochs"), ("batch_size", "batch_size"),
                      ("lr", "lr"), ("devices", "devices"), ("strategy", "strategy"),
                      ("precision", "precision"), ("seed", "seed")):
        if getattr(args, flag, None) is not None:
            settings[key] = getattr(args, flag)
    settings.update(parse_assignments(args.set or []))
    if getattr(args, "quiet", False):
        settings["progress"] = False
    return settings


def source_of(args) -> DataSource:
    """The data flags as a ``DataSource``: the one place where argparse meets the data."""
    return DataSource(**{key: getattr(args, key, None) for key in SOURCE_KEYS})


def run_source(args, run_config: dict) -> DataSource:
    """The data flags, or, where no --data is given, the source the run recorded (with the flags given)."""
    recorded = DataSource.from_dict((run_config.get("data") or {}).get("source"))
    source = source_of(args).or_recorded(recorded)
    if source.data is None:
        raise AekitError("the run does not record its data: pass --data NAME")
    return source


def refuse_existing_run(out: Path) -> None:
    from aekit.rundir import contents

    if contents(out) == "run":  # checked again by runs.train, under the folder's lock; here before data is loaded
        raise AekitError(f"{out} already holds a run: choose another --out, delete it, or pass --resume")


def print_metrics(metrics: dict, as_json: bool) -> None:
    """The numbers on stdout (one JSON object with ``--json``); evaluations skipped for this model or data
    (``metrics["skipped"]``) go in the JSON, or to stderr with their reasons."""
    flat = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    skipped = metrics.get("skipped") or {}
    if as_json:  # strict JSON: an undefined score (NaN) is null
        flat = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in flat.items()}
        print(json.dumps({**flat, **({"skipped": skipped} if skipped else {})}))
    else:
        for k, v in flat.items():
            print(f"{k:18s} {v:.5g}" if isinstance(v, float) else f"{k:18s} {v}")
        for name, reason in skipped.items():
            print(f"aekit: {name} skipped: {reason}", file=sys.stderr)


def check_picture_out(out: Path, model, zoom: int) -> None:
    """Refuse, before any work, an --out that is neither .png nor .npy, or a .png of items that are not images."""
    if out.suffix not in (".png", ".npy"):
        raise AekitError(f"--out must end in .png (a picture) or .npy (an array), got {out.name}")
    if zoom < 1:
        raise AekitError(f"--zoom must be a whole number of at least 1, got {zoom}")
    shape = tuple(model.input_shape)
    square = len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]
    if out.suffix == ".png" and not ((len(shape) == 3 and shape[0] in (1, 3)) or len(shape) == 2 or square):
        raise AekitError(f"the model's items of shape {shape} are not pictures: write --out FILE.npy instead")


def run_scale(scale: str | None, run_config: dict) -> str | None:
    """The value scale of the model's data: ``scale`` if given (--scale), else what the run recorded."""
    data = run_config.get("data", {})
    return scale or data.get("scale") or (data.get("source") or {}).get("scale")


def write_images(out: Path, images, nrow: int, value_range, zoom: int) -> None:
    import numpy as np

    from aekit.eval import save_image_grid

    if out.suffix == ".npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, images.numpy())
    else:  # flat square items need no item_shape; the rest are (C, H, W) or (H, W)
        save_image_grid(images, out, nrow=nrow, value_range=value_range, scale=zoom)


def is_item_id(text: str) -> bool:
    return text.lstrip("-").isdigit() and text.count("-") <= 1
