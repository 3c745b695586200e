"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests train tiny models, where two OpenMP threads on a shared 2-core CPU wait on each other far
    longer than they compute (10-50x slower under load); `make test` runs two workers instead."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real datasets: ``$AEKIT_SHARED_DATA``, else ``<repo>/../shared/data``; skips when absent."""
    env = os.environ.get("AEKIT_SHARED_DATA", "")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared datasets not found at {path}; set AEKIT_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def ae_run(tmp_path_factory) -> Path:
    """A small ``ae`` trained by ``aekit train`` on the bundled digits: a run directory that records its data,
    for the commands that take a run (anomaly, finetune). Treat it as read-only."""
    from aekit.cli import main

    out = tmp_path_factory.mktemp("digits-ae") / "run"
    assert main(["train", "ae", "--data", "digits", "--latent-dim", "8", "--set", "hidden=[32]", "--epochs", "3",
                 "--quiet", "--out", str(out)]) == 0
    return out
