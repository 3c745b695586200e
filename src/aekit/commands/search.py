"""`aekit index` and `aekit search`: search a dataset by code (:mod:`aekit.apps.search`).

``aekit index RUN --out RUN/index`` encodes the data the run was trained on (or ``--data``) with the run's
model and saves a FAISS index of the codes; ``aekit search RUN/index QUERY -k 10`` encodes the query the
same way and prints the nearest items. A query is an item id of the indexed data, a file (an image of the
model's input size, a .npy item, or a .txt document for a run trained on text) or text typed in.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from aekit.commands.common import (
    add_data_args, add_split_arg, check_out, is_item_id, run_scale, run_source,
)
from aekit.errors import AekitError

TEXT_SUFFIXES = (".txt",)


# ---- aekit index ------------------------------------------------------------------------------------------
def cmd_index(args) -> int:
    from aekit import io
    from aekit.apps.search import META_FILE, index_run

    out = check_out(args.out, folder=True)
    if out.is_dir() and any(out.iterdir()) and not (out / META_FILE).is_file():
        raise AekitError(f"--out {out} is a folder that holds other files, not an index: choose a new folder, "
                         f"e.g. {Path(args.run) / 'index'}")
    run = io.load_run(args.run)
    source = run_source(args, run.config)
    data = source.load(args.split)
    index = index_run(run, data, metric=args.metric, kind=args.kind, whiten=args.whiten, whiten_eps=args.whiten_eps,
                      meta={"source": source.to_dict(), "split": args.split})
    # also relative to the index, so that a run moved with its index inside (RUN/index) is still found
    index.meta["run_relative"] = os.path.relpath(Path(args.run).resolve(), out.resolve())
    index.save(out)
    how = "bits" if index.metric == "hamming" else "units"
    cut = " (float codes cut at each unit's median)" if index.thresholds is not None else ""
    cut += f" (whitened onto {args.whiten} principal axes)" if args.whiten else ""
    print(f"{len(index)} codes of {index.dim} {how} of the {args.split} data of {data.name}{cut}: "
          f"{index.kind} {index.metric} index written to {out}")
    return 0


# ---- aekit search -----------------------------------------------------------------------------------------
def cmd_search(args) -> int:
    from aekit import inference, io
    from aekit.apps.search import CodeIndex, weights_fingerprint

    if not args.query.strip():
        raise AekitError("the query is empty: pass an item id, a file, or some words")
    out = check_out(args.out, folder=False) if args.out else None
    if out is not None and out.suffix != ".png":
        raise AekitError(f"--out must end in .png (a picture of the query and its neighbours), got {out.name}")
    if args.k < 1:
        raise AekitError(f"-k must be at least 1, got {args.k}")
    if (Path(args.index) / io.CONFIG).is_file():
        raise AekitError(f"{args.index} is a run directory, not an index: build one with `aekit index {args.index} "
                         f"--out {Path(args.index) / 'index'}` and search that")
    index = CodeIndex.load(args.index)
    if args.k > len(index):
        raise AekitError(f"-k {args.k} is larger than the index, which holds {len(index)} items: ask for at most "
                         f"{len(index)}")
    run_dir = _run_of(index, Path(args.index), args.run)
    built_with, now = index.meta.get("weights_sha256"), weights_fingerprint(run_dir)
    if now != built_with:  # the run was retrained in place, or --run names another run
        raise AekitError(f"the index {args.index} was built with another model than the one in {run_dir} (weights "
                         f"sha256 {str(built_with)[:12]}... vs {now[:12]}...): rebuild it with "
                         f"`aekit index {run_dir} --out {args.index}`")
    run = io.load_run(run_dir)
    if out is not None and not _is_picture(index.meta.get("item_shape")):
        raise AekitError(f"the indexed items of shape {tuple(index.meta.get('item_shape') or ())} are not pictures: "
                         f"leave out --out")
    data = None
    if is_item_id(args.query) or out is not None:
        data = _indexed_data(index, run.config)
    query, what = _query_item(args.query, run, index, data)
    code = inference.encode(run.model, query[None])  # (1, *latent)
    distances, ids = index.search(code.reshape(1, -1), args.k)
    rows = _rows(distances[0], ids[0], index.meta)
    if args.json:
        print(json.dumps({"query": args.query, "query_kind": what, "metric": index.metric, "results": rows}))
    else:
        print(f"{args.k} nearest of {len(index)} items to {what} {args.query!r} ({index.metric} distance):")
        print(f"{'rank':>4s}  {'id':>8s}  distance" + ("  class" if index.meta.get("labels") is not None else ""))
        for row in rows:
            label = "" if row["label"] is None else f"  {row.get('class', row['label'])}"
            print(f"{row['rank']:4d}  {row['id']:8d}  {row['distance']:.5g}{label}")
    if out is not None:
        _write_picture(out, query, data, ids[0], run, index.meta)
        print(f"the query and its {args.k} nearest written to {out}", file=sys.stderr)
    return 0


def _run_of(index, folder: Path, given: str | None) -> Path:
    """The run whose model encodes queries: --run, else the run the index was built from (found beside the
    index first, so that a run folder moved with its index inside still works)."""
    if given:
        return Path(given)
    relative, absolute = index.meta.get("run_relative"), index.meta.get("run")
    for candidate in ((folder / relative) if relative else None, Path(absolute) if absolute else None):
        if candidate is not None and candidate.is_dir():
            return candidate
    raise AekitError(f"the run the index {folder} was built from ({absolute}) is gone: pass --run RUN")


def _indexed_data(index, run_config: dict):
    """The dataset the index was built from, loaded again from the source it recorded."""
    from aekit.data.source import DataSource

    source = DataSource.from_dict(index.meta.get("source")).or_recorded(
        DataSource.from_dict((run_config.get("data") or {}).get("source")))
    if source.data is None:
        raise AekitError("neither the index nor its run records the data: rebuild the index with `aekit index --data`")
    data = source.load(index.meta.get("split") or "train")
    if len(data) != len(index):
        raise AekitError(f"the data the index was built from now holds {len(data)} items, not {len(index)}: rebuild "
                         f"the index with `aekit index`")
    return data


def _query_item(query: str, run, index, data):
    """The query as one item of the model's input shape, and what kind of query it was."""
    from aekit.apps.generate import IMAGE_SUFFIXES, read_item

    shape = tuple(run.model.input_shape)
    if is_item_id(query):
        k = int(query)
        if not 0 <= k < len(data):
            raise AekitError(f"item {k} is not in the indexed data: item ids run from 0 to {len(data) - 1}")
        return data.x[k], "item"
    path = Path(query)
    vectorizer = run.frontend  # a run trained on text: its fitted vectoriser
    if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
        if vectorizer is None:
            raise AekitError(f"{path} is a text file but the run was not trained on text: pass an item id or an "
                             f"image of its data")
        return _text_item(path.read_bytes().decode("utf-8", errors="replace"), vectorizer, shape), "document"
    if path.is_file() or path.suffix.lower() in IMAGE_SUFFIXES + (".npy",) or vectorizer is None:
        scale = run_scale(None, run.config) or "01"
        return read_item(path, shape, scale, "query"), "file"  # refuses a missing file or a wrong size
    return _text_item(query, vectorizer, shape), "text"


