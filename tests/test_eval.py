"""Tests for aekit.eval: each checks a property that wrong code would break."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.errors import AekitError
from aekit.eval import (
    cluster_accuracy,
    cluster_nmi,
    cluster_scores,
    evaluate_codes,
    format_table,
    hungarian_accuracy,
    knn_accuracy_2d,
    plot_code_maps,
    probe_accuracy,
    psnr,
    recon_mse,
    recon_sse,
    save_image_grid,
    save_reconstructions,
)


def blobs(n_per_class=100, n_classes=4, dim=6, spread=0.3, seed=0, label_ids=None):
    """Well-separated Gaussian blobs; labels use the given (shuffled) ids."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 10.0
    k = np.repeat(np.arange(n_classes), n_per_class)
    z = centres[k] + spread * rng.normal(size=(len(k), dim))
    ids = np.arange(n_classes) if label_ids is None else np.asarray(label_ids)
    perm = rng.permutation(len(k))
    return z[perm], ids[k][perm]


def assert_valid_png(path, size=None):
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        arr = np.asarray(img.convert("RGB"))
    if size is not None:
        assert img.size == size
    assert len(np.unique(arr.reshape(-1, 3), axis=0)) > 2, "picture is (nearly) a single colour"
    assert [p.name for p in path.parent.iterdir() if p.name != path.name and "tmp" in p.name] == []
    return arr


# --- reconstruction -------------------------------------------------------------------------


