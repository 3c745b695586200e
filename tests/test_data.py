"""Properties of aekit.data: file formats, safety, synthetic lines, transforms, corruptions, downloads."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import math
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.data import (
    ArrayDataset,
    LinesStream,
    corrupt,
    dataset_names,
    download,
    gaussian,
    iter_lines,
    lines,
    load,
    masking,
    pad_to,
    read_idx,
    render_lines,
    salt_and_pepper,
    write_idx,
)
from aekit.data.cifar import CIFAR10_CLASSES, read_cifar_meta
from aekit.data.lines import angle_labels
from aekit.errors import AekitError

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _isolated_locations(tmp_path_factory, monkeypatch):
    """No test reads the user's AEKIT_DATA or writes decoded caches into their home folder."""
    monkeypatch.delenv("AEKIT_DATA", raising=False)
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


# ---- IDX ---------------------------------------------------------------------------------------------------


def _fake_mnist(root: Path, n_train: int = 12, n_test: int = 5, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    folder = root / "mnist"
    suffix = ".gz" if gz else ""
    out = None
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out = out or (images, labels)
    return out


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    images = np.random.default_rng(1).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path, expect_magic=2051)
    assert back.dtype == np.uint8 and back.shape == (7, 5, 3)
    np.testing.assert_array_equal(back, images)


def test_idx_detects_gzip_by_content_and_keeps_wide_types(tmp_path):
    a = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    path = write_idx(tmp_path / "plain-name", a, compress=True)  # gzipped, but the name does not say so
    np.testing.assert_array_equal(read_idx(path), a)
    labels = np.arange(9, dtype=np.uint8)
    assert int.from_bytes(write_idx(tmp_path / "l", labels).read_bytes()[:4], "big") == 2049


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_file_is_one_clear_error(tmp_path, gz):
    path = write_idx(tmp_path / ("t.gz" if gz else "t"), np.zeros((10, 28, 28), np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AekitError, match="truncated") as e:
        read_idx(path, fix="run `aekit download mnist`")
    assert str(path) in str(e.value) and "aekit download mnist" in str(e.value) and "\n" not in str(e.value)


def test_idx_wrong_magic_and_trailing_bytes(tmp_path):
    labels = write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8))
    with pytest.raises(AekitError, match="2049 but an images file"):
        read_idx(labels, expect_magic=2051)
    junk = tmp_path / "junk"
    junk.write_bytes(b"PK\x03\x04 definitely not idx")
    with pytest.raises(AekitError, match="not an IDX file"):
        read_idx(junk)
    longer = tmp_path / "longer"
    longer.write_bytes(labels.read_bytes() + b"\0\0")
    with pytest.raises(AekitError, match="2 unexpected bytes"):
        read_idx(longer)


@pytest.mark.parametrize("gz", [False, True])
def test_named_mnist_layout_loads_and_scales(tmp_path, gz):
    images, labels = _fake_mnist(tmp_path, gz=gz)
    ds = load("mnist", data_dir=tmp_path)
    assert ds.x.shape == (12, 1, 28, 28) and ds.x.dtype == torch.float32
    np.testing.assert_allclose(ds.x[:, 0].numpy(), images / 255.0, atol=1e-6)
    assert ds.y.tolist() == labels.tolist()
    pm1 = load("mnist", split="test", data_dir=tmp_path, scale="pm1")
    assert len(pm1) == 5 and pm1.x.min() >= -1 and pm1.x.max() <= 1 and pm1.split == "test"


def test_named_dataset_via_env_and_missing_or_damaged_files(tmp_path, monkeypatch):
    with pytest.raises(AekitError, match="aekit download mnist") as e:
        load("mnist", data_dir=tmp_path)
    assert str(tmp_path / "mnist") in str(e.value) and "AEKIT_DATA" in str(e.value)
    _fake_mnist(tmp_path)
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path))
    assert len(load("mnist")) == 12
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(AekitError, match="aekit download mnist"):
        load("mnist")


