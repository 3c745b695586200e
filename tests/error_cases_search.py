"""Catalogue cases: searching by code (`aekit index`, `aekit search`; see tests/errcase.py)."""
from __future__ import annotations

from pathlib import Path

from errcase import Case, tiny_run


def indexed(tmp: Path) -> tuple[Path, Path]:
    """A tiny run and an index of its training items: (run, index)."""
    import contextlib
    import io

    from aekit.cli import main

    run = tiny_run(tmp)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["index", str(run), "--out", str(tmp / "idx")]) == 0
    return run, tmp / "idx"


def search(*args):
    """A case's setup: index a tiny run, then `aekit search INDEX *args` (``{run}``/``{tmp}`` filled in)."""
    def setup(tmp: Path) -> list:
        run, index = indexed(tmp)
        return ["search", index, *(str(a).format(run=run, tmp=tmp) for a in args)]
    return setup


def damaged_index(tmp: Path) -> list:
    run, index = indexed(tmp)
    (index / "index.faiss").write_bytes(b"not a faiss index at all")
    return ["search", index, "0"]


def text_query(tmp: Path) -> list:
    run, index = indexed(tmp)
    (tmp / "q.txt").write_text("a few words about space and hockey")
    return ["search", index, tmp / "q.txt"]


def index_over_files(tmp: Path) -> list:
    run = tiny_run(tmp)
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("my own file")
    return ["index", run, "--out", tmp / "mine"]


CASES = [
    Case("search-empty-query", "search queries", "searched for an empty query", search(""), r"query is empty"),
    Case("search-k-zero", "search queries", "asked for zero neighbours", search("0", "-k", "0"), r"-k must be at least 1"),
    Case("search-k-too-large", "search queries", "asked for more neighbours than the index holds",
         search("0", "-k", "100000"), r"larger than the index"),
    Case("search-item-out-of-range", "search queries", "asked for the neighbours of an item id the data lacks",
         search("99999"), r"item 99999 is not in the indexed data"),
    Case("search-run-as-index", "search queries", "passed a run directory where an index belongs",
         lambda tmp: ["search", tiny_run(tmp), "0"], r"is a run directory, not an index"),
    Case("search-damaged-index", "search queries", "searched an index whose FAISS file was overwritten",
         damaged_index, r"(rebuild|damaged)"),
    Case("search-picture-not-png", "search queries", "asked for the neighbours' picture in a .txt file",
         search("0", "--out", "{tmp}/n.txt"), r"\.png"),
    Case("search-text-on-images", "search queries", "searched an image index with a text file",
         text_query, r"not trained on text"),
    Case("index-over-own-files", "search queries", "built an index into a folder holding other files",
         index_over_files, r"holds other files"),
]
