"""Contract tests of the parts registry, parametrised over every registered part: registering a part is
enough to have it tested, and a bad spec is one clear line."""
from __future__ import annotations

import json

import pytest
import torch

import aekit
from aekit.errors import AekitError
from aekit.nn.parts import NetArgs, build_critic, build_decoder, build_encoder, resolve
from aekit.registry import part_names

IMAGE_SHAPE = (3, 8, 8)
NET = NetArgs(hidden=(16,))


def test_builtin_parts_registered():
    assert {"mlp", "conv", "acai", "dim"} <= set(part_names())


@pytest.mark.parametrize("name", part_names())
def test_part_networks_have_the_contract_shapes(name):
    torch.manual_seed(0)
    x = torch.rand(5, *IMAGE_SHAPE)
    enc = build_encoder({"part": name}, IMAGE_SHAPE, 4, NET, heads=2)
    assert enc(x).shape == (5, 8)  # two heads of 4
    assert enc(x.flatten(1)).shape == (5, 8)  # flat items of the right size too
    dec = build_decoder({"part": name}, IMAGE_SHAPE, 4, NET)
    assert dec(torch.randn(5, 4)).shape[1:] in (IMAGE_SHAPE, (3 * 8 * 8,))
    critic = build_critic({"part": name}, IMAGE_SHAPE, 4, NET)
    assert critic(x).shape == (5,)


@pytest.mark.parametrize("name", part_names())
def test_part_spec_is_json_and_rebuilds_the_same_network(name):
    part, options = resolve({"part": name})
    spec = json.loads(json.dumps({"part": name, **options}))  # what a run's config.json holds
    torch.manual_seed(1)
    a = build_encoder(spec, IMAGE_SHAPE, 4, NET)
    torch.manual_seed(1)
    b = build_encoder({"part": name}, IMAGE_SHAPE, 4, NET)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


@pytest.mark.parametrize("spec, message", [
    ({"part": "nope"}, "unknown part 'nope': choose one of"),
    ({"part": "conv", "width": 3}, "unknown option.*width.*for part 'conv': it takes channels"),
    ("conv", None),  # a bare name is a spec with every option at its default
    ([1, 2], "a part spec is a mapping"),
    ({"channels": [4]}, "a part spec is a mapping"),
])
def test_bad_part_specs_are_one_line(spec, message):
    if message is None:
        assert resolve(spec)[0].name == "conv"
        return
    with pytest.raises(AekitError, match=message):
        resolve(spec)


def test_model_takes_an_encoder_part_and_reloads_it(tmp_path):
    """A model's encoder can be any registered part; the spec is saved with the run and rebuilt by load."""
    data = aekit.data.ArrayDataset(torch.rand(64, *IMAGE_SHAPE))
    run = aekit.train("ae", data, test=data, latent_dim=4, hidden=[16], encoder={"part": "dim", "fc": 32},
                      epochs=1, progress=False, out=tmp_path / "run")
    assert type(run.model.encoder).__name__ == "DIMEncoder" and type(run.model.decoder).__name__ == "MLP"
    again = aekit.load(tmp_path / "run")
    assert again.hparams["encoder"] == {"part": "dim", "fc": 32}
    torch.testing.assert_close(aekit.encode(again, data.x), aekit.encode(run.model, data.x), rtol=0, atol=0)


def test_cli_refuses_a_bad_part_spec_and_writes_nothing(tmp_path, capsys):
    from aekit.cli import main

    out = tmp_path / "run"
    rc = main(["train", "ae", "--data", "digits", "--set", "encoder={part: nope}", "--epochs", "1", "--quiet",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "unknown part 'nope'" in err
    assert not out.exists()