# ---- CIFAR-10 ----------------------------------------------------------------------------------------------


class _Exploit:
    """A pickle payload that writes a file when unpickled by the standard pickle module."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    live = tmp_path / "proof-the-payload-works"
    pickle.loads(pickle.dumps(_Exploit(live)))  # the ordinary unpickler runs it ...
    assert live.exists()
    marker = tmp_path / "must-not-exist"
    folder = tmp_path / "cifar10"
    folder.mkdir()
    payload = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "x": _Exploit(marker)}
    (folder / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(AekitError, match="refusing to unpickle .*exec"):
        load("cifar10", data_dir=tmp_path)  # ... ours refuses before calling anything
    assert not marker.exists()
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": os.system}, protocol=2))
    with pytest.raises(AekitError, match="refusing"):
        load("cifar10", data_dir=tmp_path)


def _cifar_batch(n: int, seed: int, bytes_keys: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    d = {
        "batch_label": "training batch 1 of 5",
        "labels": [int(v) for v in rng.integers(0, 10, n)],
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img_{seed}_{i}.png" for i in range(n)],
    }
    return {k.encode(): v for k, v in d.items()} if bytes_keys else d


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_fake_cifar_batches_load_with_shapes_labels_and_channel_order(tmp_path, protocol):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    b1, b3, tb = _cifar_batch(6, 1), _cifar_batch(4, 3, bytes_keys=True), _cifar_batch(5, 9)
    for name, batch in (("data_batch_1", b1), ("data_batch_3", b3), ("test_batch", tb)):
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    train = load("cifar10", data_dir=tmp_path)  # any subset of the five training batches
    assert train.x.shape == (10, 3, 32, 32) and train.classes == list(CIFAR10_CLASSES)
    assert train.y.tolist() == b1["labels"] + b3[b"labels"]
    # row layout: 1024 red values, then green, then blue, each 32x32 row-major
    np.testing.assert_allclose(train.x[0, 1].numpy() * 255, b1["data"][0, 1024:2048].reshape(32, 32), atol=1e-3)
    test = load("cifar10", split="test", data_dir=tmp_path, scale="raw")
    assert len(test) == 5 and test.x.max() <= 255 and test.y.tolist() == tb["labels"]


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes (BINSTRING), as the official CIFAR batches were written."""

    def save_bytes(self, obj):
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + n.to_bytes(4, "little")
        self.write(head + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def test_python2_style_cifar_batch_loads(tmp_path):
    batch = _cifar_batch(3, 4, bytes_keys=True)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(batch)
    data = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # numpy 1.x module name
    assert b"_codecs" not in data and b"numpy.core.multiarray\n_reconstruct" in data
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "test_batch").write_bytes(data)
    ds = load("cifar10", split="test", data_dir=tmp_path, scale="raw")
    np.testing.assert_array_equal(ds.x.reshape(3, -1).numpy(), batch[b"data"])
    assert ds.y.tolist() == batch[b"labels"]


