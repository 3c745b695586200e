"""``aekit interpolate`` and ``aekit generate``: what a run's decoder makes of codes that no input produced
(:mod:`aekit.apps.generate`): a walk in code space between two items, samples of the prior, a 2-d latent grid."""
from __future__ import annotations

import math

from aekit.commands.common import (
    add_data_args, add_split_arg, check_out, check_picture_out, is_item_id, run_scale, run_source, write_images,
)
from aekit.errors import AekitError


def cmd_interpolate(args) -> int:
    from aekit import io
    from aekit.apps.generate import interpolate, picture_range, read_item
    from aekit.models.base import require

    out = check_out(args.out, folder=False)
    if args.steps < 2:
        raise AekitError(f"--steps must be at least 2 (the two endpoints), got {args.steps}")
    run = io.load_run(args.run)
    require(run.model, "decode", "aekit interpolate")
    check_picture_out(out, run.model, args.zoom)
    data = None
    if is_item_id(args.a) or is_item_id(args.b):
        data = run_source(args, run.config).load(args.split)
    scale = run_scale(args.scale, run.config)
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
            codes = inference.encode(model, run_source(args, run.config).load(args.split).x)
        images, nrow = latent_map(model, args.grid, codes), args.grid
    else:
        images, nrow = generate(model, n, seed=args.seed), math.ceil(math.sqrt(n))
    if save_npy is not None:
        write_images(save_npy, images, nrow, None, 1)
    vrange = picture_range(run_scale(args.scale, run.config), run.config.get("data", {}).get("value_range"))
    write_images(out, images, nrow, vrange, args.zoom)
    what = f"a {args.grid}x{args.grid} latent grid" if args.grid is not None else f"{n} samples"
    print(f"{what} written to {out}" + (f" (array: {save_npy})" if save_npy is not None else ""))
    return 0


def add_commands(sub) -> None:
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
    add_split_arg(p, "the split item ids refer to")
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
    add_split_arg(p, "the data whose codes span --grid")
    p.set_defaults(func=cmd_generate)