def _text_item(text: str, vectorizer, shape):
    import torch

    counts = vectorizer.transform([text])  # (1, V) word counts, as the run's data
    if not counts.any():
        raise AekitError(f"none of the words of the query is among the run's {counts.shape[1]} words: use other "
                         f"words")
    return torch.from_numpy(counts[0]).reshape(shape)


def _rows(distances, ids, meta: dict) -> list[dict]:
    labels, classes = meta.get("labels"), meta.get("classes")
    rows = []
    for rank, (d, i) in enumerate(zip(distances, ids), start=1):
        row = {"rank": rank, "id": int(i), "distance": float(d), "label": None}
        if labels is not None:
            row["label"] = int(labels[int(i)])
            if classes:
                row["class"] = classes[row["label"]]
        rows.append(row)
    return rows


def _is_picture(shape) -> bool:
    import math

    shape = tuple(shape or ())
    return (len(shape) == 3 and shape[0] in (1, 3)) or len(shape) == 2 or (
        len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0])


def _write_picture(out: Path, query, data, ids, run, meta: dict) -> None:
    import torch

    from aekit.apps.generate import picture_range
    from aekit.eval import save_image_grid

    images = torch.stack([query.reshape(data.x.shape[1:]), *data.x[torch.as_tensor(ids)]])  # (1 + k, *item)
    scale = run_scale((meta.get("source") or {}).get("scale"), run.config)
    value_range = picture_range(scale, run.config.get("data", {}).get("value_range"))
    save_image_grid(images, out, nrow=len(images), value_range=value_range, scale=4)


# ---- parser -----------------------------------------------------------------------------------------------
def add_commands(sub) -> None:
    from aekit.apps.search_options import EXACT_LIMIT, KINDS, METRICS, WHITEN_EPS

    p = sub.add_parser(
        "index", help="index the codes of a dataset for `aekit search` (FAISS)",
        description="Encode a dataset with a run's model and save a FAISS index of the codes in INDEX (a "
                    "folder; RUN/index keeps it with the run). Default data: the data the run was trained on.")
    p.add_argument("run", help="the run directory whose model encodes the data")
    p.add_argument("--out", required=True, metavar="INDEX", help="the index folder to write, e.g. RUN/index")
    add_data_args(p)
    add_split_arg(p, "the split to index")
    p.add_argument("--metric", default="cosine", choices=METRICS,
                   help="cosine (default), ip (inner product), l2, or hamming: Hamming distance between bit codes; "
                   "a binary model's codes are its bits, float codes are cut at the median of each code unit over "
                   "the indexed data (recorded in the index: queries are cut the same way)")
    p.add_argument("--kind", default="auto", choices=KINDS,
                   help=f"auto: exact below {EXACT_LIMIT:,} items, HNSW from there (no training, high recall); "
                   "exact; hnsw; ivf (k-means cells: less memory than HNSW)")
    p.add_argument("--whiten", type=int, default=None, metavar="DIMS",
                   help="PCA-whiten float codes onto their top DIMS principal axes before searching (queries too): "
                   "no few directions of large variance dominate the distance; on CIFAR-10 +3 to +7 points of P@10")
    p.add_argument("--whiten-eps", dest="whiten_eps", type=float, default=WHITEN_EPS,
                   help=f"whitening's regulariser, a fraction of the largest eigenvalue (default {WHITEN_EPS:g})")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser(
        "search", help="the items of an index nearest a query, by code",
        description="Encode QUERY with the run's model and print the K nearest indexed items (rank, id, "
                    "distance, class). The run is the one the index was built from (or --run); an index built "
                    "with other weights is refused.")
    p.add_argument("index", metavar="INDEX", help="an index folder written by `aekit index`")
    p.add_argument("query", metavar="QUERY",
                   help="an item id of the indexed data (a whole number), a file (an image of the model's input "
                   "size: images are not resized; a .npy item; a .txt document), or words typed in (runs "
                   "trained on text)")
    p.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")
    p.add_argument("--run", default=None, help="the run whose model encodes the query (default: the index's run)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="a .png of the query (first) and its K nearest (image data)")
    p.set_defaults(func=cmd_search)
