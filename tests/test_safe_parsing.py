"""Files that hurt (issue 17): hostile or damaged data files are refused with one line BEFORE allocating.

Each hostile file here is the issue's, at small scale: the refusal is checked by its message, and that it
happened before allocation by ``tracemalloc``'s peak (numpy and Python allocations) staying far below what
the file asks for. Loads that old code would really attempt run under ``address_space_cap`` so that, on
code without the fix, they fail with MemoryError instead of taking the machine's memory.
"""

from __future__ import annotations

import gzip
import io
import pickle
import subprocess
import sys
import time
import tracemalloc
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npformat

from aekit.data import download, read_idx, write_idx
from aekit.data.cifar import read_cifar_batch
from aekit.data.limits import LIMIT_ENV
from aekit.data.safe_pickle import load_array_pickle
from aekit.data.sources import READERS
from aekit.errors import AekitError
from aekit.fuzzing import address_space_cap

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("AEKIT_DATA", raising=False)
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


@contextmanager
def refused(match: str, peak_below: int = MiB):
    """Expect one AekitError line matching ``match``, raised with less than ``peak_below`` bytes allocated."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()  # the peak of this block only, above what was allocated before it
    base = tracemalloc.get_traced_memory()[0]
    try:
        with address_space_cap(1 << 30), pytest.raises(AekitError, match=match) as e:
            yield e
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not was_tracing:
            tracemalloc.stop()
    assert "\n" not in str(e.value)
    assert peak < peak_below, f"allocated {peak} bytes before refusing"


# ---- the CIFAR restricted unpickler ------------------------------------------------------------------------


class _Reduce:
    """Pickles as ``callable(*args)``: how a hostile file names an allowed callable with hostile arguments."""

    def __init__(self, callable_, *args):
        self.call = (callable_, args)

    def __reduce__(self):
        return self.call


def test_cifar_batch_declaring_a_6_gb_array_is_refused_before_allocating(tmp_path):
    """The issue's 231-byte batch: ``numpy.ndarray((2000000, 3072))`` passed and loading took 6-24 GB."""
    batch = {b"data": _Reduce(np.ndarray, (2_000_000, 3072), "u1"), b"labels": _Reduce(np.ndarray, (2_000_000,), "<i8")}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    assert path.stat().st_size < 300
    with refused(r"shape \(2000000, 3072\) \(6144000000 bytes\), more than the \d+ bytes the file holds"):
        read_cifar_batch(path)


def test_pickle_memo_index_out_of_range_is_refused_at_once():
    """The issue's 9-byte pickle: ``LONG_BINPUT 2**28`` took 4.6 GB and 17 s."""
    hostile = b"\x80\x02N" + b"r" + (2**28).to_bytes(4, "little") + b"."
    assert len(hostile) == 9
    start = time.perf_counter()
    with refused(r"memo index 268435456 but is only 9 bytes long"):
        load_array_pickle(hostile, "data_batch_1")
    assert time.perf_counter() - start < 0.5


def test_pickled_object_arrays_are_refused():
    """An object array holds whatever objects the pickle builds (and its size is not the file's): refused."""
    with pytest.raises(AekitError, match="Python objects"):
        load_array_pickle(pickle.dumps({"data": np.array([1, None], dtype=object)}, protocol=2), "batch")
    with refused("Python objects"):  # the direct route: _reconstruct(ndarray, (2**28,), "O") is 2 GiB of pointers
        load_array_pickle(pickle.dumps(_Reduce(np.ndarray, (2**28,), "O"), protocol=2), "batch")


def test_pickle_nesting_a_million_deep_is_refused_instead_of_crashing_python():
    """A dict keyed by a tuple nested 10^6 deep: hashing it overflowed the C stack (segmentation fault,
    which no except clause catches), so it runs in a child process."""
    code = ("from aekit.data.safe_pickle import load_array_pickle\n"
            "from aekit.errors import AekitError\n"
            "try:\n"
            "    load_array_pickle(b'\\x80\\x02}N' + b'\\x85' * 1_000_000 + b'Ns.', 'batch')\n"
            "except AekitError as e:\n"
            "    print(e)\n")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, f"exit status {child.returncode}: {child.stderr[-500:]}"
    assert "nests containers more than 100 deep" in child.stdout


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_array_pickles_still_load(protocol):
    batch = {b"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), b"labels": [3, 8]}
    back = load_array_pickle(pickle.dumps(batch, protocol=protocol), "batch")
    np.testing.assert_array_equal(back[b"data"], batch[b"data"])
    assert back[b"labels"] == [3, 8]


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],  # truncated
    lambda b: b"\x80\x02" + b"(" * 100_000 + b".",  # marks only: a stack of 100000 MARKs
    lambda b: b"\x80\x02" + b"]" * 2 + b"a" * 50 + b".",  # APPEND on an empty stack
    lambda b: b"\x80\x02" + b"\x8e" + (2**60).to_bytes(8, "little") + b".",  # BINBYTES8 claiming 2^60 bytes
])
def test_damaged_pickles_are_one_line(damage):
    good = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, protocol=4)
    with refused(r"batch|pickle", peak_below=16 * MiB):
        load_array_pickle(damage(good), "batch")