def test_cifar_batch_with_wrong_contents_is_refused(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    with pytest.raises(AekitError, match="uint8 \\(N, 3072\\)"):
        load("cifar10", split="test", data_dir=tmp_path)
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(AekitError, match="not a readable pickle"):
        load("cifar10", split="test", data_dir=tmp_path)


def _png_tree(root: Path, classes=("truck", "airplane", "cat"), per_class: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    pixels = {}
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                rel = f"{split}/{c}/{c}_{i}.png"
                Image.fromarray(a).save(root / rel)
                pixels[rel] = a
    (root / "train" / "cat" / "notes.txt").write_text("not an image")  # ignored
    return pixels


def _tar(folder: Path, dest: Path, mode: str) -> Path:
    with tarfile.open(dest, mode) as tf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                tf.add(p, arcname=str(p.relative_to(folder)))
    return dest


def test_png_folder_and_tars_agree(tmp_path):
    tree = tmp_path / "tree"
    pixels = _png_tree(tree)
    plain = _tar(tree, tmp_path / "imgs.tar", "w")
    packed = _tar(tree, tmp_path / "imgs.tar.gz", "w:gz")
    a, b, c = (load(p, split="test") for p in (tree, plain, packed))
    assert a.x.shape == (9, 3, 32, 32) and a.classes == ["airplane", "cat", "truck"]
    for other in (b, c):
        assert torch.equal(a.x, other.x) and torch.equal(a.y, other.y)
    np.testing.assert_allclose(a.x[0].permute(1, 2, 0).numpy() * 255, pixels["test/airplane/airplane_0.png"], atol=1e-3)
    assert len(load(tree, split="train")) == 9


def test_cifar_png_tar_uses_cifar_class_order_and_a_cache(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    _png_tree(tree)
    (tmp_path / "data" / "cifar10-images").mkdir(parents=True)
    _tar(tree, tmp_path / "data" / "cifar10-images" / "cifar10-images.tar", "w")
    cache = tmp_path / "cache"
    monkeypatch.setenv("AEKIT_CACHE", str(cache))
    first = load("cifar10", data_dir=tmp_path / "data")
    assert first.classes == list(CIFAR10_CLASSES)
    assert sorted(set(first.y.tolist())) == [0, 3, 9]  # airplane, cat, truck in batches.meta order
    assert len(list(cache.glob("*.npz"))) == 1
    second = load("cifar10", data_dir=tmp_path / "data")
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)


def test_image_tree_refuses_mixed_sizes_and_unknown_cifar_classes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / "1.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "b" / "2.png")
    with pytest.raises(AekitError, match="differ in size"):
        load(tmp_path)
    cifar = tmp_path / "root" / "cifar10-images"
    (cifar / "train" / "dragon").mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(cifar / "train" / "dragon" / "x.png")
    with pytest.raises(AekitError, match="dragon"):
        load("cifar10", data_dir=tmp_path / "root")


def test_gray_image_folder_without_splits(tmp_path):
    for c in ("0", "1"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.full((6, 5), 255 * int(c), np.uint8)).save(tmp_path / c / "x.png")
    ds = load(tmp_path, split="test")  # no split folders: the same data for both splits
    assert ds.x.shape == (2, 1, 6, 5) and ds.y.tolist() == [0, 1] and ds.x[1].min() == 1.0


# ---- generic array sources ---------------------------------------------------------------------------------


def test_npy_npz_csv_load_with_shape_conventions(tmp_path):
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (4, 6, 6), dtype=np.uint8)
    np.save(tmp_path / "gray.npy", gray)
    ds = load(tmp_path / "gray.npy")
    assert ds.x.shape == (4, 1, 6, 6) and ds.y is None
    np.testing.assert_allclose(ds.x[:, 0].numpy(), gray / 255, atol=1e-6)

    hwc = rng.random((3, 5, 5, 3)).astype(np.float32)
    np.savez(tmp_path / "rgb.npz", X=hwc, y=np.array([2, 0, 1]))
    ds = load(tmp_path / "rgb.npz", scale="pm1")
    assert ds.x.shape == (3, 3, 5, 5) and ds.y.tolist() == [2, 0, 1]
    np.testing.assert_allclose(ds.x.permute(0, 2, 3, 1).numpy(), hwc * 2 - 1, atol=1e-6)

    np.savez(tmp_path / "keras.npz", x_train=gray, y_train=np.arange(4), x_test=gray[:2], y_test=np.arange(2))
    assert len(load(tmp_path / "keras.npz", split="test")) == 2

    (tmp_path / "t.csv").write_text("a,label,b\n0,1,255\n128,0,64\n")
    ds = load(tmp_path / "t.csv", label_column="label")
    assert ds.x.shape == (2, 2) and ds.y.tolist() == [1, 0]
    np.testing.assert_allclose(ds.x.numpy(), np.array([[0, 255], [128, 64]]) / 255, atol=1e-6)
    assert load(tmp_path / "t.csv", label_column=0, scale="raw").y.tolist() == [0, 128]


@pytest.mark.parametrize("kind", ["npy", "npz", "csv"])
def test_nan_and_inf_are_refused_with_a_count(tmp_path, kind):
    x = np.ones((5, 4))
    x[1, 2], x[3, 0] = np.nan, np.inf
    path = tmp_path / f"bad.{kind}"
    if kind == "npy":
        np.save(path, x)
    elif kind == "npz":
        np.savez(path, x=x)
    else:
        path.write_text("\n".join(",".join(str(v) for v in row) for row in x))
    with pytest.raises(AekitError, match="2 NaN/Inf"):
        load(path)


def test_values_outside_known_ranges_need_raw_scale(tmp_path):
    np.save(tmp_path / "z.npy", np.array([[-3.5, 2.0], [1.0, 0.5]]))
    with pytest.raises(AekitError, match="scale='raw'"):
        load(tmp_path / "z.npy")
    assert load(tmp_path / "z.npy", scale="raw").x.min() == -3.5


def test_empty_datasets_are_refused(tmp_path):
    with pytest.raises(AekitError, match="is empty"):
        ArrayDataset(torch.zeros(0, 3), name="nothing")
    np.save(tmp_path / "e.npy", np.zeros((0, 5), np.float32))
    with pytest.raises(AekitError, match="empty"):
        load(tmp_path / "e.npy")
    (tmp_path / "e.csv").write_text("a,b\n")
    with pytest.raises(AekitError, match="empty"):
        load(tmp_path / "e.csv")
    with pytest.raises(AekitError, match="NaN/Inf"):
        ArrayDataset(torch.tensor([[0.0, float("nan")]]))


def test_array_dataset_subset_and_describe():
    ds = ArrayDataset(np.arange(24, dtype=np.float32).reshape(6, 1, 2, 2) / 24, np.arange(6) % 3, name="toy",
                      classes=["a", "b", "c"], scale="01")
    sub = ds.subset(np.array([5, 0]))
    assert sub.item_shape == (1, 2, 2) and sub.y.tolist() == [2, 0] and sub.classes == ["a", "b", "c"]
    d = json.loads(json.dumps(ds.describe()))
    assert d["n"] == 6 and d["item_shape"] == [1, 2, 2] and d["n_classes"] == 3 and d["scale"] == "01"
    with pytest.raises(AekitError, match="labels in \\[0, 2\\] but 2 classes"):
        ArrayDataset(ds.x, ds.y, classes=["a", "b"])


# ---- registry ----------------------------------------------------------------------------------------------


def test_registry_names_errors_and_options(tmp_path):
    names = dataset_names()
    assert list(names) == ["mnist", "fashion-mnist", "cifar10", "digits", "lines", "20newsgroups"]
    assert all(isinstance(v, str) and v for v in names.values())
    with pytest.raises(AekitError, match="mnist, fashion-mnist, cifar10, digits, lines") as e:
        load("imagenet")
    assert "path" in str(e.value)
    with pytest.raises(AekitError, match="'train' or 'test'"):
        load("digits", split="valid")
    with pytest.raises(AekitError, match="'01'"):
        load("digits", scale="0-255")
    with pytest.raises(AekitError, match="does not take option"):
        load("digits", flip=True)


def test_digits_split_limit_and_pad():
    train, test = load("digits"), load("digits", split="test")
    assert (len(train), len(test)) == (1437, 360) and train.item_shape == (1, 8, 8)
    assert float(train.x.max()) == 1.0 and float(train.x.min()) == 0.0
    assert np.bincount(test.y.numpy()).min() >= 35  # stratified: every digit ~36 times
    a, b = load("digits", limit=100, seed=3), load("digits", limit=100, seed=3)
    assert len(a) == 100 and torch.equal(a.x, b.x) and not torch.equal(a.x, load("digits", limit=100, seed=4).x)
    padded = load("digits", scale="pm1", pad=12)
    assert padded.item_shape == (1, 12, 12) and torch.equal(padded.x[:, :, 2:10, 2:10], load("digits", scale="pm1").x)
    assert float(padded.x[:, :, :2].max()) == -1.0  # border is the background value of the scale


# ---- transforms --------------------------------------------------------------------------------------------


def test_pad_to_keeps_content_centred():
    x = torch.rand(3, 2, 28, 28) + 1
    y = pad_to(x, 32, value=-1.0)
    assert y.shape == (3, 2, 32, 32) and torch.equal(y[..., 2:30, 2:30], x)
    assert (y == -1).sum() == 3 * 2 * (32 * 32 - 28 * 28)
    odd = pad_to(torch.ones(1, 1, 29, 29), 32)
    assert odd[0, 0, 1:30, 1:30].min() == 1 and odd[0, 0, 0].max() == 0 and odd[0, 0, 30:].max() == 0
    with pytest.raises(AekitError, match="smaller"):
        pad_to(x, 16)


# ---- lines -------------------------------------------------------------------------------------------------


def _reference_line(angle: float, size: int = 32, width: float = 2.0) -> np.ndarray:
    """Scalar re-statement of brain-research/acai lib/data.py draw_line (the protocol's definition)."""
    img = np.zeros((size, size))
    c = size * 0.5
    col0, col1 = c, c + (c - 1) * math.cos(-angle)
    row0, row1 = c, c + (c - 1) * math.sin(-angle)
    a0, a1, b0, b1 = col0, col1, row0, row1  # step along b (rows) unless the line is more horizontal
    swapped = abs(b0 - b1) < abs(a0 - a1)
    if swapped:
        a0, a1, b0, b1 = b0, b1, a0, a1
    if b1 < b0:
        a0, a1, b0, b1 = a1, a0, b1, b0
    a0, a1 = a0 - width / 2, a1 - width / 2
    slope = (a1 - a0) / (b1 - b0) if b1 != b0 else 0
    first, last = int(math.ceil(b0)), int(b1)
    for b in range(int(b0), int(math.ceil(b1))):
        w = first - b0 if b < first else (b1 - last if b > last else 1)
        lo = a0 + (b - b0 - 0.5) * slope
        hi = lo + width
        i0, i1 = int(math.ceil(lo)), int(hi)
        hits = [(slice(i0, i1), w)] if i0 != i1 else []
        hits += [(int(lo), w * (i0 - lo))] if i0 != lo else []
        hits += [(i1, w * (hi - i1))] if i1 != hi else []
        for a, v in hits:
            if swapped:
                img[a, b] += 2 * v
            else:
                img[b, a] += 2 * v
    return np.clip(img - 1, -1, 1)


def test_lines_match_the_reference_renderer_exactly():
    angles = np.concatenate([np.random.default_rng(7).uniform(0, 2 * np.pi, 300), np.arange(16) * np.pi / 8])
    fast = render_lines(angles)
    assert fast.shape == (len(angles), 1, 32, 32) and fast.dtype == torch.float32
    ref = np.stack([_reference_line(a) for a in angles])
    np.testing.assert_allclose(fast[:, 0].numpy(), ref, atol=1e-6)
    assert fast.min() == -1 and fast.max() == 1


def test_line_at_angle_zero_points_right_from_the_centre():
    img = render_lines([0.0])[0, 0].numpy()
    ray, opposite = img[15:17, 17:31], img[15:17, 1:15]
    assert ray.min() > 0.99 and opposite.max() == -1
    assert (img > -1).sum() == (img[14:18, 15:32] > -1).sum()  # all ink is on the right-hand ray
    up = render_lines([np.pi / 2])[0, 0].numpy()
    assert up[1:15, 15:17].min() > 0.99 and up[17:, :].max() == -1  # angles grow counter-clockwise


def test_lines_rotate_with_the_angle():
    """rot90 (counter-clockwise) of the line at a equals the line at a + 90 degrees: exactly on the axes,
    approximately near them. The reference samples each step half a pixel off, which shifts steep
    diagonals by up to a pixel, so elsewhere only the direction is checked (line centroid within 6 deg)."""
    axes = render_lines(np.arange(4) * np.pi / 2)[:, 0].numpy()
    for k in range(4):
        np.testing.assert_array_equal(np.rot90(axes[k]), axes[(k + 1) % 4])
    near = np.concatenate([q * np.pi / 2 + np.linspace(-0.17, 0.17, 9) for q in range(4)])
    a, b = render_lines(near)[:, 0].numpy() + 1, render_lines(near + np.pi / 2)[:, 0].numpy() + 1
    r = np.rot90(a, axes=(1, 2))
    cosine = (r * b).sum((1, 2)) / np.sqrt((r * r).sum((1, 2)) * (b * b).sum((1, 2)))
    assert cosine.min() > 0.9
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, 500)
    ink = render_lines(theta)[:, 0].numpy() + 1
    rows, cols = np.mgrid[0:32, 0:32] + 0.5
    mass = ink.sum((1, 2))
    est = np.arctan2(16 - (ink * rows).sum((1, 2)) / mass, (ink * cols).sum((1, 2)) / mass - 16)
    err = np.abs((est - theta + np.pi) % (2 * np.pi) - np.pi)
    assert np.degrees(err).max() < 6


