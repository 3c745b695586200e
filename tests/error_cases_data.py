"""Catalogue cases: damaged and hostile data files (see tests/errcase.py), each given to `aekit train`.

"data files" are files that are broken; "resource limits" are files whose headers ask for far more memory
than they hold (the issue's 231-byte CIFAR batch asking for 6 GB, the 9-byte pickle asking for 4.6 GB, the
IDX dims that overflow, the gzip bomb, the .npy of 4 TiB): each is refused from its header, before anything
is allocated or decompressed.
"""
from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from errcase import Case
from numpy.lib import format as npformat

MiB = 1 << 20


def _train(path: Path, tmp: Path, *extra: str) -> list:
    return ["train", "ae", "--data", path, *extra, "--epochs", "1", "--out", tmp / "R"]


def _file(tmp: Path, name: str, blob: bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def _npy_header(shape: tuple[int, ...]) -> bytes:
    f = io.BytesIO()
    npformat.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return f.getvalue()


def _npz(**arrays) -> bytes:
    f = io.BytesIO()
    np.savez(f, **arrays)
    return f.getvalue()


def _png(size=(4, 3)) -> bytes:
    from PIL import Image

    f = io.BytesIO()
    Image.new("RGB", size, (10, 0, 245)).save(f, format="PNG")
    return f.getvalue()


def _idx(dims: tuple[int, ...], body: bytes = b"") -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + body


def _mnist(tmp: Path, images: bytes, gzipped: bool = True) -> list:
    """A data root whose mnist/ holds ``images`` as the train images and 2 good labels."""
    name = "train-images-idx3-ubyte" + (".gz" if gzipped else "")
    _file(tmp, f"root/mnist/{name}", images)
    _file(tmp, "root/mnist/train-labels-idx1-ubyte", bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 7]))
    return ["train", "ae", "--data", "mnist", "--data-dir", tmp / "root", "--epochs", "1", "--out", tmp / "R"]


def _cifar(tmp: Path, pickled: bytes) -> list:
    _file(tmp, "root/cifar10/data_batch_1", pickled)
    return ["train", "ae", "--data", "cifar10", "--data-dir", tmp / "root", "--epochs", "1", "--out", tmp / "R"]


class _Reduce:
    """Pickles as ``callable(*args)``."""

    def __init__(self, callable_, *args):
        self.call = (callable_, args)

    def __reduce__(self):
        return self.call


def _zip_method_99(blob: bytes) -> bytes:
    local, central = blob.index(b"PK\x03\x04"), blob.index(b"PK\x01\x02")
    data = bytearray(blob)
    data[local + 8:local + 10] = data[central + 10:central + 12] = (99).to_bytes(2, "little")
    return bytes(data)


