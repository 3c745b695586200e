"""The 2-D code map: codes squeezed to two numbers, drawn coloured by class.

The picture compares methods side by side (e.g. 2-D PCA against a 2-unit autoencoder code, as in
Hinton & Salakhutdinov 2006, Fig. 3). The number printed with each panel is the accuracy of a
k-nearest-neighbour classifier (scikit-learn ``KNeighborsClassifier``, Euclidean distance,
uniform vote over ``k`` neighbours) fitted on the training points of the map and scored on the
test points: a higher value means the classes are better separated *in the plane*.

Drawing uses matplotlib's Agg canvas directly (no pyplot, never needs a display).
"""

from __future__ import annotations

from pathlib import Path

from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.neighbors import KNeighborsClassifier

from aekit.errors import AekitError

from ._arrays import as_codes, as_labels, same_length, same_width
from aekit.atomic import atomic_path
from ._threads import limit_threads


def knn_accuracy_2d(z2_train, y_train, z2_test, y_test, k: int = 5) -> float:
    """Test accuracy in [0, 1] of a ``k``-nearest-neighbour classifier on map coordinates.

    Meant for ``(N, 2)`` maps, but any number of columns works.
    """
    z2_train, z2_test = as_codes(z2_train, "z2_train"), as_codes(z2_test, "z2_test")
    y_train, y_test = as_labels(y_train, "y_train"), as_labels(y_test, "y_test")
    same_length(z2_train, y_train, "z2_train", "y_train")
    same_length(z2_test, y_test, "z2_test", "y_test")
    same_width(z2_train, z2_test, "z2_train", "z2_test")
    if not 1 <= k <= len(z2_train):
        raise AekitError(f"k must be between 1 and the number of training points ({len(z2_train)}), got {k}")
    with limit_threads():
        predicted = KNeighborsClassifier(n_neighbors=k).fit(z2_train, y_train).predict(z2_test)
    return float(np.mean(predicted == y_test))


def _colours(n: int) -> np.ndarray:
    from matplotlib import colormaps

    if n <= 10:
        return colormaps["tab10"](np.arange(n))
    if n <= 20:
        return colormaps["tab20"](np.arange(n))
    return colormaps["turbo"](np.linspace(0.0, 1.0, n))


def plot_code_maps(
    maps: Mapping[str, object],
    labels,
    path,
    title: str | None = None,
    numbers: Mapping[str, float] | None = None,
    *,
    number_label: str = "kNN accuracy",
    max_points: int = 5000,
    seed: int = 0,
):
    """Draw one scatter panel per entry of ``maps`` side by side and save it as a PNG at ``path``.

    ``maps`` maps a method name (``"PCA"``, ``"AE"``) to its ``(N, 2)`` coordinates for the same
    ``N`` points; ``labels`` ``(N,)`` colours them (one legend, for 20 classes or fewer).
    ``numbers[name]``, when given, is printed in that panel's title as ``"<number_label> 0.912"``.
    At most ``max_points`` points are drawn, the same seeded random subset in every panel. The file
    is written atomically; the path is returned.
    """
    if not maps:
        raise AekitError("maps is empty; pass a dict such as {'PCA': z2_pca, 'AE': z2_ae}")
    if max_points < 1:
        raise AekitError(f"max_points must be at least 1, got {max_points}")
    labels = as_labels(labels, "labels")
    coords = {}
    for name, z in maps.items():
        z = as_codes(z, f"maps[{name!r}]")
        if z.shape[1] != 2:
            raise AekitError(f"maps[{name!r}] has {z.shape[1]} columns; a code map needs (N, 2) coordinates")
        same_length(z, labels, f"maps[{name!r}]", "labels")
        coords[str(name)] = z
    numbers = dict(numbers or {})

    idx = np.arange(len(labels))
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(idx), size=max_points, replace=False))
    classes, codes = np.unique(labels, return_inverse=True)
    colours = _colours(len(classes))
    order = np.random.default_rng(seed + 1).permutation(idx)  # draw in random order: no class hides another

    n = len(coords)
    fig = Figure(figsize=(4.5 * n + (1.2 if len(classes) <= 20 else 0.0), 4.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, z) in zip(axes, coords.items()):
        ax.scatter(z[order, 0], z[order, 1], c=colours[codes[order]], s=3, linewidths=0, rasterized=True)
        panel = name if name not in numbers else f"{name}\n{number_label} {float(numbers[name]):.3f}"
        ax.set_title(panel, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    if len(classes) <= 20:
        handles = [
            Line2D([], [], marker="o", linestyle="", color=colours[i], markersize=6, label=str(c))
            for i, c in enumerate(classes)
        ]
        fig.legend(handles=handles, loc="center right", frameon=False, title="class")
        right = 1.0 - 1.1 / fig.get_figwidth()
    else:
        right = 0.98
    if title:
        fig.suptitle(title, fontsize=12)
    fig.subplots_adjust(left=0.02, right=right, bottom=0.03, top=0.82 if title else 0.88, wspace=0.06)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
