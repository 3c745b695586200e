"""Text: bag-of-words vectoriser, text corpora in ``aekit.data.load``, the softmax loss, ``text_ae``, and
retrieval precision (precision at k and at recall levels) on hand-made rankings."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

import aekit
from aekit.data import load
from aekit.data.text import TextVectorizer, strip_header, vectorizer_from_run_config
from aekit.errors import AekitError
from aekit.eval.retrieval import precision_at_k, precision_at_recall, relevance, retrieval_curves
from aekit.losses import reconstruction
from aekit.registry import build
from aekit.data.batch import Batch

TOPICS = {  # in alphabetical order, so that a topic's index is its class index once loaded from folders
    "crypto": "key cipher encryption secret clipper privacy algorithm escrow nsa code".split(),
    "hockey": "puck goal skate ice team season playoff goalie coach stanley".split(),
    "space": "orbit rocket launch moon planet shuttle astronaut nasa satellite telescope".split(),
}


def toy_docs(n_per_topic: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Documents of 8-20 words drawn from one topic's words, plus a few shared filler words."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for label, words in enumerate(TOPICS.values()):
        for _ in range(n_per_topic):
            n = int(rng.integers(8, 21))
            chosen = list(rng.choice(words, size=n)) + list(rng.choice(["really", "think", "people"], size=2))
            docs.append(" ".join(chosen))
            labels.append(label)
    return docs, labels


def write_corpus(root, docs, labels, split: str | None = None):
    names = list(TOPICS)
    for i, (doc, label) in enumerate(zip(docs, labels)):
        folder = root / (split or "") / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.txt").write_text(doc, encoding="utf-8")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


# ---- the vectoriser ---------------------------------------------------------------------------------------


def test_vocabulary_is_top_document_frequency_without_stop_words():
    docs = ["apple apple apple apple banana", "banana cherry the", "banana cherry and", "durian 1993 x"]
    vec = TextVectorizer(max_words=2).fit(docs)
    # document frequency: banana 3, cherry 2, apple 1 (though it occurs 4 times); "the"/"and" are stop words,
    # "1993" is a number and "x" a single letter
    assert vec.vocabulary == ["banana", "cherry"]
    assert vec.transform(["banana banana apple"]).tolist() == [[2.0, 0.0]]
    assert TextVectorizer(max_words=10).fit(docs).vocabulary == ["apple", "banana", "cherry", "durian"]


def test_vectorizer_round_trips_through_json_to_the_same_matrix():
    docs, _ = toy_docs(10)
    vec = TextVectorizer(max_words=20, strip_headers=True).fit(docs)
    again = TextVectorizer.from_dict(json.loads(json.dumps(vec.to_dict())))
    queries = docs[:7] + ["From: a@b.c\nSubject: moon orbit\n\nrocket rocket puck", "nothing known here"]
    assert again.vocabulary == vec.vocabulary
    np.testing.assert_array_equal(again.transform(queries), vec.transform(queries))
    assert vec.transform(queries).dtype == np.float32 and vec.transform(queries).shape == (9, 20)
    np.testing.assert_allclose(again.tfidf(vec.transform(queries)).toarray(), vec.tfidf(vec.transform(queries)).toarray())
    # fit_transform (one tokenising pass) equals fit then transform
    np.testing.assert_array_equal(TextVectorizer(max_words=20).fit_transform(docs),
                                  TextVectorizer(max_words=20).fit(docs).transform(docs))
    with pytest.raises(AekitError, match="not a saved text vectoriser"):
        TextVectorizer.from_dict({"vocabulary": "abc"})


def test_tfidf_uses_training_idf_and_unit_rows():
    from sklearn.feature_extraction.text import TfidfTransformer

    docs, _ = toy_docs(5)
    vec = TextVectorizer(max_words=15).fit(docs)
    counts = vec.transform(docs)
    expected = TfidfTransformer().fit_transform(counts).toarray()  # fitted on the same documents
    np.testing.assert_allclose(vec.tfidf(counts).toarray(), expected, rtol=1e-6, atol=1e-9)
    rows = np.linalg.norm(vec.tfidf(counts[:3]).toarray(), axis=1)
    np.testing.assert_allclose(rows, 1.0, rtol=1e-6)


def test_header_block_is_stripped_but_subject_kept():
    message = "From: someone@site.edu\nSubject: Re: orbit of the moon\nOrganization: Site\nLines: 2\n\nbody words\n"
    assert strip_header(message).split("\n")[:2] == ["Re: orbit of the moon", "body words"]
    assert strip_header("moon orbit: it is far\n\nmore") == "moon orbit: it is far\n\nmore"  # no header block
    assert strip_header("Note: read this\nit matters\n") == "Note: read this\nit matters\n"  # a body, not headers


# ---- corpora through aekit.data.load -----------------------------------------------------------------------


def test_class_folder_corpus_loads_with_labels_and_a_seeded_split(tmp_path):
    docs, labels = toy_docs(10)
    write_corpus(tmp_path / "corpus", docs, labels)
    train, test = load(tmp_path / "corpus"), load(tmp_path / "corpus", split="test")
    assert train.classes == list(TOPICS) and test.classes == list(TOPICS)
    assert len(train) + len(test) == 30 and np.bincount(test.y.numpy()).tolist() == [2, 2, 2]  # stratified, 20%
    assert train.scale == "raw" and train.x.ndim == 2  # counts are kept as counts (no pixel scale)
    # labels follow the documents: every document of class c uses only topic c's words (and fillers)
    vec = train.frontend
    for ds in (train, test):
        for row, label in zip(ds.x.numpy(), ds.y.tolist()):
            used = {vec.vocabulary[j] for j in np.flatnonzero(row)}
            assert used <= set(TOPICS[list(TOPICS)[label]]) | {"really", "think", "people"}
    assert torch.equal(load(tmp_path / "corpus", split="test").x, test.x)  # same seed, same split
    other = load(tmp_path / "corpus", split="test", seed=1)
    assert len(other) == len(test) and not torch.equal(other.x, test.x)
    with pytest.raises(AekitError, match=r"\[-1, 1\]"):
        load(tmp_path / "corpus", scale="pm1")


def test_test_split_is_counted_with_the_training_vocabulary(tmp_path):
    docs, labels = toy_docs(6)
    write_corpus(tmp_path / "c", docs[::2], labels[::2], split="train")
    test_docs = [d + " zebra zebra" for d in docs[1::2]]  # a word that never occurs in training
    write_corpus(tmp_path / "c", test_docs, labels[1::2], split="test")
    train, test = load(tmp_path / "c"), load(tmp_path / "c", split="test")
    assert train.frontend.vocabulary == test.frontend.vocabulary
    assert "zebra" not in train.frontend.vocabulary and train.item_shape == test.item_shape
    vec = train.frontend
    order = sorted(range(len(test_docs)), key=lambda i: (labels[1::2][i], i))  # files sorted by class, then name
    np.testing.assert_array_equal(test.x.numpy(), vec.transform([test_docs[i] for i in order]))
    assert test.y.tolist() == [labels[1::2][i] for i in order]


def test_non_utf8_files_are_decoded_with_one_warning(tmp_path):
    docs, labels = toy_docs(4)
    write_corpus(tmp_path / "c", docs, labels)
    (tmp_path / "c" / "space" / "latin1.txt").write_bytes("caf\xe9 orbit moon".encode("latin-1"))
    (tmp_path / "c" / "hockey" / "broken.txt").write_bytes(b"puck \xff\xfe goal")
    with pytest.warns(UnicodeWarning, match="2 of 14 files") as caught:
        train = load(tmp_path / "c")
    assert len([w for w in caught if issubclass(w.category, UnicodeWarning)]) == 1
    assert len(train) > 0


def test_image_folders_still_load_as_images(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        Image.fromarray(np.full((4, 4), 200, np.uint8)).save(tmp_path / "img" / c / "x.png")
    ds = load(tmp_path / "img")
    assert ds.x.shape == (2, 1, 4, 4) and ds.scale == "01" and "text" not in ds.extra


def test_train_text_ae_on_a_folder_through_the_cli(tmp_path, capsys):
    from aekit.cli import main

    docs, labels = toy_docs(8)
    write_corpus(tmp_path / "c", docs, labels)
    rc = main(["train", "text_ae", "--data", str(tmp_path / "c"), "--out", str(tmp_path / "run"), "--epochs", "1",
               "--set", "hidden=[8]", "--latent-dim", "2", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    run = aekit.load_run(tmp_path / "run")
    vec = run.frontend  # saved with the run as frontend.json + frontend.safetensors, not inside config.json
    assert (tmp_path / "run" / "frontend.safetensors").is_file() and "text" not in run.config["data"]
    assert run.config["data"]["scale"] == "raw" and run.model.input_shape == (len(vec.vocabulary),)
    np.testing.assert_array_equal(vec.transform(docs[:3])[0], load(tmp_path / "c").x.numpy()[0])
    np.testing.assert_array_equal(vec.idf_, load(tmp_path / "c").frontend.idf_)
    assert vectorizer_from_run_config({"data": {"name": "mnist"}}) is None


# ---- the softmax loss and the count models -----------------------------------------------------------------


def test_softmax_loss_is_the_multinomial_cross_entropy():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    counts = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 0.0]])
    p = torch.softmax(logits, dim=1)
    by_hand = (-(3 * math.log(0.25)) - 3 * math.log(float(p[1, 1]))) / 2  # per document, averaged
    assert float(reconstruction(logits, counts, "softmax")) == pytest.approx(by_hand, rel=1e-6)
    model = build("text_ae", input_shape=[4], hidden=[3], latent_dim=2)
    out = model(Batch(x=counts))
    torch.testing.assert_close(out.x_hat.sum(dim=1), torch.ones(2))  # a distribution over the vocabulary
    with pytest.raises(AekitError, match="softmax"):
        build("ae", input_shape=[4], loss="softmax", output="identity")


def test_bow_autoencoder_softmax_loss_decreases_on_a_toy_corpus():
    docs, labels = toy_docs(20)
    x = torch.from_numpy(TextVectorizer(max_words=40).fit_transform(docs))
    data = aekit.data.ArrayDataset(x, np.array(labels))
    model = build("text_ae", input_shape=[x.shape[1]], hidden=[16], latent_dim=2)
    with torch.no_grad():
        before = float(model(Batch(x=x)).losses["recon"])
    run = aekit.train(model, data, epochs=30, batch_size=20, lr=3e-3, progress=False, evaluate=False)
    run.model.eval()
    with torch.no_grad():
        after = float(run.model(Batch(x=x)).losses["recon"])
    uniform = float(x.sum(1).mean()) * math.log(x.shape[1])  # cost of predicting every word equally likely
    assert after < 0.8 * before and after < 0.8 * uniform, (before, after, uniform)


@pytest.mark.parametrize("transform", ["log1p", "frequency"])
def test_input_transform_reaches_every_path_to_the_code(transform):
    x = torch.poisson(torch.full((6, 12), 1.5))
    text = build("text_ae", input_shape=[12], hidden=[8], latent_dim=3, input_transform=transform).eval()
    binary = build("binary", input_shape=[12], hidden=[8], latent_dim=16, loss="softmax", input_transform=transform)
    binary.eval()  # in eval mode input_dropout (text_ae's default 0.5) drops nothing
    expected = torch.log1p(x) if transform == "log1p" else x / x.sum(1, keepdim=True).clamp_min(1)
    torch.testing.assert_close(text.encode(x), text.encoder.net(expected))
    torch.testing.assert_close(binary.encode(x), (binary.encoder.net(expected) > 0).float())
    assert set(binary.encode(x).unique().tolist()) <= {0.0, 1.0}
    plain = build("binary", input_shape=[12], hidden=[8], latent_dim=16)  # images: no transform, as before
    assert not hasattr(plain.encoder, "transform")
    with pytest.raises(AekitError, match="input_transform"):
        build("text_ae", input_shape=[12], input_transform="sqrt")


# ---- retrieval precision ------------------------------------------------------------------------------------

ITEMS = np.array([0, 0, 1, 1, 0])  # labels of the 5 indexed items
QUERIES = np.array([0, 1])
RANKED = np.array([[1, 2, 0, 3, 4],   # query 0: relevant, no, relevant, no, relevant  (R = 3)
                   [2, 0, 1, 3, 4]])  # query 1: relevant, no, no, relevant, no        (R = 2)


def test_precision_at_k_by_hand():
    rel = relevance(RANKED, ITEMS, QUERIES)
    assert rel.tolist() == [[True, False, True, False, True], [True, False, False, True, False]]
    p = precision_at_k(rel, ks=[1, 2, 3, 4, 5])
    np.testing.assert_allclose(p, [(1 + 1) / 2, (1 / 2 + 1 / 2) / 2, (2 / 3 + 1 / 3) / 2, (2 / 4 + 2 / 4) / 2,
                                   (3 / 5 + 2 / 5) / 2])


def test_precision_at_recall_by_hand():
    rel = relevance(RANKED, ITEMS, QUERIES)
    levels = [0.2, 0.5, 0.6, 1.0]
    # query 0 (R=3): r=0.2 -> 1st relevant at rank 1 -> 1; 0.5 -> 2nd at rank 3 -> 2/3; 0.6 -> 2nd -> 2/3;
    #                1.0 -> 3rd at rank 5 -> 3/5.  query 1 (R=2): 0.2, 0.5 -> rank 1 -> 1; 0.6, 1.0 -> 2nd at 4 -> 1/2
    expected = [(1 + 1) / 2, (2 / 3 + 1) / 2, (2 / 3 + 1 / 2) / 2, (3 / 5 + 1 / 2) / 2]
    np.testing.assert_allclose(precision_at_recall(rel, [3, 2], levels), expected)
    # a ranking cut before the last relevant item cannot say the precision at recall 1
    assert np.isnan(precision_at_recall(rel[:, :4], [3, 2], [1.0])[0])
    # the driver over a search function gives the same numbers, in chunks of one query
    search = lambda q, k: (None, RANKED[q[:, 0].astype(int)][:, :k])  # noqa: E731  (query i -> row i)
    curves = retrieval_curves(search, np.array([[0], [1]]), QUERIES, ITEMS, ks=[1, 3], recalls=levels, chunk=1)
    np.testing.assert_allclose(curves["precision_at_k"], [1.0, 0.5])
    np.testing.assert_allclose(curves["precision_at_recall"], expected)


def test_retrieval_with_a_real_index_matches_brute_force():
    from aekit.apps.search import CodeIndex

    rng = np.random.default_rng(0)
    items, queries = rng.normal(size=(60, 5)), rng.normal(size=(9, 5))
    item_y, query_y = rng.integers(0, 3, 60), rng.integers(0, 3, 9)
    index = CodeIndex.build(items, "l2", kind="exact")
    order = np.argsort(((queries[:, None] - items[None]) ** 2).sum(-1), axis=1, kind="stable")  # (9, 60)
    rel = relevance(order, item_y, query_y)
    curves = retrieval_curves(index.search, queries, query_y, item_y, ks=[1, 5, 10], recalls=[0.1, 0.5, 1.0], chunk=4)
    np.testing.assert_allclose(curves["precision_at_k"], precision_at_k(rel, [1, 5, 10]))
    np.testing.assert_allclose(curves["precision_at_recall"],
                               precision_at_recall(rel, np.bincount(item_y, minlength=3)[query_y], [0.1, 0.5, 1.0]))


# ---- 20 Newsgroups on the shared data ----------------------------------------------------------------------


@pytest.mark.slow
def test_20newsgroups_loads_with_a_shared_vocabulary(shared_data, monkeypatch):
    if not (shared_data / "20newsgroups" / "20news-bydate.tar.gz").is_file():
        pytest.skip(f"no 20newsgroups archive in {shared_data}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnicodeWarning)  # read as latin-1: never a decoding warning
        train = load("20newsgroups", data_dir=shared_data)
        test = load("20newsgroups", split="test", data_dir=shared_data)
    assert train.x.shape == (11314, 2000) and test.x.shape == (7532, 2000)
    assert len(train.classes) == 20 and train.classes[0] == "alt.atheism" and train.scale == "raw"
    assert train.frontend.vocabulary == test.frontend.vocabulary
    assert torch.equal(train.x, train.x.round()) and float(train.x.min()) == 0.0
    assert np.bincount(train.y.numpy()).min() >= 370 and np.bincount(test.y.numpy()).min() >= 250
    vocabulary = set(train.frontend.vocabulary)
    assert {"space", "god", "hockey", "encryption"} <= vocabulary and not {"the", "and"} & vocabulary


def test_input_dropout_drops_words_in_training_only():
    x = torch.ones(200, 50)
    model = build("text_ae", input_shape=[50], hidden=[8], latent_dim=3, input_transform="none", input_dropout=0.5)
    seen = model.encoder.transform(x)  # (B, V) what the encoder's first layer sees while training
    assert 0.4 < float((seen == 0).float().mean()) < 0.6
    assert torch.equal(model.eval().encoder.transform(x), x)
    with pytest.raises(AekitError, match="input_dropout"):
        build("text_ae", input_shape=[50], input_dropout=1.0)