def _gzip_of_zeros(header: bytes, n_zeros: int) -> bytes:
    f = io.BytesIO()
    with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9) as z:
        z.write(header)
        for _ in range(n_zeros // MiB):
            z.write(bytes(MiB))
    return f.getvalue()


def _deflate_bomb_npz() -> bytes:
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z, z.open("x.npy", "w") as m:
        m.write(_npy_header((17 * MiB // 4,)))
        for _ in range(17):
            m.write(bytes(MiB))
    return f.getvalue()


def _truncated_tar() -> bytes:
    f = io.BytesIO()
    with tarfile.open(fileobj=f, mode="w:gz") as tf:
        for name in ("a/1.png", "b/2.png"):
            blob = _png()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return f.getvalue()[:-40]


def _tar_gz_bomb() -> bytes:
    f = io.BytesIO()
    with tarfile.open(fileobj=f, mode="w:gz") as tf:
        info = tarfile.TarInfo("a/1.png")
        info.size = 17 * MiB
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    return f.getvalue()


_BROKEN_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x03\x08\x02\x00\x00\x00;\x969\x91\x00\x00\x00"
    b"\x0cIDATx\x9cc\x94cx\xc8\x00\x03L\x0cH\x00\x00\x00;\x969\x91\x00\x00\x00\x14IDATx\x9cc\x94cx\xc8\x00\x03L\x0c"
    b"H\x00\x85\x03\x00$\xb4\x01\x05o\x9b\xfes\x00\x00\x00\x00IEND\xaeB`\x82\x9b\xfes\x00\x00\x00\x00IEND\xaeB`\x82")


CASES = [
    # ---- damaged files ----
    Case("npz-truncated", "data files", "trained on an .npz file cut short (an interrupted copy)",
         lambda tmp: _train(_file(tmp, "x.npz", _npz(x=np.ones((3, 4)))[:-30]), tmp),
         r"cannot read .*x\.npz as a \.npz file \(BadZipFile"),
    Case("npy-that-is-an-npz", "data files", "gave an .npz archive renamed to .npy",
         lambda tmp: _train(_file(tmp, "x.npy", _npz(x=np.ones((3, 4)))), tmp),
         r"x\.npy is not a readable \.npy array"),
    Case("npz-unknown-compression", "data files", "gave an .npz whose member uses a compression zipfile cannot read",
         lambda tmp: _train(_file(tmp, "x.npz", _zip_method_99(_npz(x=np.ones((3, 4))))), tmp),
         r"cannot read .*x\.npz \(array 'x'\) from the \.npz file"),
    Case("npz-object-array", "data files", "gave an .npz holding an array of Python objects",
         lambda tmp: _train(_file(tmp, "x.npz", _npz(x=np.array([[1, None]], dtype=object))), tmp),
         r"holds Python objects, not numbers"),
    Case("npy-damaged-header", "data files", "gave a .npy whose header is garbled",
         lambda tmp: _train(_file(tmp, "x.npy", _npy_header((3,)).replace(b"'shape'", b"'sh\xffpe'") + bytes(12)),
                            tmp), r"x\.npy is not a readable \.npy array"),
    Case("csv-ragged-rows", "data files", "gave a CSV whose rows have different numbers of columns",
         lambda tmp: _train(_file(tmp, "t.csv", b"1,2,3\n4,5\n"), tmp), r"t\.csv is not a table of numbers \(the number of columns changed from 3 to 2 at row 2\)"),
    Case("csv-not-utf8", "data files", "gave a CSV with bytes that are not text",
         lambda tmp: _train(_file(tmp, "t.csv", b"1,2\n\xff\xfe,3\n"), tmp), r"t\.csv is not a table of numbers \('utf-8' codec can't decode byte 0xff"),
    Case("png-broken-chunk", "data files", "trained on an image folder with a damaged PNG",
         lambda tmp: _train(_file(tmp, "imgs/cat/1.png", _BROKEN_PNG).parents[1], tmp),
         r"cannot decode image .*1\.png \(broken PNG file"),
    Case("image-tar-truncated", "data files", "gave an image archive cut short",
         lambda tmp: _train(_file(tmp, "imgs.tar.gz", _truncated_tar()), tmp),
         r"imgs\.tar\.gz is not a readable tar archive"),
    Case("idx-truncated", "data files", "kept an MNIST image file cut short by an interrupted download",
         lambda tmp: _mnist(tmp, _idx((2, 28, 28), bytes(100)), gzipped=False),
         r"train-images-idx3-ubyte is truncated: the header promises 1568 data bytes .*`aekit download mnist`"),
    Case("cifar-pickle-runs-code", "data files", "put a CIFAR batch that would run a command when unpickled",
         lambda tmp: _cifar(tmp, pickle.dumps(_Reduce(print, "pwned"), protocol=2)),
         r"refusing to unpickle (__builtin__|builtins)\.print: .*could run code"),
    # ---- headers that ask for more than the file holds ----
    Case("cifar-batch-asks-6-gb", "resource limits",
         "put a 231-byte CIFAR batch whose pickle asks numpy for a (2000000, 3072) array",
         lambda tmp: _cifar(tmp, pickle.dumps({b"data": _Reduce(np.ndarray, (2_000_000, 3072), "u1"),
                                               b"labels": _Reduce(np.ndarray, (2_000_000,), "<i8")}, protocol=2)),
         r"asks for an array of shape \(2000000, 3072\) \(6144000000 bytes\), more than the \d+ bytes the file holds"),
    Case("cifar-pickle-memo-bomb", "resource limits", "put a 9-byte CIFAR batch that asks for memo slot 2^28",
         lambda tmp: _cifar(tmp, b"\x80\x02Nr" + (2**28).to_bytes(4, "little") + b"."),
         r"memo index 268435456 but is only 9 bytes long"),
    Case("cifar-pickle-nested-a-million-deep", "resource limits",
         "put a 1 MB CIFAR batch keyed by a tuple nested a million deep (hashing it crashed Python)",
         lambda tmp: _cifar(tmp, b"\x80\x02}N" + b"\x85" * 1_000_000 + b"Ns."),
         r"nests containers more than 100 deep"),
    Case("idx-dims-overflow", "resource limits", "kept an MNIST file whose dims (2^31, 2^31, 4) overflow 64 bits",
         lambda tmp: _mnist(tmp, _idx((2**31, 2**31, 4)), gzipped=False),
         r"promises 18446744073709551616 data bytes for shape \(2147483648, 2147483648, 4\)"),
    Case("idx-gzip-bomb", "resource limits", "kept a gzipped MNIST file that expands a thousandfold",
         lambda tmp: _mnist(tmp, _gzip_of_zeros(_idx((17, 1024, 1024)), 17 * MiB)),
         r"declares \d+ bytes of data from \d+ compressed bytes, over the limit .* set AEKIT_MAX_DATA_BYTES="),
    Case("npy-asks-4-tib", "resource limits", "gave a .npy whose header claims shape (2^40,)",
         lambda tmp: _train(_file(tmp, "x.npy", _npy_header((2**40,)) + bytes(16)), tmp),
         r"x\.npy is truncated or damaged: its header declares 4398046511104 bytes of data but the file holds 16"),
    Case("npz-deflate-bomb", "resource limits", "gave an .npz whose 17 KB member inflates to 17 MB",
         lambda tmp: _train(_file(tmp, "x.npz", _deflate_bomb_npz()), tmp),
         r"x\.npz \(array 'x'\) declares 17825792 bytes of data from \d+ compressed bytes.*AEKIT_MAX_DATA_BYTES"),
    Case("image-tar-bomb", "resource limits", "gave a 17 KB .tar.gz whose one image member is 17 MB of zeros",
         lambda tmp: _train(_file(tmp, "imgs.tar.gz", _tar_gz_bomb()), tmp),
         r"imgs\.tar\.gz declares 17825792 bytes of data from \d+ compressed bytes, over the limit"),
    Case("png-gigapixel", "resource limits", "trained on an image folder with a tiny PNG that declares 4096x4097 pixels",
         lambda tmp: _train(_file(tmp, "imgs/cat/1.png", _png((4096, 4097))).parents[1], tmp),
         r"image .*1\.png declares 50343936 bytes of data from \d+ compressed bytes"),
]
