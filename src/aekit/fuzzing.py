"""The fuzz targets: every parser of a file a user hands aekit, and the rule each must keep on any bytes.

The rule (issue 17): on any input a parser either returns or raises :class:`aekit.AekitError`; nothing
else may escape, no input may take more than ``TIME_LIMIT_S``, and no input may make it allocate more than
``peak_bound(len(input))`` bytes as seen by ``tracemalloc`` (Python and numpy allocations) or more than
``ADDRESS_SPACE_CAP`` of new address space (everything else, torch included, enforced with
``RLIMIT_AS``: an allocation beyond it fails and counts as over-bound).

A target is a name, seed inputs (small valid files) and ``parse(data, folder)``, which writes ``data``
under an empty ``folder`` and reads it as a user's command would. Targets join by registering:
:func:`register_target` for a parser of bytes, and every path reader registered with
:func:`aekit.data.sources.register_reader` with ``samples`` becomes one target per sample, automatically.
``tests/test_fuzz.py`` runs each target for a short hypothesis budget in CI and ``benchmarks/fuzz.py``
runs >= 10^5 inputs per target (mutations of the seeds, or atheris' coverage guidance).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import resource
import shutil
import signal
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from aekit.errors import AekitError
from aekit.io import CHECKPOINT, CONFIG, WEIGHTS

TIME_LIMIT_S = 2.0  # slower than this is a "slow" input
STUCK_S = 10.0  # an input still running after this is interrupted and counted as an escape (a hang)
ADDRESS_SPACE_CAP = 2 << 30  # new address space an input may map (torch and other untraced allocations)


def peak_bound(n_bytes: int) -> int:
    """The most bytes ``tracemalloc`` may see allocated at once while parsing an ``n_bytes`` input: 32 MiB
    plus 64 bytes per input byte (a CSV number of two bytes becomes an 8-byte float, copied a few times)."""
    return (32 << 20) + 64 * n_bytes


@dataclass(frozen=True)
class FuzzTarget:
    name: str
    seeds: Callable[[], list[bytes]]  # small valid inputs (built lazily: some need a trained run)
    parse: Callable[[bytes, Path], Any]  # write the bytes under an empty folder and read them as aekit does


_REGISTERED: dict[str, FuzzTarget] = {}


def register_target(name: str, seeds: Callable[[], list[bytes]]) -> Callable[[Callable[[bytes, Path], Any]], Any]:
    """Decorator on ``parse(data, folder)``: makes it a fuzz target named ``name`` with these ``seeds``."""

    def wrap(parse: Callable[[bytes, Path], Any]) -> Callable[[bytes, Path], Any]:
        _REGISTERED[name] = FuzzTarget(name, seeds, parse)
        return parse

    return wrap


def targets() -> dict[str, FuzzTarget]:
    """Every fuzz target: the registered ones and one per sample of every path reader that declares samples."""
    found = dict(_REGISTERED)
    for reader in _readers().values():
        for relative, blob in (reader.samples() if reader.samples else {}).items():
            found[f"read {reader.name}: {relative}"] = FuzzTarget(
                f"read {reader.name}: {relative}", (lambda blob=blob: [blob]), _path_parse(reader, relative))
    return found


def readers_without_samples() -> list[str]:
    """Path readers the harness cannot fuzz because they declare no samples (a test keeps this empty)."""
    return sorted(r.name for r in _readers().values() if r.samples is None)


def _readers() -> dict[str, Any]:
    """The registered path readers (the text-folder reader registers when aekit.data.text is imported)."""
    import aekit.data.text  # noqa: F401
    from aekit.data.sources import READERS

    return READERS


def _path_parse(reader: Any, relative: str) -> Callable[[bytes, Path], Any]:
    def parse(data: bytes, folder: Path) -> Any:
        from aekit.data.registry import load

        file = folder / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        # as `--data PATH` loads it: the reader chosen by its `accepts`, then the dataset's own checks
        return load(folder / Path(relative).parts[0], "train", scale="raw")

    return parse


# ---- running one input -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    escaped: str | None  # "TypeName: message" of an exception other than AekitError, else None
    seconds: float
    peak_bytes: int  # tracemalloc's peak while parsing

    def slow(self) -> bool:
        return self.seconds > TIME_LIMIT_S

    def over_bound(self, n_bytes: int) -> bool:
        return self.peak_bytes > peak_bound(n_bytes) or (self.escaped or "").startswith("MemoryError")


def warm_up(target: FuzzTarget) -> None:
    """Parse each seed once, unmeasured: the imports and caches a first parse pays are not the parser's time."""
    for seed in target.seeds():
        run_input(target, seed, trace=False)