# ---- IDX ---------------------------------------------------------------------------------------------------


def _idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def test_idx_dims_whose_product_overflows_are_refused(tmp_path):
    """(2^31, 2^31, 4) is 2^64 bytes, which overflowed int64 to 0 and escaped as a ValueError."""
    path = tmp_path / "t"
    path.write_bytes(_idx_header(0x08, (2**31, 2**31, 4)))
    with refused(r"promises 18446744073709551616 data bytes for shape \(2147483648, 2147483648, 4\)"):
        read_idx(path)


def test_idx_with_an_empty_dimension_beside_huge_ones_is_one_line(tmp_path):
    """Found by benchmarks/fuzz.py: a zero among dims whose other product overflows numpy's index type made
    numpy's reshape raise ValueError ("array is too big") on an empty body."""
    path = tmp_path / "t"
    path.write_bytes(_idx_header(0x08, (2, 3, 0, 2**31, 2**31, 2**31)))
    with refused(r"holds no values"):
        read_idx(path)


def test_idx_with_more_dimensions_than_an_array_can_have_is_one_line(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(_idx_header(0x08, (1,) * 200) + b"\x07")
    with refused("200 dimensions"):
        read_idx(path)


def _gzip_of_zeros(header: bytes, n_zeros: int, path: Path) -> Path:
    """A gzip file of ``header`` and ``n_zeros`` zero bytes, compressed chunk by chunk (about 1000x)."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(n_zeros // MiB):
            f.write(bytes(MiB))
    return path


def test_gzipped_idx_expanding_past_the_limit_is_refused_before_decompressing(tmp_path, monkeypatch):
    """The issue's 2 MB gzip that expands to 2 GiB, at 17 KiB -> 17 MiB: refused from its header alone,
    and loads when AEKIT_MAX_DATA_BYTES allows it."""
    path = _gzip_of_zeros(_idx_header(0x08, (17, 1024, 1024)), 17 * MiB, tmp_path / "bomb.gz")
    assert path.stat().st_size < 100_000
    with refused(rf"declares \d+ bytes of data from {path.stat().st_size} compressed bytes.*{LIMIT_ENV}="):
        read_idx(path)
    monkeypatch.setenv(LIMIT_ENV, str(18 * MiB))
    assert read_idx(path).shape == (17, 1024, 1024)


def test_a_limit_that_is_not_a_number_is_one_line(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    monkeypatch.setenv(LIMIT_ENV, "lots")
    with pytest.raises(AekitError, match=f"{LIMIT_ENV}='lots' is not a number of bytes"):
        read_idx(path)


def test_gzipped_idx_is_decompressed_only_up_to_its_declared_size(tmp_path):
    """Trailing data after the declared array is reported without inflating it all (a bounded peek)."""
    path = _gzip_of_zeros(_idx_header(0x08, (4,)) + bytes(4), 32 * MiB, tmp_path / "long.gz")
    with refused("at least 65536 unexpected bytes after the data", peak_below=2 * MiB):
        read_idx(path)


def test_idx_round_trip_is_unchanged(tmp_path):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for name in ("a", "a.gz"):
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, a)), a)


# ---- .npy / .npz -------------------------------------------------------------------------------------------


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    f = io.BytesIO()
    npformat.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


def test_npy_header_claiming_4_tib_is_refused_before_allocating(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_header((2**40,)) + bytes(16))
    with refused(r"declares 4398046511104 bytes of data but the file holds 16"):
        READERS["npy"].read(path, "train")


@pytest.mark.parametrize("version, width", [(1, 2), (2, 4), (3, 4)])
def test_npy_header_length_beyond_the_file_is_refused_before_reading_it(tmp_path, version, width):
    """Found by benchmarks/fuzz.py: a 178-byte .npy whose length field declared a 662 MB header made numpy ask the
    file for all of it at once, and the buffered read allocated 662 MB before failing."""
    declared = 2 ** (8 * width) - 1  # the largest length the field can hold
    path = tmp_path / "x.npy"
    path.write_bytes(b"\x93NUMPY" + bytes([version, 0]) + declared.to_bytes(width, "little") + b"{'descr': '<f4'" + bytes(100))
    with refused(rf"header claims {declared} bytes, more than the file holds", peak_below=MiB):
        READERS["npy"].read(path, "train")


def test_npz_member_header_claiming_4_tib_is_refused_before_allocating(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy_header((2**40,)) + bytes(16))
    with refused(r"array 'x'.*declares 4398046511104 bytes"):
        READERS["npz"].read(path, "train")


def test_deflated_npz_member_expanding_past_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    np.savez_compressed(path, x=np.zeros((17, MiB), np.uint8))
    assert path.stat().st_size < 100_000
    with refused(rf"array 'x'.*compressed bytes.*{LIMIT_ENV}="):
        READERS["npz"].read(path, "train")
    monkeypatch.setenv(LIMIT_ENV, str(18 * MiB))
    assert READERS["npz"].read(path, "train").x.shape == (17, MiB)


_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x03\x08\x02\x00\x00\x00;\x969\x91\x00\x00\x00"
        b"\x0cIDATx\x9cc\x94cx\xc8\x00\x03L\x0cH\x00\x00\x00;\x969\x91\x00\x00\x00\x14IDATx\x9cc\x94cx\xc8\x00\x03L\x0c"
        b"H\x00\x85\x03\x00$\xb4\x01\x05o\x9b\xfes\x00\x00\x00\x00IEND\xaeB`\x82\x9b\xfes\x00\x00\x00\x00IEND\xaeB`\x82")


def _npz_bytes() -> bytes:
    f = io.BytesIO()
    np.savez(f, x=np.arange(12.0).reshape(3, 4))
    return f.getvalue()


def _unknown_compression(zip_bytes: bytes) -> bytes:
    """The zip with its one member's compression method set to 99, which zipfile does not know."""
    local, central = zip_bytes.index(b"PK\x03\x04"), zip_bytes.index(b"PK\x01\x02")
    data = bytearray(zip_bytes)
    data[local + 8:local + 10] = data[central + 10:central + 12] = (99).to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize("name, blob, escaped_before", [
    ("x.npz", _npz_bytes()[:-30], "BadZipFile"),
    ("x.npy", _npz_bytes(), "AttributeError: an .npz named .npy"),
    ("x.npy", _npy_header((3,)).replace(b"'shape'", b"'shape\xff") + bytes(12), "a header that is not a dict"),
    ("x.npz", _unknown_compression(_npz_bytes()), "NotImplementedError: compression method 99"),
    ("folder/cat/1.png", _PNG, "SyntaxError from Pillow"),
    ("x.tar.gz", b"\x1f\x8b\x08", "TypeError from tarfile's gzip stream (an image tar)"),
])
def test_damaged_data_files_are_one_line_naming_the_file(tmp_path, name, blob, escaped_before):
    from aekit.data.sources import reader_for

    file = tmp_path / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(blob)
    path = tmp_path / Path(name).parts[0]
    with pytest.raises(AekitError) as e:
        reader_for(path).read(path, "train")
    assert "\n" not in str(e.value) and Path(name).name in str(e.value), escaped_before


def test_a_png_declaring_a_gigapixel_image_is_refused_before_decoding(tmp_path):
    """Pillow allows 89 megapixels before its own warning; a 100-byte PNG may not claim 16 MiB of pixels."""
    from PIL import Image

    from aekit.data.images import decode_image

    f = io.BytesIO()
    Image.new("L", (4096, 4097)).save(f, format="PNG")
    assert len(f.getvalue()) < 100_000
    with refused(r"image big.png declares 16781312 bytes"):
        decode_image(f.getvalue(), "big.png")


def _tar_gz_of_zeros(path: Path, member: str, n_bytes: int) -> Path:
    import tarfile

    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(member)
        info.size = n_bytes
        tf.addfile(info, io.BytesIO(bytes(n_bytes)))
    return path


def test_a_text_corpus_tar_with_a_cut_gzip_header_is_one_line(tmp_path):
    from aekit.data.text import read_corpus

    path = tmp_path / "corpus.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08")  # escaped as TypeError: ord() expected a character
    with pytest.raises(AekitError, match="corpus.tar.gz is not a readable tar archive"):
        read_corpus(path)


