"""Search by code: a FAISS index over the codes of a dataset, float or binary.

The lecture's use of an autoencoder for retrieval: encode every item once, then answer a query by the items
whose codes are nearest its code. Float codes are searched with cosine, inner product or Euclidean distance;
binary codes (0/1 values, from a ``binary`` model or float codes cut at a threshold) with the Hamming distance,
which is "semantic hashing" (Salakhutdinov & Hinton, "Semantic hashing", 2009): 64 bits per document, compared
with a popcount.

All the searching is FAISS's (Johnson, Douze & Jegou, "Billion-scale similarity search with GPUs", 2019):

* ``kind="exact"``: ``IndexFlatIP`` / ``IndexFlatL2`` (float) and ``IndexBinaryFlat`` (Hamming) compare the
  query with every code. Exact answers; cost linear in N, which at N < 50,000 codes is milliseconds.
* ``kind="hnsw"``: a hierarchical navigable small-world graph (Malkov & Yashunin, TPAMI 2018): ``IndexHNSWFlat``
  / ``IndexBinaryHNSW``. It needs no training, adds items one by one, and reaches recall@10 above 0.95 with
  ``efSearch`` = 128 at a cost that grows like log N; it keeps the codes themselves, so its distances are
  exact for the items it finds. This is what ``kind="auto"`` picks past :data:`EXACT_LIMIT` codes.
* ``kind="ivf"``: an inverted file (k-means cells; ``IndexIVFFlat`` / ``IndexBinaryIVF``). It must be trained
  (k-means over the codes) and searches ``nprobe`` = ``nlist`` / 4 of its cells: cheaper in memory than HNSW and
  the usual choice past millions of codes, where HNSW's graph no longer fits.

Distances are "smaller is nearer" for every metric, so results are always nearest first:

* ``cosine``: ``1 - cos(q, x)`` (codes are L2-normalised, then searched by inner product); 0 for the same
  direction, 2 for the opposite one. A zero code stays zero (cosine 0 with everything).
* ``ip``: ``-<q, x>``, the negated inner product (maximum inner product search).
* ``l2``: the Euclidean distance ``||q - x||`` (FAISS computes its square; we take the root).
* ``hamming``: the number of differing bits, a whole number. Bits are packed 8 to a byte; a number of bits
  that is not a multiple of 8 is padded with zero bits, which adds nothing to any distance.

Float codes can be PCA-whitened before indexing (``whiten=D``): rotated onto their top ``D`` principal axes
and each axis divided by its standard deviation, so that no few directions of large variance (overall
brightness, a document's length) dominate the distance; the usual retrieval transform (Jegou & Chum, "Negative
evidences and co-occurrences in image retrieval", ECCV 2012). Small eigenvalues are mostly noise, so each is
regularised by ``whiten_eps`` times the largest one before dividing. The transform is FAISS's ``PCAMatrix``
(``eigen_power = -0.5``), fitted on the indexed codes and applied to every query before the metric. On
CIFAR-10 it raises precision@10 of every representation by 3-7 points over centred cosine
(``benchmarks/image_search.py``).

An index is saved as a folder: ``index.faiss`` (written by FAISS's own writer, never pickle) and
``index.json`` (metric, kind, bits or dimension, the item ids, the thresholds that binarise float queries,
the sha256 of ``index.faiss`` and whatever ``meta`` the caller adds, e.g. the run the codes came from), and
``whiten.faiss`` (FAISS's writer again) when the codes are whitened.
Each file is written atomically, ``index.json`` last: a folder whose JSON does not match its FAISS files
is refused on load.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from aekit import io
from aekit.atomic import atomic_path
from aekit.apps.search_options import EXACT_LIMIT, KINDS, METRICS, WHITEN_EPS
from aekit.errors import AekitError

HNSW_M = 32  # graph neighbours per node: recall/memory trade-off; FAISS's benchmarks use 16-64
HNSW_EF_CONSTRUCTION = 200  # candidates while building: a better graph (higher recall) for a slower build
HNSW_EF_SEARCH = 128  # candidates while searching (raised to k when k is larger): recall@10 > 0.95 here
IVF_PROBE_FRACTION = 1 / 4  # cells searched: nprobe = nlist / 4, recall@10 > 0.9 on clustered codes, 4x cheaper
INDEX_FILE, META_FILE, WHITEN_FILE = "index.faiss", io.INDEX_META, "whiten.faiss"
FORMAT = "aekit-code-index"
VERSION = 1

__all__ = ["CodeIndex", "EXACT_LIMIT", "KINDS", "METRICS", "binarize", "binary_codes", "index_run", "median_thresholds",
           "weights_fingerprint"]


# ---- binary codes ---------------------------------------------------------------------------------------
def median_thresholds(codes) -> np.ndarray:
    """The median of each code unit over ``codes`` ``(N, K)``: cutting there gives every bit equal odds,
    the most informative 1-bit code of each unit (as semantic hashing's thresholds at 0.5 aim to)."""
    x = _float_codes(codes, "codes")
    return np.median(x, axis=0).astype(np.float32)  # (K,)


def binarize(codes, thresholds) -> np.ndarray:
    """``codes > thresholds`` as 0/1 ``uint8`` ``(N, K)``."""
    x = _float_codes(codes, "codes")
    t = np.asarray(thresholds, dtype=np.float32).reshape(-1)
    if t.shape[0] != x.shape[1]:
        raise AekitError(f"{t.shape[0]} thresholds for codes of {x.shape[1]} units: binarise with the index's "
                         f"own thresholds (codes of the same model)")
    return (x > t[None]).astype(np.uint8)


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    """0/1 values ``(N, B)`` -> bytes ``(N, ceil(B/8))``, most significant bit first, zero-padded."""
    return np.packbits(bits.astype(np.uint8), axis=1)


# ---- input checks ---------------------------------------------------------------------------------------
def _to_numpy(a, name: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor (bf16 codes too)
        a = a.detach().float().cpu().numpy()
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as e:
        raise AekitError(f"{name} could not be read as an array ({e}): pass a numpy array or a torch tensor") from None


def _float_codes(a, name: str) -> np.ndarray:
    """Codes as a finite float32 ``(N, K)`` matrix (more dimensions are flattened per item)."""
    x = _to_numpy(a, name)
    if x.dtype.kind not in "biuf":
        raise AekitError(f"{name} has dtype {x.dtype}: pass numbers (a float array or tensor)")
    if x.ndim < 2:
        raise AekitError(f"{name} has shape {tuple(x.shape)}: pass a matrix (items, code units)")
    x = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)  # (N, K)
    if x.shape[1] == 0:
        raise AekitError(f"{name} has shape {tuple(x.shape)}: codes need at least one unit")
    if not np.isfinite(x).all():
        raise AekitError(f"{name} contains NaN or infinite values: check the model for divergence")
    return x


def _bit_codes(a, name: str) -> np.ndarray:
    x = _float_codes(a, name)
    if not np.isin(x, (0.0, 1.0)).all():
        raise AekitError(f"{name} are not 0/1 values: Hamming search needs binary codes (a `binary` model), "
                         f"or pass thresholds='median' to binarise float codes")
    return x.astype(np.uint8)


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise AekitError(f"unknown index kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- the index -------------------------------------------------------------------------------------------
class CodeIndex:
    """Nearest codes of a dataset: ``CodeIndex.build(codes, metric)``, then ``index.search(queries, k)``.

    ``ids`` maps FAISS's positions 0..N-1 to the item ids given at build; ``meta`` is a JSON-able dict
    saved with the index (the CLI records the run, its weights' sha256, the data source and split there).
    """

    def __init__(self, faiss_index, metric: str, kind: str, dim: int, ids: np.ndarray,
                 thresholds: np.ndarray | None = None, meta: dict | None = None, whitener=None):
        self.faiss_index = faiss_index
        self.metric = metric
        self.kind = kind  # the kind actually built ("exact", "hnsw" or "ivf"), never "auto"
        self.dim = dim  # code units (float) or bits (hamming)
        self.ids = ids
        self.thresholds = thresholds  # (dim,) float32: float queries are binarised at these (hamming only)
        self.meta = dict(meta or {})
        self.whitener = whitener  # a trained faiss.PCAMatrix applied to codes and queries, or None

    # -- building
    @classmethod
    def build(cls, codes, metric: str = "cosine", ids=None, kind: str = "auto", thresholds=None,
              meta: dict | None = None, whiten: int | None = None, whiten_eps: float = WHITEN_EPS) -> "CodeIndex":
        """An index over ``codes`` ``(N, K)`` (a numpy array or torch tensor).

        ``metric``: ``cosine``, ``ip``, ``l2`` or ``hamming`` (codes of 0/1 values, K bits). With ``hamming``,
        ``thresholds`` ("median" or ``K`` numbers) binarises float codes as ``codes > thresholds``; the same
        thresholds binarise every query. ``kind``: ``auto`` (exact below :data:`EXACT_LIMIT` codes, else HNSW),
        ``exact``, ``hnsw`` or ``ivf``. ``ids``: an item id per code (default 0..N-1). ``whiten``: PCA-whiten
        float codes onto their top ``whiten`` principal axes first, each eigenvalue regularised by ``whiten_eps``
        times the largest (see the module)."""
        if metric not in METRICS:
            raise AekitError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        _check_kind(kind)
        if thresholds is not None and metric != "hamming":
            raise AekitError(f"thresholds binarise codes for Hamming search, not for metric {metric!r}")
        if whiten is not None and metric == "hamming":
            raise AekitError("whitening is for float codes: use metric cosine, ip or l2 with whiten, or drop whiten")
        x = _float_codes(codes, "codes")
        n = x.shape[0]
        if n == 0:
            raise AekitError("no codes to index: pass at least one item")
        if ids is None:
            ids = np.arange(n, dtype=np.int64)
        else:
            ids = _to_numpy(ids, "ids")
            if ids.ndim != 1 or ids.shape[0] != n or ids.dtype.kind not in "iu":
                raise AekitError(f"ids must be {n} whole numbers, one per code; got shape {tuple(ids.shape)} "
                                 f"of {ids.dtype}")
            ids = ids.astype(np.int64)
        if kind == "auto":
            kind = "exact" if n < EXACT_LIMIT else "hnsw"
        whitener = None
        if metric == "hamming":
            if isinstance(thresholds, str):
                if thresholds != "median":
                    raise AekitError(f"thresholds must be 'median' or one number per code unit, got {thresholds!r}")
                thresholds = median_thresholds(x)
            if thresholds is not None:
                thresholds = np.asarray(thresholds, dtype=np.float32).reshape(-1)
                bits = binarize(x, thresholds)
            else:
                bits = _bit_codes(x, "codes")
            dim = bits.shape[1]
            index = _binary_index(kind, dim, n)
            packed = _pack_bits(bits)  # (N, ceil(dim/8)) uint8
            if not index.is_trained:
                index.train(packed)
            index.add(packed)
        else:
            dim = x.shape[1]
            if whiten is not None:
                whitener = _whitener(x, whiten, whiten_eps)
            x = _prepared(x, metric, whitener)
            index = _float_index(kind, x.shape[1], n, metric)
            if not index.is_trained:
                index.train(x)
            index.add(x)
        return cls(index, metric, kind, dim, ids, thresholds, meta, whitener)

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    def __repr__(self) -> str:
        unit = "bits" if self.metric == "hamming" else "units"
        return f"CodeIndex({len(self)} codes of {self.dim} {unit}, metric={self.metric}, kind={self.kind})"

    # -- searching
    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed items of each query ``(Q, K)``: ``(distances, ids)``, numpy ``(Q, k)``
        arrays, nearest first (float32 distances, int64 ids; see the module for each metric's distance)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise AekitError(f"k must be a whole number of at least 1, got {k!r}")
        k = int(k)
        if k > len(self):
            raise AekitError(f"k = {k} is larger than the index, which holds {len(self)} items: ask for at most "
                             f"{len(self)}")
        q = _float_codes(queries, "queries")
        if q.shape[1] != self.dim:
            raise AekitError(f"queries have {q.shape[1]} code units but the index holds codes of {self.dim}: "
                             f"encode the queries with the model the index was built from")
        self._tune(k)
        if self.metric == "hamming":
            bits = binarize(q, self.thresholds) if self.thresholds is not None else _bit_codes(q, "queries")
            dist, pos = self.faiss_index.search(_pack_bits(bits), k)
            dist = dist.astype(np.float32)
        else:
            dist, pos = self.faiss_index.search(_prepared(q, self.metric, self.whitener), k)
            if self.metric == "cosine":
                dist = 1.0 - dist
            elif self.metric == "ip":
                dist = -dist
            else:  # FAISS's L2 indexes return squared distances
                dist = np.sqrt(np.maximum(dist, 0.0))
        if (pos < 0).any():  # an approximate index found fewer than k items (never for exact ones)
            raise AekitError(f"the {self.kind} index found fewer than {k} neighbours for a query: rebuild it with "
                             f"kind='exact', or ask for fewer")
        return dist.astype(np.float32), self.ids[pos]

    def _tune(self, k: int) -> None:
        """Search-time settings (not saved by FAISS's writer for every index type, so set before each search)."""
        index = self.faiss_index
        if self.kind == "hnsw":
            index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
        elif self.kind == "ivf":
            index.nprobe = max(1, math.ceil(index.nlist * IVF_PROBE_FRACTION))

    # -- saving
    def save(self, folder: str | Path) -> Path:
        """Write ``folder/index.faiss`` (FAISS's writer) and ``folder/index.json``, each atomically."""
        import faiss

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise AekitError(f"{folder} is a file, not a folder: choose another place for the index")
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / INDEX_FILE) as tmp:
            if self.metric == "hamming":
                faiss.write_index_binary(self.faiss_index, str(tmp))
            else:
                faiss.write_index(self.faiss_index, str(tmp))
        whiten = None
        if self.whitener is not None:
            with atomic_path(folder / WHITEN_FILE) as tmp:
                faiss.write_VectorTransform(self.whitener, str(tmp))
            whiten = {"dims": int(self.whitener.d_out), "epsilon": float(self.whitener.epsilon),  # added to eigenvalues
                      "sha256": _sha256(folder / WHITEN_FILE)}
        info = {
            "format": FORMAT, "version": VERSION, "metric": self.metric, "kind": self.kind, "dim": self.dim,
            "count": len(self), "index_sha256": _sha256(folder / INDEX_FILE),
            "thresholds": None if self.thresholds is None else [float(t) for t in self.thresholds],
            "whiten": whiten, "ids": [int(i) for i in self.ids], "meta": self.meta,
        }
        with atomic_path(folder / META_FILE) as tmp:  # last: it vouches for the FAISS file beside it
            tmp.write_text(json.dumps(info) + "\n")
        if self.whitener is None:  # an index rebuilt in place without whitening must not keep the old transform
            (folder / WHITEN_FILE).unlink(missing_ok=True)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "CodeIndex":
        """The index saved in ``folder``; it answers every query exactly as before it was saved."""
        import faiss

        folder, info = io.read_dir(folder, "index")
        meta_path, index_path = folder / META_FILE, folder / INDEX_FILE
        if not index_path.is_file():
            raise AekitError(f"{folder} is not an aekit index (it lacks {INDEX_FILE}): build one "
                             f"with `aekit index RUN --out {folder}`")
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise AekitError(f"{meta_path} does not describe an aekit code index: rebuild it with `aekit index`")
        if info.get("version") != VERSION:
            raise AekitError(f"{folder} is an index of format version {info.get('version')}, this aekit reads "
                             f"version {VERSION}: rebuild it with `aekit index`")
        if _sha256(index_path) != info.get("index_sha256"):
            raise AekitError(f"{index_path} is not the file {META_FILE} describes (damaged, or replaced): rebuild "
                             f"the index with `aekit index`")
        metric, kind = info["metric"], info["kind"]
        try:
            index = (faiss.read_index_binary if metric == "hamming" else faiss.read_index)(str(index_path))
        except RuntimeError as e:
            raise AekitError(f"FAISS cannot read {index_path} ({str(e).splitlines()[0]}): rebuild the index") from None
        ids = np.asarray(info["ids"], dtype=np.int64)
        if index.ntotal != ids.shape[0] or index.ntotal != info.get("count"):
            raise AekitError(f"{folder}: {index.ntotal} codes in {INDEX_FILE} but {ids.shape[0]} ids in {META_FILE}: "
                             f"rebuild the index")
        thresholds = None if info.get("thresholds") is None else np.asarray(info["thresholds"], dtype=np.float32)
        whitener = None
        if info.get("whiten"):
            whiten_path = folder / WHITEN_FILE
            if not whiten_path.is_file() or _sha256(whiten_path) != info["whiten"].get("sha256"):
                raise AekitError(f"{whiten_path} is missing or not the file {META_FILE} describes: rebuild the index")
            whitener = faiss.read_VectorTransform(str(whiten_path))
        return cls(index, metric, kind, int(info["dim"]), ids, thresholds, info.get("meta") or {}, whitener)


def _whitener(x: np.ndarray, dims, eps: float):
    """FAISS's PCAMatrix fitted on ``x`` ``(N, K)``: centre, rotate onto the top ``dims`` axes, divide each by
    ``sqrt(eigenvalue + eps * largest eigenvalue)`` (up to one global scale, which no metric here depends on)."""
    import faiss

    n, k = x.shape
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or not 1 <= dims <= k:
        raise AekitError(f"whiten must be a number of principal axes from 1 to the code's {k} units, got {dims!r}")
    if n < 2:
        raise AekitError(f"whitening needs at least 2 codes to estimate their covariance, got {n}")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise AekitError(f"whiten_eps must be a number >= 0 (a fraction of the largest eigenvalue), got {eps!r}")
    pca = faiss.PCAMatrix(k, int(dims), -0.5)  # eigen_power -1/2: divide each axis by its standard deviation
    pca.train(x)
    eigenvalues = faiss.vector_to_array(pca.eigenvalues)[: int(dims)]  # descending
    pca.epsilon = float(eps) * float(eigenvalues[0])
    if not (eigenvalues + pca.epsilon > 0).all():  # an axis without variance would be divided by zero
        raise AekitError(f"the codes vary along fewer than {dims} directions: whiten onto fewer axes, or pass "
                         f"whiten_eps > 0")
    pca.prepare_Ab()  # rebuild the projection with the regulariser
    return pca


def _prepared(x: np.ndarray, metric: str, whitener) -> np.ndarray:
    """Codes or queries as the float index holds them: whitened (if the index whitens), unit length for cosine."""
    import faiss

    if whitener is not None:
        x = whitener.apply(x)  # a new array
    elif metric == "cosine":
        x = x.copy()  # normalize_L2 works in place: never on the caller's array
    if metric == "cosine":
        faiss.normalize_L2(x)  # zero rows stay zero
    return x


def _float_index(kind: str, dim: int, n: int, metric: str):
    import faiss

    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT  # cosine: IP of unit codes
    if kind == "exact":
        return faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss_metric)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index
    quantizer = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
    return faiss.IndexIVFFlat(quantizer, dim, _nlist(n), faiss_metric)  # FAISS's wrapper keeps quantizer alive


def _binary_index(kind: str, bits: int, n: int):
    import faiss

    padded = 8 * math.ceil(bits / 8)  # FAISS counts bits in whole bytes; the padding bits are 0 everywhere
    if kind == "exact":
        return faiss.IndexBinaryFlat(padded)
    if kind == "hnsw":
        index = faiss.IndexBinaryHNSW(padded, HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index
    quantizer = faiss.IndexBinaryFlat(padded)
    return faiss.IndexBinaryIVF(quantizer, padded, _nlist(n))


def _nlist(n: int) -> int:
    """IVF cells: about 4 sqrt(N) (FAISS's guideline), at least 1, and at most N / 39 so that k-means sees the
    39 points per centroid it asks for (fewer makes it warn and cluster poorly)."""
    return int(max(1, min(4 * math.isqrt(n), n // 39)))


# ---- indexes of a run's codes (what `aekit index` and `aekit search` use) ----------------------------------
def weights_fingerprint(run_dir: str | Path) -> str:
    """The sha256 of a run's ``model.safetensors``: an index records it, so that codes from other weights (the
    run retrained in place, or another run) are never searched against it."""
    from aekit import io

    path = Path(run_dir) / io.WEIGHTS
    if not path.is_file():
        raise AekitError(f"{run_dir} holds no {io.WEIGHTS}: pass the run directory of `aekit train`")
    return _sha256(path)


def binary_codes(codes) -> bool:
    """Whether every code unit is exactly 0 or 1 (a ``binary`` model's codes): Hamming search needs no cut."""
    x = _float_codes(codes, "codes")
    return bool(np.isin(x, (0.0, 1.0)).all())


def index_run(run, data, metric: str = "cosine", kind: str = "auto", meta: dict | None = None,
              whiten: int | None = None, whiten_eps: float = WHITEN_EPS) -> CodeIndex:
    """An index over the codes of ``data`` (an :class:`~aekit.data.ArrayDataset`) by ``run``'s model.

    The item ids are the positions in ``data``; for ``hamming``, codes that are not already 0/1 are cut at
    the median of each unit over ``data`` (:func:`median_thresholds`). ``meta`` records the run (its path and
    weights' sha256), the data's labels and class names and the caller's extras."""
    from aekit import inference
    from aekit.models.base import code_size

    code_size(run.model, "an index of codes")  # one fixed-size vector per item
    codes = inference.encode(run.model, data.x)  # (N, *latent)
    codes = codes.reshape(codes.shape[0], -1)  # (N, K)
    thresholds = "median" if metric == "hamming" and not binary_codes(codes) else None
    info = {"run": str(Path(run.path).resolve()) if run.path is not None else None,
            "weights_sha256": weights_fingerprint(run.path) if run.path is not None else None,
            "model": run.config.get("model"), "data": data.name, "item_shape": list(data.item_shape),
            "labels": None if data.y is None else [int(v) for v in data.y], "classes": data.classes,
            **(meta or {})}
    return CodeIndex.build(codes, metric, kind=kind, thresholds=thresholds, meta=info, whiten=whiten,
                           whiten_eps=whiten_eps)