class _Stuck(BaseException):
    """Raised by the alarm in an input that runs past STUCK_S (BaseException: no parser may swallow it)."""


def run_input(target: FuzzTarget, data: bytes, trace: bool = True) -> Outcome:
    """Parse ``data`` with ``target`` in a fresh folder (removed after), with the time and memory caps."""
    folder = Path(tempfile.mkdtemp(prefix="aekit-fuzz-"))
    escaped = None
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), _environment(folder), address_space_cap(), _alarm(STUCK_S), \
                _traced(trace) as peak:
            warnings.simplefilter("ignore")  # a parser may warn (invalid UTF-8 replaced): allowed, and noisy
            try:
                target.parse(data, folder)
            except AekitError:
                pass
            except _Stuck:
                escaped = f"hang: still running after {STUCK_S:.0f} s"
            except Exception as e:  # noqa: BLE001  what we are looking for: anything but AekitError
                escaped = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Outcome(escaped, time.perf_counter() - start, peak[0])


@contextlib.contextmanager
def _environment(folder: Path) -> Iterator[None]:
    """Decoded caches go into the input's folder, so fuzzing writes nothing anywhere else."""
    old = os.environ.get("AEKIT_CACHE")
    os.environ["AEKIT_CACHE"] = str(folder / ".cache")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("AEKIT_CACHE", None)
        else:
            os.environ["AEKIT_CACHE"] = old


@contextlib.contextmanager
def _traced(trace: bool) -> Iterator[list[int]]:
    peak = [0]
    if not trace:
        yield peak
        return
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield peak
    finally:
        peak[0] = max(0, tracemalloc.get_traced_memory()[1] - base)
        if not was_tracing:
            tracemalloc.stop()


def _mapped_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


@contextlib.contextmanager
def address_space_cap(extra: int = ADDRESS_SPACE_CAP) -> Iterator[None]:
    """Lower the soft RLIMIT_AS to what is mapped now plus ``extra`` bytes (Linux), then restore it: an
    allocation beyond fails with MemoryError instead of taking the machine's memory."""
    if not os.path.exists("/proc/self/statm"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def stuck(signum: int, frame: Any) -> None:
        raise _Stuck()

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---- mutations -------------------------------------------------------------------------------------------

# integers that break parsers: zero, one, the edges of signed/unsigned 8/16/32/64-bit, 2^28 (a memo index)
_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 2**28, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1)


# JSON values that break readers of JSON: wrong types, huge and negative numbers, empty and nested containers
_JSON_VALUES = (None, True, -5, 0, 250.5, 2**31, 2**63, 1e308, float("nan"), "", "1000", [], {}, ["1000", 250.5],
                {"x": [1]}, [[[[[]]]]])


