"""The ``aekit`` command. Every user mistake prints one line ``aekit: error: ...`` and exits 2."""
from __future__ import annotations

import argparse
import importlib
import math
import sys

from aekit.atomic import atomic_path
from aekit.errors import AekitError
from aekit.commands import COMMAND_MODULES
from aekit.commands.common import (
    add_data_args, apply_saved_source, check_out, check_picture_out, data_source, is_item_id,
    load_split, print_metrics, refuse_existing_run, run_scale, write_images,
)


class _Parser(argparse.ArgumentParser):
    """argparse with the product's error format: one line, ``aekit: error: ...``, exit status 2 (via main)."""

    def error(self, message: str):
        raise AekitError(f"{message} (see `{self.prog} --help`)")


# ---- commands --------------------------------------------------------------------------------------
def cmd_models(args) -> int:
    from aekit.registry import MODELS, model_names

    for name in model_names():
        doc = (MODELS[name].__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        print(f"{name:14s} {' '.join(doc.split())}")
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


def _settings(args) -> dict:
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


def cmd_train(args) -> int:
    from aekit import io
    from aekit.runs import train

    out = check_out(args.out, folder=True)
    if args.resume and not (out / io.CONFIG).is_file():
        raise AekitError(f"nothing to resume in {out}: it holds no aekit run (no {io.CONFIG}); "
                         f"start a new run without --resume")
    if not args.resume:
        refuse_existing_run(out)
    settings = _settings(args)
    model = args.model
    if args.resume:
        saved = io.read_json(out / io.CONFIG)
        model = model or saved["model"]
        apply_saved_source(args, saved)
        settings = {**saved["hparams"], **{k: v for k, v in saved["train"].items()}, **settings}
        settings.pop("input_shape", None)
    if not model:
        raise AekitError("name a model to train (see `aekit models`), or pass --resume with --out DIR")
    if not args.data:
        raise AekitError("pass --data NAME or a path (see `aekit datasets`)")
    train_data, test_data = load_split(args, "train"), load_split(args, "test")
    run = train(model, train_data, test=test_data, out=out, resume=args.resume,
                data_source=data_source(args), **settings)
    if run.is_main:  # under DDP only the first process reports
        print_metrics(run.metrics, args.json)
        print(f"run saved to {out}", file=sys.stderr)
    return 0




def cmd_evaluate(args) -> int:
    from aekit import io
    from aekit.evaluate import evaluate_model

    run = io.load_run(args.run)
    apply_saved_source(args, run.config)
    test = load_split(args, "test")
    train = load_split(args, "train") if test.y is not None else None
    metrics = evaluate_model(run.model, test, train=train)
    print_metrics(metrics, args.json)
    return 0


def cmd_embed(args) -> int:
    import numpy as np

    from aekit import inference, io

    out = check_out(args.out, folder=False)
    run = io.load_run(args.run)
    apply_saved_source(args, run.config)
    ds = load_split(args, args.split)
    z = inference.encode(run.model, ds.x).numpy()
    payload = {"z": z} if ds.y is None else {"z": z, "y": ds.y.numpy()}
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, **payload)
    print(f"{z.shape[0]} codes of shape {z.shape[1:]} written to {out}")
    return 0


def cmd_reconstruct(args) -> int:
    import numpy as np

    from aekit import inference, io
    from aekit.eval import save_reconstructions

    out = check_out(args.out, folder=False)
    if out.suffix not in (".png", ".npy"):
        raise AekitError(f"--out must end in .png (a picture) or .npy (an array), got {out.name}")
    run = io.load_run(args.run)
    apply_saved_source(args, run.config)
    ds = load_split(args, args.split)
    x = ds.x[: args.n] if out.suffix == ".png" else ds.x
    x_hat = inference.reconstruct(run.model, x)
    if out.suffix == ".png":
        lo = -1.0 if float(x.min()) < 0 else 0.0
        save_reconstructions(x, x_hat, out, value_range=(lo, 1.0))
    else:
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, x_hat.numpy())
    print(f"reconstructions written to {out}")
    return 0


