"""`aekit denoise RUN INPUT --out OUT`: the model's reconstruction of an image, a folder of images or a
``.npy`` of items, written like the input; ``--noise`` corrupts first and ``--compare`` draws clean,
noisy and denoised rows. The library side is :mod:`aekit.apps.denoise`."""
from __future__ import annotations

import sys
from pathlib import Path

from aekit.errors import AekitError


def _check_out(out: Path, input_path: Path) -> None:
    """The output must match the input's kind and must not be the input itself."""
    from aekit.apps.generate import IMAGE_SUFFIXES

    if out.exists() and input_path.exists() and out.resolve() == input_path.resolve():
        raise AekitError(f"--out {out} is INPUT itself: choose another --out (the input stays as it is)")
    if out.suffix.lower() == ".npy":
        return  # any input can be written as an array of denoised items
    if input_path.is_dir():
        if out.exists() and not out.is_dir():
            raise AekitError(f"INPUT is a folder, so --out must be a folder (or a .npy), but {out} is a file")
        if out.resolve().is_relative_to(input_path.resolve()):
            raise AekitError(f"--out {out} lies inside INPUT {input_path}: choose a folder outside it")
    elif input_path.suffix.lower() == ".npy":
        raise AekitError(f"INPUT is a .npy array, so --out must end in .npy, got {out.name}")
    elif input_path.suffix.lower() in IMAGE_SUFFIXES and out.suffix.lower() != ".png":
        raise AekitError(f"INPUT is an image, so --out must end in .png (or .npy), got {out.name}")


def cmd_denoise(args) -> int:
    from aekit import io
    from aekit.apps.denoise import (check_picture_items, denoise, parse_noise, read_inputs, save_comparison,
                                    write_outputs)
    from aekit.apps.generate import picture_range
    from aekit.commands.common import check_out, run_scale
    from aekit.eval import psnr
    from aekit.models.base import require

    input_path = Path(args.input)
    out = check_out(args.out, folder=input_path.is_dir() and Path(args.out).suffix.lower() != ".npy")
    _check_out(out, input_path)
    noise = parse_noise(args.noise) if args.noise else None
    compare = check_out(args.compare, folder=False) if args.compare else None
    if compare is not None and compare.suffix.lower() != ".png":
        raise AekitError(f"--compare must end in .png (a picture), got {compare.name}")
    if args.zoom < 1:
        raise AekitError(f"--zoom must be a whole number of at least 1, got {args.zoom}")
    run = io.load_run(args.run)
    require(run.model, "decode", "aekit denoise")
    shape = tuple(run.model.input_shape)
    if compare is not None or out.suffix.lower() == ".png" or input_path.is_dir():
        check_picture_items(shape)
    scale = run_scale(args.scale, run.config) or "01"
    vrange = picture_range(scale, run.config.get("data", {}).get("value_range"))
    inputs = read_inputs(input_path, shape, scale)
    noisy, denoised = denoise(run.model, inputs.x, noise=noise, seed=args.seed, value_range=vrange)
    written = write_outputs(out, inputs, denoised, vrange)
    if compare is not None:
        rows = [inputs.x, noisy, denoised] if noise is not None else [inputs.x, denoised]
        save_comparison(compare, rows, vrange, n=args.n_compare, zoom=args.zoom)
    where = out if len(written) == 1 else f"{out}/ ({len(written)} files)"
    print(f"{len(inputs.x)} denoised item(s) written to {where}")
    if noise is not None:  # the clean input is known: say how much the model recovered
        span = vrange[1] - vrange[0]
        print(f"PSNR vs the clean input: noisy {psnr(inputs.x, noisy, span):.2f} dB, "
              f"denoised {psnr(inputs.x, denoised, span):.2f} dB")
    if compare is not None:
        print(f"comparison ({'clean | noisy | denoised' if noise else 'input | denoised'} rows) written to {compare}",
              file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("denoise", help="reconstruct (denoise) an image, a folder of images or a .npy of items")
    p.add_argument("run")
    p.add_argument("input", metavar="INPUT", help="an image of the model's size (not resized; pixels mapped to the "
                   "run's scale), a folder of such images, or a .npy array of items (taken as they are)")
    p.add_argument("--out", required=True, help="like INPUT: a .png for an image, a folder for a folder, a .npy "
                   "for an array (a .npy is accepted for any INPUT)")
    p.add_argument("--noise", default=None, metavar="KIND:LEVEL",
                   help="corrupt the input first: gaussian:SIGMA, masking:FRACTION or salt_and_pepper:FRACTION "
                   "(e.g. gaussian:0.3); then the PSNR before and after is printed")
    p.add_argument("--seed", type=int, default=0, help="seeds --noise")
    p.add_argument("--compare", default=None, metavar="FILE.png",
                   help="also draw the input (clean), noisy and denoised items in rows")
    p.add_argument("--n-compare", dest="n_compare", type=int, default=8, help="items in the --compare picture")
    p.add_argument("--zoom", type=int, default=1, help="enlarge every pixel of --compare to ZOOM x ZOOM")
    p.add_argument("--scale", default=None, help="how image pixels map to values: 01 | pm1 | raw (default: the run's)")
    p.set_defaults(func=cmd_denoise)
