"""Fuzzing in CI (issue 17, item 7): every fuzz target of aekit.fuzzing keeps the rule on damaged inputs.

Each target gets a short, derandomised hypothesis budget (its seeds mutated, and raw bytes): only
AekitError may escape, no input may take over ``TIME_LIMIT_S``, and tracemalloc's peak must stay within
``peak_bound``. ``benchmarks/fuzz.py`` runs the long version (>= 10^5 inputs per target).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aekit import fuzzing
from aekit.data.sources import READERS, Reader
from aekit.errors import AekitError

TARGETS = fuzzing.targets()
BUDGET = 60  # inputs per target: about 30 s for all the targets on one CPU core
# Escapes in parsers another slice is fixing (issue 17's "config" slice: io.py, train/checkpoint.py); listed
# so CI stays green meanwhile, and reported by benchmarks/fuzz.py. Remove a name once it passes.
KNOWN_ESCAPES: set[str] = set()  # the config slice fixed "run config.json" and "run checkpoint.safetensors"


def damaged(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed mutated by aekit.fuzzing.mutate (flips, interesting integers, cuts, splices), or raw bytes."""
    mutated = st.builds(lambda i, rng: fuzzing.mutate(seeds[i], rng, seeds),
                        st.integers(0, len(seeds) - 1), st.randoms(use_true_random=False))
    return st.one_of(st.sampled_from(seeds), mutated, mutated, st.binary(max_size=64))


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason="being fixed in the config slice", strict=False))
    if n in KNOWN_ESCAPES else n for n in sorted(TARGETS)])
def test_fuzz_target_lets_only_aekit_error_escape_in_time_and_bound(name):
    target = TARGETS[name]
    fuzzing.warm_up(target)

    @settings(max_examples=BUDGET, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(damaged(target.seeds()))
    def keeps_the_rule(data: bytes) -> None:
        outcome = fuzzing.run_input(target, data)
        assert outcome.escaped is None, f"{name}: {outcome.escaped} on {data[:80]!r}"
        assert not outcome.slow(), f"{name}: {outcome.seconds:.1f} s on {data[:80]!r}"
        assert not outcome.over_bound(len(data)), f"{name}: peak {outcome.peak_bytes} bytes on {data[:80]!r}"

    keeps_the_rule()


def test_seeds_are_valid_inputs():
    """A target's seeds parse without error: the fuzzer starts from files that reach the deep code."""
    for name, target in TARGETS.items():
        for seed in target.seeds():
            outcome = fuzzing.run_input(target, seed)
            assert outcome.escaped is None, (name, outcome.escaped)


def test_every_path_reader_joins_the_harness_by_registering(monkeypatch):
    assert fuzzing.readers_without_samples() == []
    seen = []

    def read(path, split, seed=0):
        seen.append(path.read_bytes())
        raise AekitError("refused")

    monkeypatch.setitem(READERS, "probe", Reader("probe", lambda p: p.name == "p.bin", read, frozenset(), 99,
                                                 lambda: {"p.bin": b"seed"}))
    target = fuzzing.targets()["read probe: p.bin"]
    assert target.seeds() == [b"seed"]
    assert fuzzing.run_input(target, b"damaged").escaped is None and seen == [b"damaged"]


def test_the_runner_reports_escapes_and_allocations_over_the_bound():
    def escapes(data, folder):
        return {}[data]

    def allocates(data, folder):
        return np.ones(fuzzing.peak_bound(len(data)) // 8 + 1024)  # float64: just over the bound

    outcome = fuzzing.run_input(fuzzing.FuzzTarget("t", lambda: [b""], escapes), b"k")
    assert outcome.escaped == "KeyError: b'k'"
    outcome = fuzzing.run_input(fuzzing.FuzzTarget("t", lambda: [b""], allocates), b"k")
    assert outcome.escaped is None and outcome.over_bound(1)


def test_mutations_are_deterministic_and_damage_the_seed():
    import random

    seed = bytes(range(64))
    a = [fuzzing.mutate(seed, random.Random(3)) for _ in range(2)]
    assert a[0] == a[1]
    assert sum(fuzzing.mutate(seed, random.Random(i)) != seed for i in range(50)) >= 45