def cmd_pretrain(args) -> int:
    from aekit.apps.pretrain import pretrain_and_finetune

    if args.out:
        refuse_existing_run(check_out(args.out, folder=True))
    settings = _settings(args)
    train_data, test_data = load_split(args, "train"), load_split(args, "test")
    run = pretrain_and_finetune(train_data, test_data, widths=args.widths, layer_epochs=args.layer_epochs,
                                out=args.out, data_source=data_source(args), noise=args.noise,
                                noise_level=args.noise_level, **settings)
    if run.is_main:  # under DDP only the first process reports
        print_metrics(run.metrics, args.json)
    return 0


def cmd_demo(args) -> int:
    from aekit.apps.demo import run_demo

    run_demo(out=check_out(args.out, folder=True), quick=args.quick)
    return 0


# ---- generation and interpolation ---------------------------------------------------------------------
def cmd_interpolate(args) -> int:
    from aekit import io
    from aekit.apps.generate import interpolate, picture_range, read_item

    out = check_out(args.out, folder=False)
    if args.steps < 2:
        raise AekitError(f"--steps must be at least 2 (the two endpoints), got {args.steps}")
    run = io.load_run(args.run)
    check_picture_out(out, run.model, args.zoom)
    data = None
    if is_item_id(args.a) or is_item_id(args.b):
        apply_saved_source(args, run.config)
        data = load_split(args, args.split)
    scale = run_scale(args, run.config)
    items = []
    for name, spec in (("A", args.a), ("B", args.b)):
        if is_item_id(spec):
            k = int(spec)
            if not 0 <= k < len(data):
                raise AekitError(f"{name} = {k} is not an item of the {args.split} data of {data.name}: "
                                 f"item ids run from 0 to {len(data) - 1}")
            items.append(data.x[k])
        else:
            items.append(read_item(spec, run.model.input_shape, scale or "01", name))
    images = interpolate(run.model, items[0], items[1], steps=args.steps, method=args.method)
    write_images(out, images, args.steps, picture_range(scale, run.config.get("data", {}).get("value_range")),
                  args.zoom)
    print(f"{args.method} interpolation of {args.steps} steps written to {out}")
    return 0


def cmd_generate(args) -> int:
    from aekit import inference, io
    from aekit.apps.generate import check_2d_code, generate, has_prior, latent_map, picture_range

    out = check_out(args.out, folder=False)
    save_npy = check_out(args.save_npy, folder=False) if args.save_npy else None
    if save_npy is not None and save_npy.suffix != ".npy":
        raise AekitError(f"--save-npy must end in .npy, got {save_npy.name}")
    if args.grid is not None and args.grid < 2:
        raise AekitError(f"--grid must be at least 2 (a 2 x 2 grid), got {args.grid}")
    n = 64 if args.n is None else args.n
    if args.grid is None and n < 1:
        raise AekitError(f"--n must be at least 1 sample, got {n}")
    run = io.load_run(args.run)
    model = run.model
    check_picture_out(out, model, args.zoom)
    if args.grid is not None:
        check_2d_code(model)  # before any data is loaded
        codes = None
        if not has_prior(model):  # the grid spans the codes of the run's data
            apply_saved_source(args, run.config)
            codes = inference.encode(model, load_split(args, args.split).x)
        images, nrow = latent_map(model, args.grid, codes), args.grid
    else:
        images, nrow = generate(model, n, seed=args.seed), math.ceil(math.sqrt(n))
    if save_npy is not None:
        write_images(save_npy, images, nrow, None, 1)
    vrange = picture_range(run_scale(args, run.config), run.config.get("data", {}).get("value_range"))
    write_images(out, images, nrow, vrange, args.zoom)
    what = f"a {args.grid}x{args.grid} latent grid" if args.grid is not None else f"{n} samples"
    print(f"{what} written to {out}" + (f" (array: {save_npy})" if save_npy is not None else ""))
    return 0


