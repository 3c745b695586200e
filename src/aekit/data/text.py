"""Text corpora as bag-of-words vectors: documents -> word counts over a fixed vocabulary.

The representation of Hinton & Salakhutdinov ("Reducing the Dimensionality of Data with Neural Networks",
Science 2006) and of "Semantic Hashing" (Salakhutdinov & Hinton 2009): each document is the vector of how
often each of the 2000 most common words occurs in it. Here:

* the vocabulary is the ``max_words`` words with the highest **document frequency** over the training
  split (ties broken alphabetically), after lower-casing and removing scikit-learn's English stop words;
  a word is a run of two or more letters (numbers and underscores are not words). The papers used the
  2000 most frequent word *stems*; no stemmer is installed with aekit, so these are plain words;
* the test split is counted with the training vocabulary, so both splits have the same columns;
* counting and TF-IDF are scikit-learn's (``CountVectorizer``, ``TfidfTransformer``); the inverse
  document frequencies of the training split are kept, so the TF-IDF of a new query matches the corpus';
* news messages (20 Newsgroups) begin with a header block (From, Organization, Lines, ...). Those lines
  name the author and site, which identify the newsgroup without saying what the message is about, so
  ``strip_headers`` drops the block but keeps the Subject line (the message's title). The same rule is
  applied to any text the vectoriser transforms, and leaves text without a header block alone.

A :class:`TextVectorizer` saves to JSON (``to_dict``) and rebuilds the same matrix (``from_dict``); a text
dataset loaded by :func:`aekit.data.load` carries it as its ``frontend``, so a run trained on text keeps its
vectoriser as ``frontend.json`` + ``frontend.safetensors`` (``Run.frontend``).

Corpora on disk: a folder (or a tar archive) with one subfolder per class, optionally under ``train/`` and
``test/`` split folders; without split folders a seeded, class-stratified fraction is held out as the test
split. Files are read as UTF-8; files that are not valid UTF-8 are decoded with replacement characters and
reported in ONE warning with their count. The 20 Newsgroups "bydate" archive is read as latin-1, as
scikit-learn does (the messages predate UTF-8 and are latin-1 where they are not ASCII).
"""
from __future__ import annotations

import os
import re
import tarfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.data.dataset import RawData
from aekit.data.frontend import register_frontend
from aekit.data.limits import check_expansion
from aekit.data.sources import register_reader
from aekit.errors import AekitError

DEFAULT_WORDS = 2000  # Hinton & Salakhutdinov 2006: the 2000 most common words
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # words of 2+ letters: "1993", "x11" and "_" are not words
TEST_FRACTION = 0.2  # held out as the test split of a class-folder corpus without train/ and test/ folders
FORMAT = "bag_of_words"
NEWSGROUPS_FOLDER = "20newsgroups"
NEWSGROUPS_ARCHIVE = "20news-bydate.tar.gz"
NEWSGROUPS_SPLITS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
SPLIT_FOLDERS = ("train", "test")
# Files that are certainly not text: a folder holding any of these is an image folder, not a corpus.
_NOT_TEXT = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm",
                       ".npy", ".npz", ".pkl", ".pt", ".safetensors", ".zip", ".gz", ".tar", ".wav", ".mp3",
                       ".ogg", ".flac", ".pdf"})
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]")  # "From: ...", "Nntp-Posting-Host: ..."
_CONTINUATION = re.compile(r"^[ \t]+\S")  # a folded header line


def strip_header(text: str) -> str:
    """Drop a leading e-mail/news header block (up to the first blank line), keeping the Subject's text.

    Text whose first line is not a header line (``Name: value``) is returned unchanged, so typed-in
    queries and ordinary documents pass through.
    """
    lines = text.split("\n")
    if not lines or not _HEADER_LINE.match(lines[0]):
        return text
    subject = []
    end = len(lines)
    for i, line in enumerate(lines):
        if not line.strip():
            end = i
            break
        if not (_HEADER_LINE.match(line) or _CONTINUATION.match(line)):
            return text  # not a header block after all (e.g. a body starting "Note: ...")
        if line.lower().startswith("subject:"):
            subject.append(line.split(":", 1)[1].strip())
    return "\n".join([*subject, *lines[end + 1:]])


