"""Search by code: FAISS answers equal brute force, indexes reload to the same answers, the CLI round trip
and its bad inputs (one line, exit 2)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aekit.apps.search import CodeIndex, binarize, median_thresholds
from aekit.errors import AekitError
from test_cli import assert_user_error, cli

faiss = pytest.importorskip("faiss")


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """FAISS's OpenMP threads on a busy 2-core machine wait on each other (HNSW builds 5x slower)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def clustered(n: int, dim: int, seed: int, centres: int = 12) -> np.ndarray:
    """Codes in clusters, as codes of real data are (approximate indexes are tuned for structure)."""
    rng = np.random.default_rng(seed)
    c = np.random.default_rng(99).normal(size=(centres, dim)) * 3
    return (c[rng.integers(0, centres, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def brute_force(x: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """(Q, N) distances, smaller nearer, as CodeIndex defines them, in float64 numpy."""
    x, q = x.astype(np.float64), q.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((q[:, None] - x[None]) ** 2).sum(-1))
    if metric == "ip":
        return -(q @ x.T)
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        return 1.0 - qn @ xn.T
    return (q[:, None] != x[None]).sum(-1)  # hamming on 0/1 values


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_exact_float_search_equals_brute_force(metric):
    x, q = np.random.default_rng(0).normal(size=(500, 12)), np.random.default_rng(1).normal(size=(30, 12))
    ids = np.arange(500) * 3 + 7  # item ids are not positions
    dist, found = CodeIndex.build(x, metric, ids=ids, kind="exact").search(q, 10)
    truth = brute_force(x, q, metric)
    order = np.argsort(truth, axis=1)[:, :10]  # random floats: no ties
    np.testing.assert_array_equal(found, ids[order])
    np.testing.assert_allclose(dist, np.take_along_axis(truth, order, 1), atol=1e-5)
    assert (np.diff(dist, axis=1) >= 0).all()  # nearest first


@pytest.mark.parametrize("bits", [16, 13])  # 13: not a multiple of 8, padded with zero bits
def test_hamming_search_equals_bit_counts(bits):
    rng = np.random.default_rng(2)
    x, q = rng.integers(0, 2, (600, bits)), rng.integers(0, 2, (25, bits))
    dist, found = CodeIndex.build(x, "hamming", kind="exact").search(q, 8)
    # the distance FAISS reports is the popcount of the XOR of the packed codes
    xor = np.packbits(q[:, None].astype(np.uint8) ^ x[found].astype(np.uint8), axis=-1)  # (Q, k, bytes)
    np.testing.assert_array_equal(dist, np.unpackbits(xor, axis=-1).sum(-1))
    truth = brute_force(x, q, "hamming")
    # ties are common at small Hamming distances: the k smallest distances must match, and every
    # returned item must be at the distance reported
    np.testing.assert_array_equal(dist, np.sort(truth, axis=1)[:, :8])
    np.testing.assert_array_equal(np.take_along_axis(truth, found, 1), dist)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2", "hamming"])
@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_have_high_recall(metric, kind):
    x, q = clustered(2000, 16, 3), clustered(40, 16, 4)
    if metric == "hamming":
        x, q = (x > 0).astype(np.uint8), (q > 0).astype(np.uint8)
    index = CodeIndex.build(x, metric, kind=kind)
    assert index.kind == kind
    dist, found = index.search(q, 10)
    truth = brute_force(x, q, metric)
    if metric == "hamming":  # ties: count an item as found when it is within the true 10th distance
        tenth = np.sort(truth, axis=1)[:, 9:10]
        assert (np.take_along_axis(truth, found, 1) <= tenth).mean() > 0.9
    else:
        assert recall(found, np.argsort(truth, axis=1)[:, :10]) > 0.9
    # whatever an approximate index finds, it reports that item's exact distance
    np.testing.assert_allclose(dist, np.take_along_axis(truth, found, 1), atol=1e-4)


def test_auto_is_exact_below_the_threshold():
    assert CodeIndex.build(np.eye(5), "l2").kind == "exact"


@pytest.mark.parametrize("metric,kind", [("cosine", "exact"), ("l2", "hnsw"), ("ip", "ivf"),
                                         ("hamming", "exact"), ("hamming", "hnsw")])
def test_saved_index_reloads_to_the_same_answers(tmp_path, metric, kind):
    x, q = clustered(1200, 10, 5), clustered(20, 10, 6)
    thresholds = "median" if metric == "hamming" else None
    index = CodeIndex.build(x, metric, ids=np.arange(1200) + 100, kind=kind, thresholds=thresholds,
                            meta={"run": "somewhere"})
    before = index.search(q, 7)
    index.save(tmp_path / "idx")
    loaded = CodeIndex.load(tmp_path / "idx")
    after = loaded.search(q, 7)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    assert (len(loaded), loaded.metric, loaded.kind, loaded.meta) == (1200, metric, kind, {"run": "somewhere"})


def test_median_thresholds_binarise_queries_like_the_index():
    x = clustered(400, 9, 7)
    t = median_thresholds(x)
    bits = binarize(x, t)
    assert abs(bits.mean(axis=0) - 0.5).max() < 0.01  # the median splits each unit in halves
    index = CodeIndex.build(x, "hamming", thresholds="median")
    dist, found = index.search(x[:5], 1)  # an item's own code is at Hamming distance 0
    assert (dist[:, 0] == 0).all()
    np.testing.assert_array_equal(binarize(x[found[:, 0]], t), bits[:5])


def test_index_refuses_bad_input(tmp_path):
    index = CodeIndex.build(np.eye(4), "l2")
    with pytest.raises(AekitError, match="holds 4 items"):
        index.search(np.eye(4), 5)
    with pytest.raises(AekitError, match="code units"):
        index.search(np.ones((1, 3)), 1)
    with pytest.raises(AekitError, match="0/1"):
        CodeIndex.build(np.random.default_rng(0).normal(size=(5, 3)), "hamming")
    with pytest.raises(AekitError, match="metric"):
        CodeIndex.build(np.eye(4), "manhattan")
    (tmp_path / "junk").mkdir()
    with pytest.raises(AekitError, match="not an aekit index"):
        CodeIndex.load(tmp_path / "junk")
    index.save(tmp_path / "idx")
    (tmp_path / "idx" / "index.faiss").write_bytes(b"damaged")
    with pytest.raises(AekitError, match="rebuild"):
        CodeIndex.load(tmp_path / "idx")


def whitened(x: np.ndarray, q: np.ndarray, dims: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """PCA whitening in closed form (float64 numpy): top ``dims`` axes, each divided by sqrt(eigenvalue + eps *
    largest)."""
    mean = x.mean(0)
    centred = (x - mean).astype(np.float64)
    values, axes = np.linalg.eigh(centred.T @ centred / len(x))
    values, axes = values[::-1][:dims], axes[:, ::-1][:, :dims]
    project = axes / np.sqrt(values + eps * values[0])
    return centred @ project, (q - mean) @ project


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_whitened_search_equals_brute_force_on_whitened_codes(metric):
    rng = np.random.default_rng(11)
    mixing = rng.normal(size=(16, 16)) * np.geomspace(10, 0.1, 16)  # a few directions dominate the variance
    x = (rng.normal(size=(600, 16)) @ mixing + 5).astype(np.float32)
    q = (rng.normal(size=(30, 16)) @ mixing + 5).astype(np.float32)
    index = CodeIndex.build(x, metric, kind="exact", whiten=8, whiten_eps=1e-2)
    _, found = index.search(q, 5)
    wx, wq = whitened(x, q, 8, 1e-2)
    truth = np.argsort(brute_force(wx, wq, metric), axis=1)[:, :5]
    assert recall(found, truth) > 0.99  # float32 vs float64 may swap near-ties only
    plain = CodeIndex.build(x, metric, kind="exact").search(q, 5)[1]
    assert recall(plain, truth) < 0.8  # whitening changes which codes are nearest: the test can fail


def test_whitened_index_reloads_and_refuses_bad_input(tmp_path):
    x, q = clustered(500, 12, 3), clustered(10, 12, 4)
    index = CodeIndex.build(x, "cosine", whiten=6)
    before = index.search(q, 4)
    index.save(tmp_path / "idx")
    after = CodeIndex.load(tmp_path / "idx").search(q, 4)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    (tmp_path / "idx" / "whiten.faiss").write_bytes(b"damaged")
    with pytest.raises(AekitError, match="whiten.faiss"):
        CodeIndex.load(tmp_path / "idx")
    CodeIndex.build(x, "cosine").save(tmp_path / "idx")  # rebuilt in place without whitening
    assert not (tmp_path / "idx" / "whiten.faiss").exists() and CodeIndex.load(tmp_path / "idx").whitener is None
    with pytest.raises(AekitError, match="principal axes from 1 to the code's 12"):
        CodeIndex.build(x, "cosine", whiten=13)
    with pytest.raises(AekitError, match="float codes"):
        CodeIndex.build(x, "hamming", thresholds="median", whiten=4)
    with pytest.raises(AekitError, match="whiten_eps"):
        CodeIndex.build(x, "l2", whiten=4, whiten_eps=-1.0)
    flat = np.zeros((50, 12), dtype=np.float32)
    flat[:, 0] = np.arange(50)  # one direction of variance only
    with pytest.raises(AekitError, match="fewer than 3 directions"):
        CodeIndex.build(flat, "l2", whiten=3, whiten_eps=0.0)


def test_search_leaves_the_callers_codes_alone():
    x = np.random.default_rng(8).normal(size=(50, 6)).astype(np.float32)
    kept = x.copy()
    index = CodeIndex.build(x, "cosine")
    first = index.search(x, 3)
    np.testing.assert_array_equal(x, kept)
    second = index.search(x, 3)  # the same query twice: the same answer
    np.testing.assert_array_equal(first[0], second[0])


# ---- the CLI: aekit index / aekit search ------------------------------------------------------------------
TINY_RUN = ["--latent-dim", "6", "--set", "hidden=[24]", "--epochs", "3", "--quiet", "--seed", "0"]


@pytest.fixture(scope="module")
def digits_index(tmp_path_factory):
    """A tiny ae trained on the bundled digits, with its index inside the run (RUN/index)."""
    from aekit.cli import main

    root = tmp_path_factory.mktemp("search")
    run = root / "run"
    assert main(["train", "ae", "--data", "digits", "--out", str(run), *TINY_RUN]) == 0
    assert main(["index", str(run), "--out", str(run / "index")]) == 0
    return run


def search_json(capsys, *argv) -> dict:
    rc, out, err = cli(capsys, "search", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def test_cli_search_by_id_finds_the_item_itself_first(capsys, digits_index):
    import aekit
    from aekit import data

    found = search_json(capsys, digits_index / "index", "17", "-k", "5")["results"]
    assert found[0]["id"] == 17 and abs(found[0]["distance"]) < 1e-5
    # the CLI's answer is brute-force cosine over aekit.encode of the split `index` defaults to (test, as
    # every command's --split does)
    test = data.load("digits", split="test")
    z = aekit.inference.encode(aekit.load(digits_index), test.x).numpy()
    truth = brute_force(z, z[17:18], "cosine")[0]
    np.testing.assert_allclose([r["distance"] for r in found], np.sort(truth)[:5], atol=1e-5)
    assert [r["class"] for r in found] == [test.classes[int(test.y[r["id"]])] for r in found]


def test_cli_index_moves_with_its_run(capsys, digits_index, tmp_path):
    import shutil

    moved = tmp_path / "elsewhere"
    shutil.copytree(digits_index, moved)
    before = search_json(capsys, digits_index / "index", "3", "-k", "4")
    assert search_json(capsys, moved / "index", "3", "-k", "4") == before


def test_cli_hamming_over_float_codes(capsys, digits_index, tmp_path):
    rc, out, err = cli(capsys, "index", digits_index, "--out", tmp_path / "bits", "--metric", "hamming")
    assert rc == 0 and "median" in out, err
    found = search_json(capsys, tmp_path / "bits", "40", "-k", "3")["results"]
    assert found[0]["distance"] == 0  # the item's own bits (ties at 0 may put another item first)


def test_cli_whitened_index(capsys, digits_index, tmp_path):
    rc, out, err = cli(capsys, "index", digits_index, "--out", tmp_path / "white", "--whiten", "4")
    assert rc == 0 and "whitened onto 4" in out, err
    found = search_json(capsys, tmp_path / "white", "40", "-k", "3")["results"]
    assert found[0]["id"] == 40 and abs(found[0]["distance"]) < 1e-5  # an item is nearest itself
    rc, _, err = cli(capsys, "index", digits_index, "--out", tmp_path / "bad", "--whiten", "0")
    assert_user_error(rc, err, "whiten")
    assert not (tmp_path / "bad" / "index.json").exists()


def test_cli_search_picture(capsys, digits_index, tmp_path):
    from PIL import Image

    rc, _, err = cli(capsys, "search", digits_index / "index", "2", "-k", "4", "--out", tmp_path / "q.png")
    assert rc == 0, err
    width, height = Image.open(tmp_path / "q.png").size
    assert width > 4 * height  # one row: the query and its 4 nearest


def test_cli_text_query(capsys, tmp_path):
    """A run trained on a text folder: typed-in words and a .txt file are counted with its vectoriser."""
    topics = {"space": "rocket orbit planet launch moon star", "food": "bread cheese pasta cook kitchen dinner"}
    for topic, words in topics.items():
        (tmp_path / "corpus" / topic).mkdir(parents=True)
        for i in range(8):
            (tmp_path / "corpus" / topic / f"{i}.txt").write_text(f"{words} {words.split()[i % 6]}")
    run = tmp_path / "run"
    assert cli(capsys, "train", "ae", "--data", tmp_path / "corpus", "--out", run, *TINY_RUN)[0] == 0
    # the training split: the test split of 16 documents holds 2 of each topic, too few for k=3 of one topic
    assert cli(capsys, "index", run, "--out", run / "index", "--split", "train")[0] == 0
    found = search_json(capsys, run / "index", "planet launch rocket", "-k", "3")["results"]
    assert {r["class"] for r in found} == {"space"}
    (tmp_path / "q.txt").write_text("cheese and pasta for dinner")
    found = search_json(capsys, run / "index", tmp_path / "q.txt", "-k", "3")["results"]
    assert {r["class"] for r in found} == {"food"}
    rc, _, err = cli(capsys, "search", run / "index", "zebra")
    assert_user_error(rc, err, "none of the words")


def test_cli_bad_input_is_one_line(capsys, digits_index, tmp_path):
    from PIL import Image

    index = digits_index / "index"
    rc, _, err = cli(capsys, "search", index, "  ")
    assert_user_error(rc, err, "empty")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "big.png")
    rc, _, err = cli(capsys, "search", index, tmp_path / "big.png")
    assert_user_error(rc, err, "10x10", "8x8")
    rc, _, err = cli(capsys, "search", index, "3", "-k", "5000")
    assert_user_error(rc, err, "holds 360 items")  # the digits' test split, which index takes by default
    rc, _, err = cli(capsys, "search", tmp_path, "3")
    assert_user_error(rc, err, "not an aekit index")
    rc, _, err = cli(capsys, "search", digits_index, "3")
    assert_user_error(rc, err, "run directory, not an index")
    rc, _, err = cli(capsys, "index", digits_index, "--out", digits_index)
    assert_user_error(rc, err, "holds other files")


def test_cli_refuses_an_index_of_other_weights(capsys, digits_index, tmp_path):
    import shutil

    other = tmp_path / "other"
    assert cli(capsys, "train", "ae", "--data", "digits", "--out", other, *TINY_RUN[:-1], "1")[0] == 0
    rc, _, err = cli(capsys, "search", digits_index / "index", "3", "--run", other)
    assert_user_error(rc, err, "another model")
    retrained = tmp_path / "retrained"  # the run retrained in place: same folder, new weights
    shutil.copytree(digits_index, retrained)
    shutil.copy(other / "model.safetensors", retrained / "model.safetensors")
    rc, _, err = cli(capsys, "search", retrained / "index", "3")
    assert_user_error(rc, err, "another model", "rebuild")
