"""Facts about the named datasets' files: where they live under the data root, where they are downloaded
from, and their checksums. The loader and the downloader both read this table, so a file the downloader
writes is exactly a file the loader looks for.

MNIST and Fashion-MNIST checksums are the official files' SHA-256 (their MD5s match the official ones);
CIFAR-10's archive is checked against the MD5 published on its home page. 20 Newsgroups "bydate" is the
archive scikit-learn's ``fetch_20newsgroups`` downloads (J. Rennie's 20news-bydate.tar.gz, served by
figshare), checked against the SHA-256 scikit-learn publishes; it is kept as downloaded (one .tar.gz) and
read without extracting it.
"""

from __future__ import annotations

from dataclasses import dataclass

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/"
FIGSHARE_URL = "https://ndownloader.figshare.com/"


@dataclass(frozen=True)
class RemoteFile:
    """One file as served: its name at ``<base url><name>`` and its checksum (sha256 preferred, else md5).

    ``url_path`` replaces ``name`` in the URL where the server does not use the file's name (figshare's
    ``files/<id>``); the file is still saved as ``name``."""

    name: str
    sha256: str | None = None
    md5: str | None = None
    url_path: str | None = None


@dataclass(frozen=True)
class Remote:
    """A downloadable dataset: files fetched from ``base_url`` into ``<root>/<folder>``; for an archive,
    ``members`` are the archive paths extracted (by base name) into that folder; the archive is not kept."""

    folder: str
    base_url: str
    files: tuple[RemoteFile, ...]
    members: tuple[str, ...] = ()


def idx_file(split: str, kind: str) -> str:
    """IDX file name (without .gz) of MNIST-style datasets: ``train-images-idx3-ubyte`` ... ``t10k-labels-idx1-ubyte``."""
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte" if kind == "images" else f"{prefix}-labels-idx1-ubyte"


REMOTES: dict[str, Remote] = {
    "mnist": Remote(
        "mnist",
        MNIST_URL,
        (
            RemoteFile("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            RemoteFile("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ),
    ),
    "fashion-mnist": Remote(
        "fashion-mnist",
        FASHION_URL,
        (
            RemoteFile("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            RemoteFile("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ),
    ),
    "cifar10": Remote(
        "cifar10",
        CIFAR10_URL,
        (RemoteFile("cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a"),),
        members=tuple(
            f"cifar-10-batches-py/{n}"
            for n in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")
        ),
    ),
    "20newsgroups": Remote(
        "20newsgroups",
        FIGSHARE_URL,
        (RemoteFile("20news-bydate.tar.gz", "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610",
                    url_path="files/5975967"),),
    ),
}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(d) for d in range(10)]
