"""A held-out split for data that has no test split (a user's .npy/.npz/.csv file or an image folder without
train/test folders): without it every number ``aekit evaluate`` prints (reconstruction, the linear probe,
clustering) would be measured on the very items the model was trained on.

The split is a seeded permutation of the items: the first ``round(n * fraction)`` of it are held out ("test"),
the rest train; each part keeps the file's order. It depends only on (n, fraction, seed), so ``train``,
``--resume``, ``evaluate`` and every other command that reloads a run's recorded data source get the same
parts. ``fraction=0`` keeps nothing back and says that the numbers are in-sample.
"""
from __future__ import annotations

from aekit.errors import AekitError
from aekit.notices import say

DEFAULT_FRACTION = 0.2  # of the items, held out when the data has no test split (scikit-learn's default is 0.25)
NO_SPLIT = "all"  # the split a reader gives data that has no train/test parts (data/sources.py)


def check_fraction(fraction) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise AekitError(f"the held-out fraction must lie in [0, 1), e.g. 0.2 (0: evaluate on the training items), "
                         f"got {fraction!r}")
    return float(fraction)


def held_out_part(data, split: str, fraction: float, seed: int):
    """The ``split`` ("train" or "test") part of ``data``, which has no test split of its own (said on stderr
    when the test part is taken); ``data.extra["holdout"]`` records how it was cut."""
    import torch  # here: the parser imports this module (through DataSource) and must not load torch

    n = len(data)
    if fraction == 0:
        if split == "test":
            say(f"{data.name} has no test split and --holdout is 0: the numbers are in-sample, measured on the {n} "
                f"training items")
        data.extra["holdout"] = {"fraction": 0.0, "seed": seed, "held_out": 0, "of": n}
        return data
    k = round(n * fraction)
    if k < 1 or k >= n:
        raise AekitError(f"{data.name} has {n} items, too few to hold out {fraction:g} of them for evaluation: "
                         f"use more data, another --holdout, or --holdout 0 (evaluate in-sample)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    part = (order[:k] if split == "test" else order[k:]).sort().values  # (k,) or (n - k,): the file's order kept
    out = data.subset(part)
    out.split = split
    out.extra["holdout"] = {"fraction": fraction, "seed": seed, "held_out": k, "of": n}
    if split == "test":
        say(f"{data.name} has no test split: {k} of its {n} items (fraction {fraction:g}, seed {seed}) are held out "
            f"for evaluation and not trained on; --holdout 0 uses every item")
    return out
