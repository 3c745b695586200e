"""A model may make one code per time step (``TIME`` in its ``code_shape``): what needs one fixed-size vector per
item refuses it in one line, and everything else keeps working for models with one code per item."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from aekit.apps.finetune import build_classifier
from aekit.apps.generate import check_2d_code
from aekit.apps.search import index_run
from aekit.data.batch import Batch
from aekit.errors import AekitError
from aekit.io import Run
from aekit.models.base import TIME, Model, Output, code_size
from aekit.registry import build


class FrameCoder(Model):
    """One 3-d code per frame of a (B, T, 5) input; never registered (tests only)."""

    name = "frame_coder"
    capabilities = frozenset({"decode"})

    def __init__(self, input_shape=(7, 5)):
        super().__init__()
        self._set_input_shape(input_shape)
        self.code_shape = (TIME, 3)
        self.enc, self.dec = nn.Linear(5, 3), nn.Linear(3, 5)

    def encode(self, x):
        return self.enc(x)  # (B, T, 3)

    def decode(self, z):
        return self.dec(z)

    def forward(self, batch):
        z = self.encode(batch["x"])
        x_hat = self.decode(z)
        return Output(x_hat, z, {"recon": ((x_hat - batch["x"]) ** 2).sum(-1).mean()}, {})


def test_fixed_codes_have_their_size():
    assert code_size(build("ae", input_shape=[1, 8, 8], latent_dim=6, hidden=[8]), "a probe") == 6
    assert code_size(build("vqvae", input_shape=[1, 8, 8], latent_dim=4), "a probe") > 0


@pytest.mark.parametrize("use", [
    lambda m: code_size(m, "a probe"),
    check_2d_code,
    lambda m: index_run(Run(model=m, config={}), None),
    lambda m: build_classifier(m, 3),
])
def test_codes_per_time_step_are_refused_where_one_vector_is_needed(use):
    model = FrameCoder()
    assert model(Batch(x=torch.randn(2, 7, 5))).z.shape == (2, 7, 3)  # it codes every step
    with pytest.raises(AekitError, match=r"one code per time step \(code_shape \(time, 3\)\).*pool"):
        use(model)


def test_evaluate_skips_what_needs_one_vector_per_item_and_says_why():
    from aekit.data.dataset import ArrayDataset
    from aekit.evaluate import evaluate_model

    data = ArrayDataset(torch.randn(20, 7, 5), torch.arange(20) % 2)
    metrics = evaluate_model(FrameCoder(), data, train=data, metrics=["reconstruction", "probe", "clustering"])
    assert "recon_sse" in metrics  # what needs no vector per item still runs
    for skipped in ("probe", "clustering"):
        assert "one code per time step" in metrics["skipped"][skipped]