@register_frontend
class TextVectorizer:
    """Documents -> word counts over the ``max_words`` words of highest document frequency: the front end of a
    run trained on text (``data/frontend.py``), saved with it and applied to every query.

    ``fit(docs)`` chooses the vocabulary and the inverse document frequencies; ``transform(docs)`` returns
    float32 counts ``(n, vocabulary size)``; ``tfidf(counts)`` the L2-normalised TF-IDF rows (scikit-learn's
    smooth idf) as a sparse matrix. ``to_parts`` / ``from_parts`` give and take the settings and vocabulary
    (JSON) and the idf (a tensor); ``to_dict`` / ``from_dict`` round-trip all of it through JSON.
    """

    name = "bag_of_words"

    def __init__(self, max_words: int = DEFAULT_WORDS, stop_words: str | None = "english",
                 strip_headers: bool = False, lowercase: bool = True, token_pattern: str = TOKEN_PATTERN):
        if isinstance(max_words, bool) or not isinstance(max_words, (int, np.integer)) or max_words < 1:
            raise AekitError(f"the vocabulary size must be a positive whole number of words, got {max_words!r}")
        if stop_words not in (None, "english"):
            raise AekitError(f"stop_words must be 'english' or None, got {stop_words!r}")
        self.max_words = int(max_words)
        self.stop_words = stop_words
        self.strip_headers = bool(strip_headers)
        self.lowercase = bool(lowercase)
        self.token_pattern = str(token_pattern)
        self.vocabulary_: list[str] | None = None
        self.idf_: np.ndarray | None = None  # (V,) float64, scikit-learn's smooth idf of the training split

    # ---- fitting and counting ---------------------------------------------------------------------------
    def _counter(self, vocabulary: Sequence[str] | None = None):
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(lowercase=self.lowercase, token_pattern=self.token_pattern, stop_words=self.stop_words,
                               preprocessor=self._preprocess, vocabulary=vocabulary, dtype=np.float32)

    def _preprocess(self, text: str) -> str:
        text = strip_header(text) if self.strip_headers else text
        return text.lower() if self.lowercase else text

    def fit(self, docs: Iterable[str]) -> TextVectorizer:
        self._fit(_as_documents(docs))
        return self

    def _fit(self, docs: list[str]):
        """Choose the vocabulary; return the counts of ``docs`` over it (CSR float32), from the same pass."""
        counter = self._counter()
        try:
            counts = counter.fit_transform(docs).tocsc()  # (n, all words)
        except ValueError:  # "empty vocabulary": no document has a single word
            raise AekitError(f"none of the {len(docs)} documents contains a word (2+ letters, not a stop word); "
                             "check that the files hold text") from None
        words = counter.get_feature_names_out()
        df = np.diff(counts.indptr)  # (all words,) documents containing each word (CSC: nonzeros per column)
        order = np.lexsort((words, -df))[: self.max_words]  # highest document frequency, then alphabetical
        keep = np.sort(order)  # columns in alphabetical order, scikit-learn's convention
        self.vocabulary_ = [str(w) for w in words[keep]]
        n = counts.shape[0]
        self.idf_ = np.log((1.0 + n) / (1.0 + df[keep])) + 1.0  # TfidfTransformer(smooth_idf=True)'s formula
        return counts[:, keep].tocsr()

    def counts(self, docs: Iterable[str]):
        """Word counts as a scipy CSR matrix ``(n, V)`` float32."""
        self._check_fitted()
        return self._counter(self.vocabulary_).transform(_as_documents(docs)).astype(np.float32)

    def transform(self, docs: Iterable[str]) -> np.ndarray:
        """Word counts ``(n, V)`` float32, dense."""
        return np.asarray(self.counts(docs).toarray(), dtype=np.float32)

    def fit_transform(self, docs: Iterable[str]) -> np.ndarray:
        """``fit(docs).transform(docs)`` in one tokenising pass."""
        return np.asarray(self._fit(_as_documents(docs)).toarray(), dtype=np.float32)

    def tfidf(self, counts):
        """TF-IDF of count rows (dense or sparse ``(n, V)``), L2-normalised rows, as a scipy CSR matrix."""
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfTransformer

        self._check_fitted()
        counts = sp.csr_matrix(counts, dtype=np.float64)
        if counts.shape[1] != len(self.vocabulary_):
            raise AekitError(f"counts have {counts.shape[1]} columns but the vocabulary has {len(self.vocabulary_)} words")
        transformer = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True)
        transformer.idf_ = self.idf_  # the training split's idf, not the queries'
        return transformer.transform(counts)

    @property
    def vocabulary(self) -> list[str]:
        self._check_fitted()
        return list(self.vocabulary_)

    def _check_fitted(self) -> None:
        if self.vocabulary_ is None:
            raise AekitError("the text vectoriser is not fitted: call fit(documents) first, or load a fitted one")

    # ---- saving -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description that :meth:`from_dict` turns back into the same vectoriser."""
        self._check_fitted()
        return {"format": FORMAT, "max_words": self.max_words, "stop_words": self.stop_words,
                "strip_headers": self.strip_headers, "lowercase": self.lowercase,
                "token_pattern": self.token_pattern, "vocabulary": list(self.vocabulary_),
                "idf": [float(v) for v in self.idf_]}

    def to_parts(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        settings = self.to_dict()
        idf = settings.pop("idf")
        return settings, {"idf": torch.tensor(idf, dtype=torch.float64)}

    @classmethod
    def from_parts(cls, settings: dict[str, Any], tensors: dict[str, torch.Tensor]) -> TextVectorizer:
        if "idf" not in tensors:
            raise AekitError("the saved text vectoriser has no idf tensor: the run's frontend.safetensors is damaged")
        return cls.from_dict({**settings, "idf": tensors["idf"].tolist()})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextVectorizer:
        if not isinstance(d, dict) or d.get("format") != FORMAT or not isinstance(d.get("vocabulary"), list):
            raise AekitError("not a saved text vectoriser (expected a dict with format 'bag_of_words' and a "
                             "vocabulary); pass what TextVectorizer.to_dict() returned")
        vec = cls(max_words=int(d.get("max_words", DEFAULT_WORDS)), stop_words=d.get("stop_words"),
                  strip_headers=bool(d.get("strip_headers", False)), lowercase=bool(d.get("lowercase", True)),
                  token_pattern=str(d.get("token_pattern", TOKEN_PATTERN)))
        vec.vocabulary_ = [str(w) for w in d["vocabulary"]]
        idf = d.get("idf")
        vec.idf_ = np.ones(len(vec.vocabulary_)) if idf is None else np.asarray(idf, dtype=np.float64)
        if len(vec.idf_) != len(vec.vocabulary_) or len(set(vec.vocabulary_)) != len(vec.vocabulary_):
            raise AekitError("the saved text vectoriser is damaged (vocabulary and idf disagree); train the run again")
        return vec


def vectorizer_from_run_config(config: dict[str, Any]) -> TextVectorizer | None:
    """The vectoriser a run of an earlier release kept in ``config["data"]["text"]``, or None (runs now keep
    theirs as a front end: ``Run.frontend``)."""
    saved = (config or {}).get("data", {}).get("text")
    return None if saved is None else TextVectorizer.from_dict(saved)


def _as_documents(docs: Iterable[str]) -> list[str]:
    if isinstance(docs, str):
        raise AekitError("pass a list of documents, not one string (wrap it: [text])")
    docs = list(docs)
    if not all(isinstance(d, str) for d in docs):
        raise AekitError("documents must be strings; decode bytes first (e.g. bytes.decode('utf-8', 'replace'))")
    return docs


# ---- corpora on disk ----------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Documents with ``labels`` (N,) int64 (-1 = unlabelled), ``splits`` (N,) the split of each ("" when the
    corpus has no split folders), ``classes`` and the ``names`` (relative paths) of their files."""

    docs: list[str]
    labels: np.ndarray
    splits: np.ndarray
    classes: list[str]
    names: list[str]

    @property
    def has_splits(self) -> bool:
        return bool(len(self.splits)) and bool(np.all(self.splits != ""))


def _is_visible(parts: Sequence[str]) -> bool:
    return bool(parts) and not any(p.startswith(".") for p in parts)  # hidden files, macOS "._x" forks


def _iter_folder(path: Path) -> Iterator[tuple[list[str], bytes]]:
    for file in sorted(path.rglob("*")):
        parts = list(file.relative_to(path).parts)
        if file.is_file() and _is_visible(parts):
            yield parts, file.read_bytes()


def _iter_tar(path: Path) -> Iterator[tuple[list[str], bytes]]:
    """One sequential pass over a tar archive (never extracted: member names cannot escape anywhere)."""
    archive_bytes, unpacked = path.stat().st_size, 0
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for member in tf:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if member.isfile() and _is_visible(parts):
                    unpacked += member.size  # a .tar.gz member may declare gigabytes: bounded before reading
                    check_expansion(str(path), unpacked, archive_bytes)
                    f = tf.extractfile(member)
                    assert f is not None
                    yield parts, f.read()
    except AekitError:
        raise
    except Exception as e:  # noqa: BLE001  a damaged archive: TarError, EOFError, OSError, zlib.error, and
        # TypeError from tarfile's stream reader on a gzip header cut short
        raise AekitError(f"{path} is not a readable tar archive ({e}); check or download it again") from None


def decode_documents(blobs: Sequence[bytes], encoding: str, where: str) -> list[str]:
    """Decode file contents; invalid bytes become U+FFFD, with one warning counting the files affected."""
    docs, bad = [], 0
    for blob in blobs:
        try:
            docs.append(blob.decode(encoding))
        except UnicodeDecodeError:
            docs.append(blob.decode(encoding, errors="replace"))
            bad += 1
    if bad:
        warnings.warn(f"{bad} of {len(blobs)} files in {where} are not valid {encoding}; their invalid bytes were "
                      "replaced by U+FFFD", UnicodeWarning, stacklevel=3)
    return docs


def is_text_folder(path: str | os.PathLike[str]) -> bool:
    """True for a folder of files none of which is an image or array (a corpus); image folders stay images."""
    path = Path(path)
    if not path.is_dir():
        return False
    found = False
    for file in path.rglob("*"):
        parts = file.relative_to(path).parts
        if not file.is_file() or not _is_visible(parts):
            continue
        if file.suffix.lower() in _NOT_TEXT:
            return False
        found = True
    return found


def read_corpus(path: str | os.PathLike[str], encoding: str = "utf-8",
                split_folders: dict[str, str] | None = None, name_filter=None) -> Corpus:
    """Read every file under ``path`` (a folder or a tar archive) as a document.

    Layouts: ``<class>/<file>``, or ``<split>/<class>/<file>`` with the split folder names of
    ``split_folders`` (split -> folder name; default ``train``/``test``), or files at the top level only
    (unlabelled). Documents are ordered by file path.
    """
    path = Path(path)
    folders = split_folders or {s: s for s in SPLIT_FOLDERS}
    split_of = {folder: split for split, folder in folders.items()}
    items = list(_iter_tar(path) if path.is_file() else _iter_folder(path))
    if name_filter is not None:
        items = [(p, b) for p, b in items if name_filter(p)]
    if not items:
        raise AekitError(f"no text files found in {path}; expected class folders of text files")
    items.sort(key=lambda item: item[0])
    parts = [p for p, _ in items]
    docs = decode_documents([b for _, b in items], encoding, str(path))
    depth1 = [len(p) == 1 for p in parts]
    if any(depth1) and not all(depth1):
        raise AekitError(f"{path} has files both at the top level and inside class folders; put every file in a "
                         "class folder")
    names = ["/".join(p) for p in parts]
    splits = np.array([split_of.get(p[-3], "") if len(p) >= 3 else "" for p in parts])
    if not np.all(splits != ""):
        splits = np.full(len(parts), "")  # deeper folders that are not split folders: one set, no splits
    if all(depth1):
        return Corpus(docs, np.full(len(docs), -1, np.int64), splits, [], names)
    folder = [p[-2] for p in parts]
    classes = sorted(set(folder))
    index = {c: i for i, c in enumerate(classes)}
    labels = np.fromiter((index[c] for c in folder), np.int64, len(folder))
    return Corpus(docs, labels, splits, classes, names)


def split_masks(corpus: Corpus, seed: int, test_fraction: float = TEST_FRACTION) -> dict[str, np.ndarray]:
    """Boolean masks of the train and test documents: the split folders, else a seeded stratified split."""
    if corpus.has_splits:
        return {s: corpus.splits == s for s in SPLIT_FOLDERS}
    n = len(corpus.docs)
    if n < 2:
        raise AekitError(f"a corpus of {n} document cannot be split into train and test; add documents or "
                         "train/ and test/ folders")
    rng = np.random.default_rng(seed)
    test = np.zeros(n, bool)
    groups = [np.flatnonzero(corpus.labels == c) for c in np.unique(corpus.labels)]
    for members in groups:  # per class, so every class is in both splits when it has 2+ documents
        take = int(round(test_fraction * len(members)))
        take = min(max(take, 1 if len(members) > 1 else 0), len(members) - 1)
        test[rng.choice(members, size=take, replace=False)] = True
    if not test.any():
        test[rng.integers(n)] = True
    return {"train": ~test, "test": test}


@dataclass
class VectorizedCorpus:
    """Both splits of a corpus counted over the training split's vocabulary: ``counts[split]`` (n, V) CSR
    float32 and ``labels[split]`` (n,) int64 (-1 = unlabelled)."""

    vectorizer: TextVectorizer
    counts: dict[str, Any]
    labels: dict[str, np.ndarray]
    classes: list[str]
    extra: dict[str, Any]

    def raw(self, split: str, source: str) -> RawData:
        """``split`` as :class:`RawData` with the vectoriser as its front end; counts have no upper bound, so
        ``high`` is None (``registry._finish`` keeps them as counts)."""
        labels = self.labels[split]
        if not len(labels):
            raise AekitError(f"{source} has no {split} documents; put documents in its {split}/ folder")
        x = np.asarray(self.counts[split].toarray(), dtype=np.float32)  # (n, V)
        y = None if labels[0] < 0 else labels
        return RawData(x, y, self.classes or None, 0.0, None, source, split, extra=dict(self.extra),
                       frontend=self.vectorizer)


def vectorize_corpus(corpus: Corpus, seed: int, max_words: int = DEFAULT_WORDS,
                     strip_headers: bool = False) -> VectorizedCorpus:
    """Fit the vocabulary on the training split, then count both splits with it."""
    masks = split_masks(corpus, seed)
    train_docs = [d for d, keep in zip(corpus.docs, masks["train"]) if keep]
    vectorizer = TextVectorizer(max_words=max_words, strip_headers=strip_headers)
    counts = {"train": vectorizer._fit(_as_documents(train_docs)),  # one tokenising pass for the train split
              "test": vectorizer.counts([d for d, keep in zip(corpus.docs, masks["test"]) if keep])}
    extra: dict[str, Any] = {} if corpus.has_splits else {"test_fraction": TEST_FRACTION, "split_seed": int(seed)}
    return VectorizedCorpus(vectorizer, counts, {s: corpus.labels[m] for s, m in masks.items()}, corpus.classes, extra)


def _text_samples() -> dict[str, bytes]:
    return {"corpus/train/news/1.txt": "The cat sat on the mat.\nA second line, déjà vu.\n".encode()}


@register_reader("text folder", lambda path: is_text_folder(path), options=("vocabulary_size",), priority=0,
                 samples=_text_samples)
def _read_text_source(path: Path, split: str, seed: int = 0, vocabulary_size: int = DEFAULT_WORDS) -> RawData:
    return read_text_folder(path, split, seed, vocabulary_size)


def read_text_folder(path: Path, split: str, seed: int = 0, max_words: int = DEFAULT_WORDS) -> RawData:
    """A folder of UTF-8 text files with one subfolder per class (optionally under train/ and test/)."""
    return vectorize_corpus(read_corpus(path), seed, max_words).raw(split, str(path))


def find_newsgroups(folder: Path) -> Path | None:
    """The 20 Newsgroups bydate archive in ``folder``, or the folder when it holds the extracted split folders."""
    archive = folder / NEWSGROUPS_ARCHIVE
    if archive.is_file():
        return archive
    if all((folder / f).is_dir() for f in NEWSGROUPS_SPLITS.values()):
        return folder
    return None


def read_newsgroups(source: Path, split: str, max_words: int = DEFAULT_WORDS, cache: bool = True) -> RawData:
    """20 Newsgroups "bydate" (Lang 1995; split by date by J. Rennie): 11314 train / 7532 test messages in
    20 newsgroups, as counts over the top ``max_words`` words of the training messages, headers stripped
    but for the Subject line (module docstring).

    Reading and counting the archive takes seconds; the counts of both splits are cached (``cache``) as an
    .npz in the cache folder, keyed by the archive's path, size and modification time and the settings.
    """
    key = _cache_file(source, max_words) if cache and source.is_file() else None
    vectorized = _read_cache(key) if key is not None and key.exists() else None
    if vectorized is None:
        corpus = read_corpus(source, encoding="latin-1", split_folders=NEWSGROUPS_SPLITS,
                             name_filter=lambda parts: len(parts) == 3 and parts[0] in NEWSGROUPS_SPLITS.values())
        if not corpus.has_splits:
            raise AekitError(f"{source} lacks the {' and '.join(NEWSGROUPS_SPLITS.values())} folders; download it "
                             "again with `aekit download 20newsgroups`")
        vectorized = vectorize_corpus(corpus, 0, max_words, strip_headers=True)
        if key is not None:
            _write_cache(key, vectorized)
    return vectorized.raw(split, str(source))


# ---- cache of counted corpora ---------------------------------------------------------------------------------

_CACHE_VERSION = 1


def _cache_file(path: Path, max_words: int) -> Path | None:
    import hashlib

    from aekit.data.location import cache_dir

    try:
        st = path.stat()
    except OSError:
        return None
    tag = hashlib.sha256(f"{path.resolve()}|{max_words}|{TOKEN_PATTERN}".encode()).hexdigest()[:16]
    return cache_dir() / f"text-{tag}-{st.st_size}-{st.st_mtime_ns}-v{_CACHE_VERSION}.npz"


def _read_cache(file: Path) -> VectorizedCorpus | None:
    import json

    import scipy.sparse as sp

    try:
        with np.load(file, allow_pickle=False) as z:
            vectorizer = TextVectorizer.from_dict(json.loads(str(z["vectorizer"])))
            counts = {s: sp.csr_matrix((z[f"{s}_data"], z[f"{s}_indices"], z[f"{s}_indptr"]),
                                       shape=(len(z[f"{s}_labels"]), len(vectorizer.vocabulary_)))
                      for s in SPLIT_FOLDERS}
            labels = {s: z[f"{s}_labels"].astype(np.int64) for s in SPLIT_FOLDERS}
            return VectorizedCorpus(vectorizer, counts, labels, [str(c) for c in z["classes"]], {})
    except Exception:  # a damaged cache is not an error: count again and overwrite it
        return None


def _write_cache(file: Path, v: VectorizedCorpus) -> None:
    """The counted corpus as a cache (best effort: :func:`aekit.data.location.write_cache`)."""
    import json

    from aekit.data.location import write_cache

    arrays: dict[str, np.ndarray] = {"vectorizer": np.array(json.dumps(v.vectorizer.to_dict())),
                                     "classes": np.array(v.classes, dtype=str)}
    for s in SPLIT_FOLDERS:
        m = v.counts[s].tocsr()
        arrays.update({f"{s}_data": m.data.astype(np.float32), f"{s}_indices": m.indices, f"{s}_indptr": m.indptr,
                       f"{s}_labels": v.labels[s]})
    write_cache(file, arrays)