def mutate(seed: bytes, rng: random.Random, others: list[bytes] | None = None) -> bytes:
    """A damaged copy of ``seed``: for a JSON seed, half the time a value replaced by a hostile one or a
    key removed (bytes-level damage rarely gets past the JSON parser); otherwise 1 to 4 of flips,
    interesting integers written over, truncation, insertion, deletion, duplication, or a splice with
    another seed."""
    if rng.random() < 0.5:
        damaged = _mutate_json(seed, rng)
        if damaged is not None:
            return damaged
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data) + 1)
        kind = rng.randrange(8)
        if kind == 0 and data:  # flip bits
            i = min(pos, len(data) - 1)
            data[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:  # a random byte
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif kind == 2:  # an interesting integer, any width and byte order
            width = rng.choice((1, 2, 4, 8))
            value = rng.choice(_INTERESTING) % (1 << (8 * width))
            data[pos:pos + width] = value.to_bytes(width, rng.choice(("big", "little")))
        elif kind == 3:  # truncate
            del data[pos:]
        elif kind == 4:  # insert random bytes
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif kind == 5:  # delete a range
            del data[pos:pos + rng.randint(1, 64)]
        elif kind == 6 and data:  # duplicate a range
            chunk = data[pos:pos + rng.randint(1, 64)]
            data[pos:pos] = chunk
        elif kind == 7 and others:  # splice with another seed
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
    return bytes(data)


def _mutate_json(seed: bytes, rng: random.Random) -> bytes | None:
    """``seed`` parsed as JSON with 1 to 3 values replaced by hostile ones or keys dropped; None if not JSON."""
    try:
        doc = json.loads(seed)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return None
    for _ in range(rng.randint(1, 3)):
        slots = list(_json_slots(doc))
        if not slots:
            break
        container, key = rng.choice(slots)
        if isinstance(container, dict) and rng.random() < 0.25:
            del container[key]
        else:
            container[key] = copy.deepcopy(rng.choice(_JSON_VALUES))  # a fresh copy: shared, it could nest in itself
    return json.dumps(doc).encode()


def _json_slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value inside a JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        yield node, key
        yield from _json_slots(value)


def inputs(target: FuzzTarget, n: int, seed: int = 0) -> Iterator[bytes]:
    """``n`` inputs for ``target``: its seeds, then mutations of them (deterministic in ``seed``)."""
    seeds = target.seeds()
    rng = random.Random(seed)
    for i in range(n):
        yield seeds[i] if i < len(seeds) else mutate(rng.choice(seeds), rng, seeds)


# ---- the targets that are not path readers -----------------------------------------------------------------


def _idx_seeds() -> list[bytes]:
    import numpy as np

    from aekit.data.idx import write_idx

    with tempfile.TemporaryDirectory() as d:
        images = write_idx(Path(d) / "i", np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)).read_bytes()
        labels = write_idx(Path(d) / "l.gz", np.array([1, 0], np.uint8)).read_bytes()
        floats = write_idx(Path(d) / "f", np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)).read_bytes()
    return [images, labels, floats]


@register_target("idx", _idx_seeds)
def _parse_idx(data: bytes, folder: Path) -> Any:
    from aekit.data.idx import read_idx

    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(data)
    return read_idx(path)


def _cifar_seeds() -> list[bytes]:
    import pickle

    import numpy as np

    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [3, 8],
             b"data": np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072),
             b"filenames": [b"a.png", b"b.png"]}
    return [pickle.dumps(batch, protocol=2), pickle.dumps({"labels": [1], "data": np.zeros((1, 3072), np.uint8)},
                                                          protocol=4)]


@register_target("cifar batch (restricted unpickler)", _cifar_seeds)
def _parse_cifar(data: bytes, folder: Path) -> Any:
    from aekit.data.cifar import read_cifar_batch

    path = folder / "data_batch_1"
    path.write_bytes(data)
    return read_cifar_batch(path)


@cache
def _tiny_run_files() -> dict[str, bytes]:
    """The files of a run of a tiny ae (trained once per process, 2 epochs on 16 random vectors)."""
    import torch

    import aekit
    from aekit.data.dataset import ArrayDataset

    data = ArrayDataset(x=torch.rand(16, 6, generator=torch.Generator().manual_seed(0)))
    with tempfile.TemporaryDirectory() as d:
        aekit.train("ae", data, out=Path(d) / "run", evaluate=False, latent_dim=2, hidden=[4], epochs=2,
                    progress=False)
        return {p.name: p.read_bytes() for p in (Path(d) / "run").iterdir() if p.is_file()}


def _run_file_target(name: str, load: Callable[[Path], Any]) -> None:
    def seeds() -> list[bytes]:
        return [_tiny_run_files()[name]]

    def parse(data: bytes, folder: Path) -> Any:
        run = folder / "run"
        run.mkdir()
        for file, blob in _tiny_run_files().items():
            (run / file).write_bytes(data if file == name else blob)
        return load(run)

    register_target(f"run {name}", seeds)(parse)


def _load_run(run: Path) -> Any:
    import aekit

    return aekit.load(run)


def _load_checkpoint(run: Path) -> Any:
    from aekit.train.checkpoint import load_checkpoint

    return load_checkpoint(run / CHECKPOINT)


_run_file_target(CONFIG, _load_run)
_run_file_target(WEIGHTS, _load_run)
_run_file_target(CHECKPOINT, _load_checkpoint)
