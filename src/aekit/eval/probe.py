"""Linear probe: how linearly decodable the labels are from the codes.

Protocol: standardise each code dimension with the mean and standard deviation of the training
codes, fit a multinomial logistic regression (scikit-learn ``LogisticRegression``, lbfgs, L2 with
``C=1``) on the training codes, and report accuracy on the test codes. To keep the probe at a few
seconds for 60k codes, at most ``max_train`` training codes are used, drawn uniformly without
replacement with ``seed`` (``max_train=None`` uses them all). The solver stops after ``max_iter``
iterations; its convergence warning is silenced because that cap is part of the protocol.
The fit runs on one thread (see ``_threads``).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aekit.errors import AekitError

from ._arrays import as_codes, as_labels, same_length, same_width
from ._threads import limit_threads


def probe_accuracy(
    z_train,
    y_train,
    z_test,
    y_test,
    *,
    max_iter: int = 200,
    max_train: int | None = 20_000,
    C: float = 1.0,
    seed: int = 0,
) -> float:
    """Test accuracy in [0, 1] of a linear probe (standardise + multinomial logistic regression).

    ``z_*`` are codes ``(N, D)`` (arrays or tensors), ``y_*`` integer labels ``(N,)``. Test labels
    never seen in training simply count as errors.
    """
    z_train, z_test = as_codes(z_train, "z_train"), as_codes(z_test, "z_test")
    y_train, y_test = as_labels(y_train, "y_train"), as_labels(y_test, "y_test")
    same_length(z_train, y_train, "z_train", "y_train")
    same_length(z_test, y_test, "z_test", "y_test")
    same_width(z_train, z_test, "z_train", "z_test")
    if max_iter < 1:
        raise AekitError(f"max_iter must be at least 1, got {max_iter}")
    if max_train is not None:
        if max_train < 2:
            raise AekitError(f"max_train must be at least 2 (or None for all codes), got {max_train}")
        if len(z_train) > max_train:
            keep = np.random.default_rng(seed).choice(len(z_train), size=max_train, replace=False)
            z_train, y_train = z_train[keep], y_train[keep]
    n_classes = len(np.unique(y_train))
    if n_classes < 2:
        raise AekitError(
            f"y_train has {n_classes} class among the probe's training codes; a probe needs at least 2 classes"
        )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    with limit_threads(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(z_train, y_train)
        predicted = model.predict(z_test)
    return float(np.mean(predicted == y_test))