def test_recon_sse_hand_made():
    x = np.array([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    x_hat = np.array([[0.0, 0.5, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    # example 0: 0.25 + 1 = 1.25; example 1: 1 -> mean 1.125
    assert recon_sse(x, x_hat) == pytest.approx(1.125)
    assert recon_mse(x, x_hat) == pytest.approx(1.125 / 4)


def test_recon_accepts_tensors_and_image_shapes():
    rng = np.random.default_rng(1)
    x = rng.random((5, 1, 4, 4)).astype(np.float32)
    x_hat = rng.random((5, 1, 4, 4)).astype(np.float32)
    expected = np.mean(np.sum((x.astype(np.float64) - x_hat) ** 2, axis=(1, 2, 3)))
    assert recon_sse(torch.from_numpy(x), torch.from_numpy(x_hat)) == pytest.approx(expected, rel=1e-6)
    assert recon_sse(x, x_hat) == pytest.approx(recon_mse(x, x_hat) * 16)


def test_psnr_known_mse_and_identical():
    x = np.zeros((3, 10))
    for mse in (0.01, 0.1, 0.25):
        x_hat = np.full_like(x, math.sqrt(mse))
        assert psnr(x, x_hat) == pytest.approx(10 * math.log10(1 / mse))
        assert psnr(x, x_hat * 255, data_range=255.0) == pytest.approx(10 * math.log10(1 / mse))
    assert psnr(x, x) == 100.0  # capped
    assert psnr(x, x, max_db=None) == math.inf
    assert psnr(x, x, max_db=60.0) == 60.0


def test_psnr_is_mean_of_per_example_values():
    x = np.zeros((2, 4))
    x_hat = np.stack([np.full(4, 0.1), np.full(4, 0.01)])  # mse 1e-2 and 1e-4 -> 20 dB and 40 dB
    assert psnr(x, x_hat) == pytest.approx(30.0)


@pytest.mark.parametrize(
    "x, x_hat",
    [
        (np.zeros((3, 4)), np.zeros((3, 5))),
        (np.zeros((0, 4)), np.zeros((0, 4))),
        (np.zeros((2, 4)), np.full((2, 4), np.nan)),
        (np.zeros(4), np.zeros(4)),
    ],
)
def test_recon_bad_input(x, x_hat):
    with pytest.raises(AekitError) as e:
        recon_sse(x, x_hat)
    assert "\n" not in str(e.value)


def test_psnr_bad_range():
    with pytest.raises(AekitError):
        psnr(np.zeros((2, 2)), np.zeros((2, 2)), data_range=0)


# --- Hungarian matching and clustering ------------------------------------------------------


def test_hungarian_accuracy_permuted_labelling():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    relabel = {0: 7, 1: 3, 2: 5}
    assert hungarian_accuracy(y, [relabel[v] for v in y]) == 1.0
    assert hungarian_accuracy(["a", "a", "b"], ["x", "x", "y"]) == 1.0


def test_hungarian_accuracy_hand_made_confusion():
    # clusters vs classes contingency:      class 0  class 1
    #   cluster A                              3        1
    #   cluster B                              2        4
    # best matching A->0, B->1: (3 + 4) / 10
    y_true = [0] * 3 + [1] * 1 + [0] * 2 + [1] * 4
    y_pred = ["A"] * 4 + ["B"] * 6
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(0.7)
    # cluster A: 5 of class 0; cluster B: 4 of class 0, 1 of class 1. Per-cluster majority voting would map
    # both clusters to class 0 (0.9); the one-to-one matching must give A->0, B->1: (5 + 1) / 10
    y_true = [0] * 5 + [0] * 4 + [1]
    y_pred = ["A"] * 5 + ["B"] * 5
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(0.6)
    # more clusters than classes: the extra cluster counts as wrong
    assert hungarian_accuracy([0, 0, 1, 1], [0, 1, 2, 2]) == pytest.approx(0.75)


def test_hungarian_accuracy_length_mismatch():
    with pytest.raises(AekitError, match="examples"):
        hungarian_accuracy([0, 1, 1], [0, 1])


def test_cluster_accuracy_on_blobs_with_shuffled_ids():
    z, y = blobs(label_ids=[9, 2, 5, 0])
    assert cluster_accuracy(z, y) > 0.99
    assert cluster_accuracy(torch.from_numpy(z).float(), torch.from_numpy(y), whiten=False) > 0.99
    assert cluster_nmi(z, y) > 0.95
    scores = cluster_scores(z, y)
    assert set(scores) == {"cluster_accuracy", "cluster_nmi"}


def test_cluster_scores_fitted_on_other_codes():
    """The official ACAI protocol: whitening and k-means fitted on the training codes, test codes assigned
    to the nearest centre. Two points of each of two blobs, four clusters: fitted on the four blobs, each
    pair shares its blob's cluster (accuracy 1); fitted on the four points alone, every point is a cluster
    of its own and two of them must count as wrong (0.5). Fitting on the scored codes is the default."""
    z, y = blobs(label_ids=[9, 2, 5, 0])
    pairs = np.concatenate([z[y == 9][:2], z[y == 2][:2]])
    labels = [9, 9, 2, 2]
    assert cluster_accuracy(pairs, labels, n_clusters=4) == 0.5
    for init in ("k-means++", "random"):
        assert cluster_accuracy(pairs, labels, n_clusters=4, fit_codes=z, init=init, n_init=3) == 1.0
    assert cluster_scores(z, y, fit_codes=z) == cluster_scores(z, y)
    with pytest.raises(AekitError, match="same model"):
        cluster_scores(z, y, fit_codes=z[:, :2])
    with pytest.raises(AekitError, match="init"):
        cluster_scores(z, y, init="kmeans++")


def test_cluster_scores_threads_change_speed_not_clusters():
    """More threads for a long fit: the same clusters as on one thread; a thread count below 1 is refused."""
    from threadpoolctl import threadpool_info

    z, y = blobs(label_ids=[9, 2, 5, 0])
    before = [pool["num_threads"] for pool in threadpool_info()]
    assert cluster_scores(z, y, init="random", n_init=5, threads=2) == cluster_scores(z, y, init="random", n_init=5)
    assert [pool["num_threads"] for pool in threadpool_info()] == before  # the limits come back
    with pytest.raises(AekitError, match="threads"):
        cluster_scores(z, y, threads=0)


def test_cluster_scores_low_on_random_labels():
    z, _ = blobs(seed=3)
    y = np.random.default_rng(3).integers(0, 4, len(z))
    s = cluster_scores(z, y)
    assert s["cluster_accuracy"] < 0.45 and s["cluster_nmi"] < 0.1


def test_cluster_scores_constant_codes_do_not_crash():
    s = cluster_scores(np.ones((20, 3)), np.repeat([0, 1], 10))
    assert s["cluster_accuracy"] == pytest.approx(0.5) and s["cluster_nmi"] == pytest.approx(0.0)


def test_cluster_bad_input():
    z, y = blobs()
    with pytest.raises(AekitError):
        cluster_accuracy(z, y[:-1])
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(AekitError, match="NaN"):
        cluster_accuracy(bad, y)
    with pytest.raises(AekitError):
        cluster_accuracy(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(AekitError):
        cluster_accuracy(z, y, n_clusters=len(z) + 1)


# --- linear probe ---------------------------------------------------------------------------


def test_probe_separable_data_near_one():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1200, 5))
    w = rng.normal(size=(5, 3))
    y = np.argmax(z @ w, axis=1)  # linearly separable by construction
    acc = probe_accuracy(z[:1000], y[:1000], z[1000:], y[1000:], max_iter=500)
    assert acc > 0.95


def test_probe_random_labels_near_chance():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(1500, 8))
    y = rng.integers(0, 4, 1500)
    acc = probe_accuracy(z[:1000], y[:1000], z[1000:], y[1000:])
    assert 0.15 < acc < 0.35


def test_probe_subsample_cap_and_tensors():
    z, y = blobs(n_per_class=200, label_ids=[3, 1, 4, 8])
    zt, yt = torch.from_numpy(z).float(), torch.from_numpy(y)
    acc = probe_accuracy(zt[:600], yt[:600], zt[600:], yt[600:], max_train=50, seed=1)
    assert acc > 0.95
    assert acc == probe_accuracy(z[:600], y[:600], z[600:], y[600:], max_train=50, seed=1)


def test_probe_bad_input():
    z = np.random.default_rng(0).normal(size=(20, 3))
    y = np.repeat([0, 1], 10)
    with pytest.raises(AekitError, match="2 classes"):
        probe_accuracy(z, np.zeros(20), z, y)
    with pytest.raises(AekitError):
        probe_accuracy(z, y[:-1], z, y)
    with pytest.raises(AekitError, match="features"):
        probe_accuracy(z, y, z[:, :2], y)
    bad = z.copy()
    bad[0, 0] = np.inf
    with pytest.raises(AekitError) as e:
        probe_accuracy(bad, y, z, y)
    assert "\n" not in str(e.value)


# --- 2-D maps -------------------------------------------------------------------------------


def test_knn_accuracy_2d_separable_and_random():
    z, y = blobs(n_per_class=80, n_classes=3, dim=2, spread=0.5)
    assert knn_accuracy_2d(z[:160], y[:160], z[160:], y[160:], k=5) == 1.0
    y_rand = np.random.default_rng(0).integers(0, 3, len(y))
    assert knn_accuracy_2d(z[:160], y_rand[:160], z[160:], y_rand[160:]) < 0.6
    with pytest.raises(AekitError):
        knn_accuracy_2d(z[:3], y[:3], z, y, k=5)


def test_plot_code_maps_writes_png(tmp_path):
    z, y = blobs(n_per_class=2000, n_classes=3, dim=2)  # 6000 points: exercises the 5000 cap
    pca_like = z + np.random.default_rng(0).normal(size=z.shape) * 5
    path = tmp_path / "maps" / "codes.png"  # parent created on demand
    out = plot_code_maps(
        {"PCA": pca_like, "AE": torch.from_numpy(z)}, y, path, title="2-D codes", numbers={"PCA": 0.61, "AE": 0.99}
    )
    assert out == path
    arr = assert_valid_png(path)
    assert arr.shape[1] > arr.shape[0]  # two panels side by side


def test_plot_code_maps_bad_input(tmp_path):
    with pytest.raises(AekitError, match=r"\(N, 2\)"):
        plot_code_maps({"AE": np.zeros((4, 3))}, [0, 1, 0, 1], tmp_path / "x.png")
    with pytest.raises(AekitError):
        plot_code_maps({}, [0, 1], tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


# --- pictures -------------------------------------------------------------------------------


def test_save_image_grid_gray_flat(tmp_path):
    imgs = np.random.default_rng(0).random((10, 784))
    path = save_image_grid(imgs, tmp_path / "grid.png", nrow=5, padding=2)
    # 5 columns x 2 rows of 28 px with 2 px padding around and between
    assert_valid_png(path, size=(2 + 5 * 30, 2 + 2 * 30))


def test_save_image_grid_rgb_and_item_shape(tmp_path):
    rgb = torch.rand(6, 3, 8, 8)
    path = save_image_grid(rgb, tmp_path / "rgb.png", nrow=3, scale=2)
    with Image.open(path) as img:
        assert img.mode == "RGB" and img.size == (2 * (2 + 3 * 10), 2 * (2 + 2 * 10))
    assert_valid_png(path)
    flat = rgb.reshape(6, -1)
    path2 = save_image_grid(flat, tmp_path / "rgb2.png", nrow=3, scale=2, item_shape=(3, 8, 8))
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(path2)))


def test_save_image_grid_value_range(tmp_path):
    imgs = np.stack([np.full((4, 4), -1.0), np.full((4, 4), 1.0)])
    path = save_image_grid(imgs, tmp_path / "r.png", nrow=2, value_range=(-1, 1), padding=0)
    arr = np.asarray(Image.open(path))
    assert arr[0, 0] == 0 and arr[0, 7] == 255


def test_save_image_grid_bad_input(tmp_path):
    with pytest.raises(AekitError, match="item_shape"):
        save_image_grid(np.zeros((2, 10)), tmp_path / "a.png")
    with pytest.raises(AekitError):
        save_image_grid(np.zeros((2, 5, 4, 4)), tmp_path / "a.png")
    with pytest.raises(AekitError):
        save_image_grid(np.zeros((2, 16)), tmp_path / "a.png", item_shape=(3, 4))
    assert list(tmp_path.iterdir()) == []


def test_save_reconstructions_layout(tmp_path):
    x = np.zeros((7, 1, 4, 4))  # black originals
    x_hat = np.ones((7, 1, 4, 4))  # white reconstructions
    path = save_reconstructions(x, x_hat, tmp_path / "rec.png", n=7, nrow=4, padding=1)
    arr = assert_valid_png(path, size=(1 + 4 * 5, 1 + 4 * 5))
    arr = arr[:, :, 0]
    tile = lambda r, c: arr[1 + r * 5 : 1 + r * 5 + 4, 1 + c * 5 : 1 + c * 5 + 4]  # noqa: E731
    assert (tile(0, 0) == 0).all() and (tile(1, 0) == 255).all()  # original above its reconstruction
    assert (tile(2, 2) == 0).all() and (tile(3, 2) == 255).all()
    assert not (tile(2, 3) == 0).all() and not (tile(3, 3) == 255).all()  # blank slots after the 7th pair
    with pytest.raises(AekitError):
        save_reconstructions(x, x_hat[:, :, :2], tmp_path / "bad.png")


# --- report ---------------------------------------------------------------------------------


def test_evaluate_codes_keys_and_values():
    z, y = blobs(n_per_class=150, label_ids=[4, 1, 7, 2])
    out = evaluate_codes(z[:400], y[:400], z[400:], y[400:])
    assert set(out) == {"probe_accuracy", "cluster_accuracy", "cluster_nmi"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["probe_accuracy"] > 0.95 and out["cluster_accuracy"] > 0.95


def test_format_table_aligns_columns():
    rows = [
        {"model": "pca", "sse": 3.123456, "probe": 0.81, "epochs": 0},
        {"model": "deep autoencoder", "sse": 12.5, "probe": None, "epochs": 20},
        {"model": "ae", "sse": 1e-6, "epochs": 5},
    ]
    text = format_table(rows, ["model", "sse", "probe", "epochs"])
    lines = text.splitlines()
    assert len(lines) == 5
    assert lines[0].split() == ["model", "sse", "probe", "epochs"]
    assert set(lines[1]) <= {"-", " "}
    assert "3.1235" in lines[2] and "12.5000" in lines[3] and "1.000e-06" in lines[4] and "0.8100" in lines[2]
    assert lines[3].split()[-2] == "-" and lines[4].split()[-2] == "-"
    # numbers are right-aligned: each value ends where its column header ends
    for col, cells in [("sse", ["3.1235", "12.5000", "1.000e-06"]), ("epochs", ["0", "20", "5"])]:
        end = lines[0].index(col) + len(col)
        assert [line[:end].split()[-1] for line in lines[2:]] == cells
        assert all(len(line) == end or line[end] == " " for line in lines[2:])
    # text is left-aligned under its header
    assert all(line.startswith(r["model"]) for line, r in zip(lines[2:], rows))
    assert lines[2].index("3.1235") > len("deep autoencoder")
    # default columns: every key, first-seen order
    assert format_table(rows).splitlines()[0].split() == ["model", "sse", "probe", "epochs"]


def test_psnr_of_raw_tables_uses_the_data_s_own_range():
    """[0, 1] data has range 1 and [-1, 1] data range 2; anything else (a raw table) its own span, not 2."""
    import aekit
    from aekit.data.dataset import ArrayDataset
    from aekit.evaluate import evaluate_model

    torch.manual_seed(0)
    x = torch.rand(64, 5) * 10 - 2  # values in [-2, 8]
    data = ArrayDataset(x, scale="raw")
    run = aekit.train("pca", data, latent_dim=2)
    x_hat = aekit.reconstruct(run.model, x)
    span = float(x.max() - x.min())
    got = evaluate_model(run.model, data, metrics=["reconstruction"])["psnr"]
    assert got == pytest.approx(psnr(x, x_hat, data_range=span))