def test_lines_datasets_and_streams_are_seeded():
    a, b, c = lines(50, seed=1), lines(50, seed=1), lines(50, seed=2)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert not torch.equal(a.x, lines(50, seed=1, split="test").x)
    assert a.y.min() >= 0 and a.y.max() <= 9 and a.classes[0] == "0-36deg"
    assert angle_labels([0.0, np.pi, 2 * np.pi - 1e-9]).tolist() == [0, 5, 9]
    ds = load("lines", limit=64, seed=1, scale="pm1")
    assert torch.equal(ds.x, lines(64, seed=1).x) and len(load("lines", split="test", limit=10)) == 10
    assert float(load("lines", limit=8).x.min()) == 0.0  # default scale "01" maps background -1 to 0
    s = LinesStream()
    assert s.item_shape == (1, 32, 32)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = s.next_batch(16, g1), s.next_batch(16, g2)
    assert torch.equal(a.x, b.x) and torch.equal(a["y"], b["y"])
    assert not torch.equal(s.next_batch(16, g1).x, s.next_batch(16, torch.Generator().manual_seed(6)).x)
    it1, it2 = iter_lines(8, seed=3), iter_lines(8, seed=3)
    for _ in range(3):
        (x1, y1), (x2, y2) = next(it1), next(it2)
        assert x1.shape == (8, 1, 32, 32) and torch.equal(x1, x2) and torch.equal(y1, y2)