# ---- parser ------------------------------------------------------------------------------------------
def _train_flags(p: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aekit", description="The autoencoder family: train, evaluate, use.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("models", help="list the registered models").set_defaults(func=cmd_models)
    sub.add_parser("datasets", help="list the named datasets").set_defaults(func=cmd_datasets)

    p = sub.add_parser("download", help="fetch a named dataset's standard files and check their sha256")
    p.add_argument("name")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--base-url", default=None, help="a mirror to fetch from instead of the canonical location")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("train", help="train a model into a run directory")
    p.add_argument("model", nargs="?", help="model name (see `aekit models`); optional with --resume")
    add_data_args(p)
    p.add_argument("--out", required=True, help="run directory to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    _train_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="reconstruction, probe and clustering numbers of a run")
    p.add_argument("run")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    for name, func, what in (("embed", cmd_embed, "write the codes of a dataset to an .npz (z, y)"),
                             ("reconstruct", cmd_reconstruct, "reconstruct a dataset to a .png or .npy")):
        p = sub.add_parser(name, help=what)
        p.add_argument("run")
        add_data_args(p)
        p.add_argument("--split", default="test", choices=("train", "test"))
        p.add_argument("--out", required=True)
        if name == "reconstruct":
            p.add_argument("--n", type=int, default=16, help="how many pairs to draw in a .png")
        p.set_defaults(func=func)

    p = sub.add_parser("interpolate", help="decode a walk in code space from item A to item B (a strip picture)")
    p.add_argument("run")
    p.add_argument("a", metavar="A", help="an item id of the data (a whole number; default data: the run's "
                   "test data) or a file: an image of the model's size (not resized; pixels mapped to the run's "
                   "scale) or a .npy holding one item (taken as it is)")
    p.add_argument("b", metavar="B", help="the other endpoint, like A")
    p.add_argument("--steps", type=int, default=16, help="images in the strip, endpoints included (>= 2)")
    p.add_argument("--method", default="linear", choices=("linear", "slerp"),
                   help="linear: (z_a (N-1-k) + z_b k) / (N-1), ACAI's; slerp: along the great circle")
    p.add_argument("--out", required=True, help="a .png strip (one row) or a .npy array (steps, *item)")
    p.add_argument("--zoom", type=int, default=1, help="enlarge every pixel of the picture to ZOOM x ZOOM")
    add_data_args(p)
    p.add_argument("--split", default="test", choices=("train", "test"), help="the split item ids refer to")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("generate", help="decode samples of a model's prior, or a grid over a 2-d code")
    p.add_argument("run")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--n", type=int, default=None, help="how many samples of the prior (default 64)")
    what.add_argument("--grid", type=int, default=None, metavar="G",
                      help="decode a G x G grid over a 2-d code: Gaussian quantiles 0.05..0.95 for a model with a "
                      "prior, else the 2nd..98th percentiles of the codes of the run's data")
    p.add_argument("--seed", type=int, default=0, help="seeds the prior's samples")
    p.add_argument("--out", required=True, help="a .png grid or a .npy array")
    p.add_argument("--save-npy", dest="save_npy", default=None, metavar="PATH",
                   help="also write the decoded images as an array (.npy)")
    p.add_argument("--zoom", type=int, default=1, help="enlarge every pixel of the picture to ZOOM x ZOOM")
    add_data_args(p)
    p.add_argument("--split", default="test", choices=("train", "test"), help="the data whose codes span --grid")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("pretrain", help="greedy layer-wise pretraining, then end-to-end fine-tuning")
    add_data_args(p, required=True)
    p.add_argument("--widths", required=True, help="layer widths after the input, e.g. 1000,500,250,30")
    p.add_argument("--layer-epochs", dest="layer_epochs", type=int, default=5, help="epochs per layer")
    p.add_argument("--noise", default=None, help="pretrain denoising layers: masking | gaussian | salt_and_pepper")
    p.add_argument("--noise-level", dest="noise_level", type=float, default=0.3)
    p.add_argument("--out", default=None, help="run directory for the fine-tuned deep AE")
    _train_flags(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("demo", help="PCA vs autoencoders on built-in data, in about two minutes")
    p.add_argument("--out", default="demo_out", help="where pictures and runs go")
    p.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    p.set_defaults(func=cmd_demo)

    for module in COMMAND_MODULES:  # search, text, denoise, anomaly, finetune: see aekit.commands
        importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help
            return e.code if isinstance(e.code, int) else 0
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
        print("aekit: interrupted; a run keeps its last checkpoint: continue it with `aekit train --resume --out DIR`",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
