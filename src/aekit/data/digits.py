"""scikit-learn's bundled 8x8 handwritten digits (the UCI optdigits test set, 1797 images, values 0..16).

It ships inside scikit-learn, so it loads offline in milliseconds: the dataset for quick examples, docs
and tests. There is no official split; a fixed stratified 80/20 split (seed 0) makes "train" and "test"
the same for everyone, whatever ``seed`` a user passes for other purposes.
"""

from __future__ import annotations

import numpy as np

MAX_VALUE = 16.0
TEST_FRACTION = 0.2
SPLIT_SEED = 0
CLASSES = [str(d) for d in range(10)]


def read_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, 8, 8) float64 in 0..16 and labels (N,) int64 for ``split`` ("train" or "test")."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.images.reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    idx = np.sort(idx_train if split == "train" else idx_test)  # keep the original order inside a split
    return x[idx], y[idx]