# ---- corruptions -------------------------------------------------------------------------------------------


def test_masking_zeroes_the_requested_fraction_per_example():
    x = torch.ones(64, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    y = masking(x, 0.3, g)
    zeros = (y == 0).reshape(64, -1).sum(1)
    assert torch.all(zeros == round(0.3 * 784))
    assert not torch.equal(y[0], y[1]) and torch.equal(x, torch.ones_like(x))  # per example, not in place
    assert torch.equal(corrupt(x, "masking", 0.0), x)


def test_gaussian_has_the_requested_std_and_corrupt_clips():
    g = torch.Generator().manual_seed(0)
    noise = gaussian(torch.zeros(400, 500), 0.2, g)
    assert abs(float(noise.std()) - 0.2) < 0.003 and abs(float(noise.mean())) < 0.003
    clipped = corrupt(torch.full((100, 100), 0.5), "gaussian", 1.0, generator=g)
    assert clipped.min() >= 0 and clipped.max() <= 1
    pm1 = corrupt(torch.zeros(10, 100), "gaussian", 3.0, generator=g, value_range=(-1, 1))
    assert pm1.min() == -1 and pm1.max() == 1


def test_salt_and_pepper_fraction_and_values():
    g = torch.Generator().manual_seed(1)
    x = torch.full((50, 1000), 0.5)
    y = salt_and_pepper(x, 0.2, 0.0, 1.0, g)
    changed = y != 0.5
    assert torch.all(changed.sum(1) == 200)
    salt = float((y == 1).sum()) / float(changed.sum())
    assert abs(salt - 0.5) < 0.03 and set(torch.unique(y).tolist()) == {0.0, 0.5, 1.0}
    z = corrupt(x, "salt-and-pepper", 0.1, generator=g, value_range=(-1, 1))
    assert set(torch.unique(z).tolist()) == {-1.0, 0.5, 1.0}


def test_corruption_errors_and_reproducibility():
    x = torch.rand(4, 10)
    with pytest.raises(AekitError, match="none, gaussian, masking, salt_and_pepper"):
        corrupt(x, "blur", 0.1)
    with pytest.raises(AekitError, match="\\[0, 1\\]"):
        corrupt(x, "masking", 1.5)
    with pytest.raises(AekitError, match="sigma"):
        corrupt(x, "gaussian", -1)
    for kind in ("gaussian", "masking", "salt_and_pepper"):
        a = corrupt(x, kind, 0.3, generator=torch.Generator().manual_seed(9))
        b = corrupt(x, kind, 0.3, generator=torch.Generator().manual_seed(9))
        assert torch.equal(a, b) and not torch.equal(a, x)


# ---- downloads ---------------------------------------------------------------------------------------------


class _Server:
    """A static HTTP server on 127.0.0.1 (a free port) serving ``folder``; counts the requests it answers."""

    def __init__(self, folder: Path):
        counter = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                counter.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_from_a_mirror_verifies_and_loads(tmp_path, shared_data):
    source = shared_data / "mnist"
    if not (source / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"no mnist files in {source}")
    logs: list[str] = []
    with _Server(source) as server:
        files = download("mnist", data_dir=tmp_path / "data", base_url=server.url, log=logs.append)
        assert [f.name for f in files] == [
            "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
        ]
        for f in files:
            assert hashlib.sha256(f.read_bytes()).digest() == hashlib.sha256((source / f.name).read_bytes()).digest()
        served = len(server.requests)
        download("mnist", data_dir=tmp_path / "data", base_url=server.url, log=logs.append)
        assert len(server.requests) == served  # present files with the right checksum are not fetched again
    assert any("already present" in line for line in logs)
    test = load("mnist", split="test", data_dir=tmp_path / "data")
    assert len(test) == 10000 and np.bincount(test.y.numpy()).tolist() == MNIST_TEST_COUNTS


def test_corrupted_download_is_refused_and_leaves_nothing(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (served / name).write_bytes(gzip.compress(b"\0\0\x08\x01" + b"\0" * 100))
    dest = tmp_path / "data" / "mnist"
    with _Server(served) as server:
        with pytest.raises(AekitError, match="checksum mismatch") as e:
            download("mnist", data_dir=tmp_path / "data", base_url=server.url)
        assert "nothing was saved" in str(e.value)
        assert not dest.exists()  # no file under the real name, no temporary, not even the folder it made
        with pytest.raises(AekitError, match="could not download"):
            download("fashion-mnist", data_dir=tmp_path / "data", base_url=server.url + "missing/")
    assert not (tmp_path / "data" / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()


def test_download_of_an_archive_extracts_only_expected_members(tmp_path, monkeypatch):
    from aekit.data import catalog

    served = tmp_path / "served"
    served.mkdir()
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        members = {"cifar-10-batches-py/" + n: pickle.dumps(_cifar_batch(3, i), protocol=2)
                   for i, n in enumerate(["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"])}
        members["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": list(CIFAR10_CLASSES)}, protocol=2)
        members["../escaped"] = b"path traversal attempt"
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    fake = catalog.Remote("cifar10", "unused", (catalog.RemoteFile(archive.name, md5=hashlib.md5(archive.read_bytes()).hexdigest()),),
                          catalog.REMOTES["cifar10"].members)
    monkeypatch.setitem(catalog.REMOTES, "cifar10", fake)
    with _Server(served) as server:
        files = download("cifar10", data_dir=tmp_path / "data", base_url=server.url)
        assert sorted(p.name for p in (tmp_path / "data" / "cifar10").iterdir()) == sorted([f.name for f in files] + ["SHA256SUMS"])
        assert not (tmp_path / "data" / "escaped").exists() and not (tmp_path / "escaped").exists()
        n = len(server.requests)
        download("cifar10", data_dir=tmp_path / "data", base_url=server.url)
        assert len(server.requests) == n
    assert len(load("cifar10", data_dir=tmp_path / "data")) == 15


def test_download_needs_no_download_and_unknown_names():
    said: list[str] = []
    assert download("digits", log=said.append) == [] and download("lines", log=said.append) == []
    assert all("needs no download" in s for s in said)
    with pytest.raises(AekitError, match="mnist, fashion-mnist, cifar10"):
        download("imagenet")


# ---- real data (skipped when the shared datasets are absent) -----------------------------------------------


@pytest.mark.slow
def test_real_mnist_and_fashion(shared_data):
    train = load("mnist", data_dir=shared_data)
    assert train.x.shape == (60000, 1, 28, 28) and float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert np.bincount(train.y.numpy()).tolist() == MNIST_TRAIN_COUNTS
    fashion = load("fashion-mnist", split="test", data_dir=shared_data)
    assert np.bincount(fashion.y.numpy()).tolist() == [1000] * 10 and fashion.classes[9] == "Ankle boot"


def test_real_cifar10_meta_is_read_by_the_safe_unpickler(shared_data):
    meta = shared_data / "cifar10" / "batches.meta"
    if not meta.is_file():
        pytest.skip(f"{meta} not found")
    assert read_cifar_meta(meta) == list(CIFAR10_CLASSES)  # a real Python 2 pickle


@pytest.mark.slow
def test_real_cifar10_png_tar(shared_data, tmp_path):
    """The slowest test (decodes 30000 PNGs once, then reads the decoded cache)."""
    tar = shared_data / "cifar10-images" / "cifar10-images.tar"
    if not tar.is_file():
        pytest.skip(f"{tar} not found")
    root = tmp_path / "root"
    (root / "cifar10-images").mkdir(parents=True)
    os.symlink(tar, root / "cifar10-images" / "cifar10-images.tar")  # no python batches here: PNGs are used
    train = load("cifar10", data_dir=root)
    test = load("cifar10", split="test", data_dir=root, scale="raw")
    assert train.x.shape == (20000, 3, 32, 32) and test.x.shape == (10000, 3, 32, 32)
    assert np.bincount(train.y.numpy()).tolist() == [2000] * 10
    assert np.bincount(test.y.numpy()).tolist() == [1000] * 10
    mean = test.x.mean(dim=(0, 2, 3)).numpy() / 255  # MANIFEST: test mean (0.4942, 0.4851, 0.4504)
    np.testing.assert_allclose(mean, [0.4942, 0.4851, 0.4504], atol=6e-5)


def test_shared_data_layout_is_accepted_as_data_dir(shared_data):
    ds = load("mnist", split="test", data_dir=shared_data, limit=500, seed=1, pad=32, scale="pm1")
    assert ds.x.shape == (500, 1, 32, 32) and float(ds.x[:, :, :2].max()) == -1.0
    assert ds.describe()["limit"] == 500 and ds.describe()["pad"] == 32


def test_download_failure_names_the_flag_that_fixes_it(tmp_path):
    """Offline, the message names the CLI flag (--base-url), not only the Python argument."""
    with pytest.raises(AekitError, match="could not download.*--base-url"):
        download("mnist", data_dir=tmp_path / "data", base_url="http://127.0.0.1:9/", timeout=5)
