"""``aekit embed`` and ``aekit reconstruct``: a run's model over a whole split, written to a file (the codes
to an .npz, the reconstructions to a .png or .npy)."""
from __future__ import annotations

from aekit.atomic import atomic_path
from aekit.commands.common import add_data_args, add_split_arg, check_out, run_source
from aekit.errors import AekitError


def cmd_embed(args) -> int:
    import numpy as np

    from aekit import inference, io

    out = check_out(args.out, folder=False)
    run = io.load_run(args.run)
    ds = run_source(args, run.config).load(args.split)
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
    from aekit.models.base import require

    out = check_out(args.out, folder=False)
    if out.suffix not in (".png", ".npy"):
        raise AekitError(f"--out must end in .png (a picture) or .npy (an array), got {out.name}")
    run = io.load_run(args.run)
    require(run.model, "decode", "aekit reconstruct")  # before any data is loaded
    ds = run_source(args, run.config).load(args.split)
    x = ds.x[: args.n] if out.suffix == ".png" else ds.x
    x_hat = inference.reconstruct(run.model, x)
    if out.suffix == ".png":
        lo = -1.0 if float(x.min()) < 0 else 0.0
        save_reconstructions(x, x_hat, out, n=len(x), value_range=(lo, 1.0))
    else:
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, x_hat.numpy())
    print(f"reconstructions written to {out}")
    return 0


def add_commands(sub) -> None:
    for name, func, what in (("embed", cmd_embed, "write the codes of a dataset to an .npz (z, y)"),
                             ("reconstruct", cmd_reconstruct, "reconstruct a dataset to a .png or .npy")):
        p = sub.add_parser(name, help=what)
        p.add_argument("run")
        add_data_args(p)
        add_split_arg(p, "the split to encode" if name == "embed" else "the split to reconstruct")
        p.add_argument("--out", required=True)
        if name == "reconstruct":
            p.add_argument("--n", type=int, default=16, help="how many pairs to draw in a .png")
        p.set_defaults(func=func)