@pytest.mark.parametrize("member", ["a/1.png", "train/a/1.txt"])
def test_tar_gz_member_expanding_past_the_limit_is_refused_before_reading_it(tmp_path, member):
    """A 17 KiB .tar.gz whose one member is 17 MiB of zeros (image tars and text corpora alike)."""
    from aekit.data.images import read_image_tree
    from aekit.data.text import read_corpus

    path = _tar_gz_of_zeros(tmp_path / "bomb.tar.gz", member, 17 * MiB)
    assert path.stat().st_size < 100_000
    read = read_corpus if member.endswith(".txt") else lambda p: read_image_tree(p, cache=False)
    with refused(rf"bomb.tar.gz declares 17825792 bytes of data from {path.stat().st_size} compressed bytes",
                 peak_below=4 * MiB):  # tarfile's stream buffers; the member alone is 17 MiB
        read(path)


# ---- downloads ---------------------------------------------------------------------------------------------


def test_offline_download_leaves_no_folder_it_created(tmp_path):
    """Offline, `aekit download mnist` left an empty <root>/mnist folder behind."""
    root = tmp_path / "new" / "data"
    with pytest.raises(AekitError, match="could not download"):
        download("mnist", data_dir=root, base_url="http://127.0.0.1:9/", timeout=5)
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(AekitError, match="could not download"):
        download("cifar10", data_dir=existing, base_url="http://127.0.0.1:9/", timeout=5)
    assert existing.is_dir() and list(existing.iterdir()) == []  # the user's folder stays, nothing in it
