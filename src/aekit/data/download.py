"""``aekit download NAME``: fetch a named dataset's official files into the data root, verified.

Each file is streamed to a temporary file next to its destination while its checksum is computed, and
renamed into place only when the checksum matches the table in :mod:`aekit.data.catalog`: an interrupted
or corrupted download leaves nothing under the real name. Files already present with the right checksum
are skipped, so the command is safe to re-run. CIFAR-10's archive is verified (MD5 published with the
dataset), then only the seven expected members are copied out by base name (no path from the archive is
ever used as a destination, so no traversal); their SHA-256 are recorded in ``SHA256SUMS`` so a re-run can
verify them without the archive. ``base_url`` replaces the canonical location (a mirror, or a local test
server); ``file://`` URLs work too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from aekit.data.catalog import REMOTES, Remote, RemoteFile
from aekit.atomic import atomic_path, write_bytes_atomic
from aekit.data.location import data_root
from aekit.errors import AekitError

NO_DOWNLOAD = {
    "digits": "digits is bundled with scikit-learn and needs no download",
    "lines": "lines is generated on the fly and needs no download",
}
SUMS_FILE = "SHA256SUMS"
_CHUNK = 1 << 20


def download(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    log: Callable[[str], None] | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Download ``name`` into ``<data root>/<name>/`` and return the dataset's files there.

    ``log`` receives one line per step (the CLI passes a printer); digits and lines return ``[]``.
    """
    say = log or (lambda _msg: None)
    key = str(name).lower()
    if key in NO_DOWNLOAD:
        say(NO_DOWNLOAD[key])
        return []
    remote = REMOTES.get(key)
    if remote is None:
        raise AekitError(
            f"cannot download {name!r}; downloadable datasets: {', '.join(REMOTES)} (digits and lines need no download)"
        )
    folder = data_root(data_dir) / remote.folder
    base = (base_url or remote.base_url).rstrip("/") + "/"
    with _new_folders_removed_on_error(folder):
        if remote.members:
            return _download_archive(key, remote, folder, base, say, timeout)
        return _download_files(key, remote, folder, base, say, timeout)


@contextlib.contextmanager
def _new_folders_removed_on_error(folder: Path) -> Iterator[None]:
    """A failed download leaves no folder it created (an offline first try left an empty ``<root>/mnist``,
    which later looked like a dataset with its files missing); folders that existed are left alone."""
    new = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        for p in new:
            with contextlib.suppress(OSError):  # not empty (a file completed before the failure): kept
                p.rmdir()
        raise


def _download_files(key: str, remote: Remote, folder: Path, base: str, say: Callable[[str], None],
                    timeout: float) -> list[Path]:
    out = []
    for f in remote.files:
        dest = folder / f.name
        if dest.is_file() and _matches(dest, f):
            say(f"{key}: {dest} already present, checksum ok")
        else:
            url = base + (f.url_path or f.name)
            say(f"{key}: downloading {url}")
            _fetch_verified(url, dest, f, timeout)
        out.append(dest)
    return out


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _expected(f: RemoteFile) -> tuple[str, str]:
    return ("sha256", f.sha256) if f.sha256 else ("md5", f.md5 or "")


def _matches(path: Path, f: RemoteFile) -> bool:
    algorithm, want = _expected(f)
    return file_digest(path, algorithm) == want


def _fetch_verified(url: str, dest: Path, f: RemoteFile, timeout: float) -> None:
    """Stream ``url`` into a temp file beside ``dest``; rename to ``dest`` only if the checksum matches."""
    algorithm, want = _expected(f)
    with atomic_path(dest) as tmp:
        h = hashlib.new(algorithm)
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "aekit"})
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise AekitError(
                f"could not download {url} ({reason}); check the connection, or pass --base-url URL (base_url= in "
                f"Python): a mirror that serves {f.name}"
            ) from None
        got = h.hexdigest()
        if got != want:
            raise AekitError(
                f"checksum mismatch for {url}: expected {algorithm} {want}, got {got}; the download is corrupted or "
                "the server sent another file, and nothing was saved; try again or use another mirror"
            )


def _download_archive(key: str, remote: Remote, folder: Path, base: str, say: Callable[[str], None], timeout: float) -> list[Path]:
    names = [m.rsplit("/", 1)[-1] for m in remote.members]
    dests = [folder / n for n in names]
    if _sums_ok(folder, names):
        say(f"{key}: files in {folder} already present, checksums ok")
        return dests
    archive = remote.files[0]
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        say(f"{key}: downloading {base}{archive.name}")
        _fetch_verified(base + archive.name, tmp, archive, timeout)  # renamed over tmp only when verified
        say(f"{key}: extracting {len(names)} files into {folder}")
        sums = []
        try:
            with tarfile.open(tmp, "r:*") as tf:
                for member_name, dest in zip(remote.members, dests):
                    member = tf.getmember(member_name)
                    src = tf.extractfile(member) if member.isfile() else None
                    if src is None:
                        raise AekitError(f"{archive.name} member {member_name} is not a regular file; the archive is not the official one")
                    data = src.read()
                    write_bytes_atomic(dest, data)
                    sums.append(f"{hashlib.sha256(data).hexdigest()}  {dest.name}")
        except KeyError as e:
            raise AekitError(f"{archive.name} lacks {e}; the archive is not the official one, use another mirror") from None
        except tarfile.TarError as e:
            raise AekitError(f"{archive.name} cannot be read as a tar archive ({e}); try again or use another mirror") from None
        write_bytes_atomic(folder / SUMS_FILE, ("\n".join(sums) + "\n").encode())
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dests


def _sums_ok(folder: Path, names: list[str]) -> bool:
    sums_path = folder / SUMS_FILE
    if not sums_path.is_file():
        return False
    sums = {}
    for line in sums_path.read_text().splitlines():
        digest, _, fname = line.partition("  ")
        sums[fname.strip()] = digest.strip()
    return all(n in sums and (folder / n).is_file() and file_digest(folder / n) == sums[n] for n in names)
