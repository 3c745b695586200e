"""Fuzz every parser of a user's file (issue 17, item 7): counts of inputs, escapes, slow and over-bound inputs.

The targets are aekit.fuzzing's registry: the IDX reader, the CIFAR restricted unpickler, every path
reader registered with samples (.npy, .npz, CSV/TSV, image folder and tar, text folder), a run's
config.json and model.safetensors through ``aekit.load``, and ``load_checkpoint``. The rule each input
must keep: only AekitError escapes, at most ``TIME_LIMIT_S`` = 2 s, at most ``peak_bound(n)`` = 32 MiB +
64 bytes per input byte of tracemalloc peak, and at most 2 GiB of new address space (RLIMIT_AS).

Engines:

- ``mutate`` (default): the seeds, then deterministic random mutations of them (bit flips, interesting
  integers such as 2^31 and 2^28 written over, cuts, insertions, splices): fast and reproducible;
- ``atheris``: libFuzzer's coverage-guided search over aekit's own code (instrumented), one process per
  target, starting from the same seeds.

    python benchmarks/fuzz.py [--inputs 100000] [--engine mutate|atheris] [--targets idx,npz] [--seed 0]

Writes ``results/fuzz.json`` (merged per target, so targets can be run in parts) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import write_results

# aekit is imported inside the functions: an atheris child must instrument it before its first import


class Tally:
    """The counts of one target's run."""

    def __init__(self, name: str, engine: str):
        self.name, self.engine = name, engine
        self.inputs = self.slow = self.over_bound = 0
        self.escapes: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.max_seconds = 0.0
        self.max_peak = 0
        self.started = time.perf_counter()

    def add(self, data: bytes, outcome) -> None:  # an aekit.fuzzing.Outcome
        self.inputs += 1
        self.slow += outcome.slow()
        self.over_bound += outcome.over_bound(len(data))
        self.max_seconds = max(self.max_seconds, outcome.seconds)
        self.max_peak = max(self.max_peak, outcome.peak_bytes)
        if outcome.escaped:
            kind = outcome.escaped.split(":")[0]
            self.escapes[kind] += 1
            self.examples.setdefault(kind, f"{outcome.escaped} <- {data[:120]!r}")
        for rule, broken in (("slow", outcome.slow()), ("over the bound", outcome.over_bound(len(data)))):
            if broken:  # the input that broke the rule, to reproduce it
                self.examples.setdefault(rule, f"{rule}: {outcome.seconds:.2f} s, peak {outcome.peak_bytes} bytes "
                                               f"<- {data[:120]!r}")

    def row(self) -> dict:
        return {"target": self.name, "engine": self.engine, "inputs": self.inputs,
                "escapes": sum(self.escapes.values()), "slow": self.slow, "over_bound": self.over_bound,
                "max_seconds": round(self.max_seconds, 3), "max_peak_bytes": self.max_peak,
                "seconds": round(time.perf_counter() - self.started, 1),
                "escape_kinds": dict(self.escapes), "examples": self.examples}


def run_mutate(target, n: int, seed: int) -> dict:
    from aekit import fuzzing

    tally = Tally(target.name, "mutate")
    fuzzing.warm_up(target)
    for data in fuzzing.inputs(target, n, seed):
        tally.add(data, fuzzing.run_input(target, data))
    return tally.row()


def run_atheris(name: str, n: int, seed: int) -> dict:
    """Fuzz one target with atheris in a child process (libFuzzer owns the process and exits at the end)."""
    with tempfile.TemporaryDirectory(prefix="aekit-atheris-") as d:
        out = Path(d) / "row.json"
        cmd = [sys.executable, __file__, "--atheris-child", name, "--inputs", str(n), "--seed", str(seed),
               "--row", str(out)]
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not out.exists():
            return {"target": name, "engine": "atheris", "inputs": 0, "escapes": None,
                    "error": "the atheris child wrote no counts (crashed, or atheris is not installed)"}
        return json.loads(out.read_text())


def atheris_child(name: str, n: int, seed: int, row: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["aekit"]):  # coverage of aekit's own code guides the search
        import aekit.fuzzing as instrumented

    target = instrumented.targets()[name]
    tally = Tally(name, "atheris")
    instrumented.warm_up(target)
    corpus = Path(tempfile.mkdtemp(prefix="aekit-corpus-"))
    seeds = target.seeds()
    for i, blob in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(blob)

    def one_input(data: bytes) -> None:
        tally.add(data, instrumented.run_input(target, data))
        if tally.inputs >= n:
            row.write_text(json.dumps(tally.row()))
            os._exit(0)

    max_len = max(4096, 2 * max(len(s) for s in seeds))
    # -timeout=0 and -rss_limit_mb=0: run_input enforces time (SIGALRM) and memory (RLIMIT_AS) itself
    atheris.Setup([sys.argv[0], f"-runs={n + len(seeds) + 1}", f"-seed={seed + 1}", f"-max_len={max_len}",
                   "-timeout=0", "-rss_limit_mb=0", str(corpus)], one_input)
    atheris.Fuzz()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=100_000, help="inputs per target (default 10^5)")
    p.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    p.add_argument("--targets", default="", help="comma-separated substrings of target names (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--atheris-child", help=argparse.SUPPRESS)
    p.add_argument("--row", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.atheris_child:
        atheris_child(args.atheris_child, args.inputs, args.seed, Path(args.row))
        return
    from aekit import fuzzing

    wanted = [w.strip() for w in args.targets.split(",") if w.strip()]
    targets = {k: t for k, t in fuzzing.targets().items() if not wanted or any(w in k for w in wanted)}
    rule = {"time_limit_s": fuzzing.TIME_LIMIT_S, "peak_bound": "32 MiB + 64 bytes per input byte (tracemalloc)",
            "address_space_cap_bytes": fuzzing.ADDRESS_SPACE_CAP}
    rows, path = [], None
    for name, target in targets.items():
        row = run_mutate(target, args.inputs, args.seed) if args.engine == "mutate" else \
            run_atheris(name, args.inputs, args.seed)
        rows.append(row)
        print(f"{name}: {row['inputs']} inputs, {row['escapes']} escapes, {row.get('slow')} slow, "
              f"{row.get('over_bound')} over the bound", flush=True)
        for example in row.get("examples", {}).values():
            print(f"    {example}", flush=True)
        path = write_results("fuzz", {"rule": rule, "targets": {f"{row['target']} [{row['engine']}]": row}},
                             merge=True)  # after every target: an interrupted run keeps what it counted
    from aekit.eval import format_table

    columns = ["target", "engine", "inputs", "escapes", "slow", "over_bound", "max_seconds", "max_peak_bytes",
               "seconds"]
    print(format_table(rows, columns))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
