"""Interpolation and generation (aekit.apps.generate, ``aekit interpolate`` / ``aekit generate``) and the lines
scores of ``aekit evaluate``: properties of the walks in code space, and the CLI's one-line errors.

Models with a prior come from a test-only subclass of the deep AE whose ``sample_prior`` is ``torch.randn``,
registered only while a test needs it (``monkeypatch`` on the registry), so no other test sees it.
"""
from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import AEKIT, assert_user_error, cli

import aekit
from aekit.apps.generate import grid_codes, has_prior, interpolate_pairs, mix_codes, read_item
from aekit.cli import main
from aekit.errors import AekitError
from aekit.eval.lines import evaluate_lines_model
from aekit.evaluate import evaluate_model
from aekit.models.ae import DeepAutoEncoder
from aekit.registry import MODELS

TINY = ["--limit", "200", "--set", "hidden=[16]", "--epochs", "2", "--quiet"]
PAD = 2  # save_image_grid's default padding


class PriorAE(DeepAutoEncoder):
    """A deep AE with a standard normal prior: enough for the generation commands (test-only)."""

    name = "test_prior_ae"
    capabilities = DeepAutoEncoder.capabilities | {"sample"}

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.latent_dim, generator=generator)


def side(n_tiles: int, item: int = 8, zoom: int = 1) -> int:
    """Pixels along one side of a picture of ``n_tiles`` 8x8 digits (save_image_grid's layout)."""
    return (PAD + n_tiles * (item + PAD)) * zoom


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    """A plain ae with 2-d codes, 2 epochs on 200 digits."""
    out = tmp_path_factory.mktemp("runs") / "ae2"
    assert main(["train", "ae", "--data", "digits", *TINY, "--latent-dim", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def _prior_run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "prior3"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(MODELS, PriorAE.name, PriorAE)
        assert main(["train", PriorAE.name, "--data", "digits", *TINY, "--latent-dim", "3", "--out", str(out)]) == 0
    return out


@pytest.fixture
def prior_registered(monkeypatch):
    monkeypatch.setitem(MODELS, PriorAE.name, PriorAE)


@pytest.fixture
def prior_run(_prior_run_dir, prior_registered):
    """A PriorAE run with 3-d codes; its model name is registered for the test's duration."""
    return _prior_run_dir


@pytest.fixture(scope="module")
def digits_test():
    return aekit.data.load("digits", split="test", limit=200)


# ---- the walk in code space ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_endpoints_are_the_decoded_codes_and_the_reconstructions(ae_run, digits_test, method):
    model = aekit.load(ae_run)
    a, b = digits_test.x[3], digits_test.x[7]
    images = aekit.interpolate(model, a, b, steps=7, method=method)
    assert images.shape == (7, 1, 8, 8)
    ends = aekit.decode(model, aekit.encode(model, torch.stack([a, b])))
    torch.testing.assert_close(images[0], ends[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(images[-1], ends[1], rtol=0, atol=1e-6)
    # the plain ae decodes codes alone, so its endpoints are its reconstructions
    recon = aekit.reconstruct(model, torch.stack([a, b]))
    torch.testing.assert_close(images[[0, -1]], recon, rtol=0, atol=1e-6)


def test_linear_steps_decode_acai_mixtures(ae_run, digits_test):
    model = aekit.load(ae_run)
    a, b = digits_test.x[0], digits_test.x[1]
    z_a, z_b = aekit.encode(model, torch.stack([a, b]))
    mid = aekit.interpolate(model, a, b, steps=3)[1]
    torch.testing.assert_close(mid, aekit.decode(model, ((z_a + z_b) / 2)[None])[0], rtol=0, atol=1e-6)
    n = 16
    images = aekit.interpolate(model, a, b, steps=n)
    k = torch.arange(n, dtype=torch.float32)[:, None]
    want = aekit.decode(model, (z_a * (n - 1 - k) + z_b * k) / (n - 1))
    torch.testing.assert_close(images, want, rtol=0, atol=1e-6)


def test_pairs_are_interpolated_independently(ae_run, digits_test):
    model = aekit.load(ae_run)
    a, b = digits_test.x[:5], digits_test.x[5:10]
    batched = interpolate_pairs(model, a, b, steps=4, method="slerp", batch_size=3)  # batches cut across pairs
    assert batched.shape == (5, 4, 1, 8, 8)
    for i in range(5):
        torch.testing.assert_close(batched[i], aekit.interpolate(model, a[i], b[i], 4, "slerp"), rtol=0, atol=1e-6)


def test_interpolation_runs_in_eval_mode_without_gradients(digits_test):
    model = aekit.build("ae", input_shape=[1, 8, 8], latent_dim=2, hidden=[16], norm="batch").train()
    seen = []
    decode = model.decode

    def spy(z):
        seen.append((torch.is_grad_enabled(), model.training))
        return decode(z)

    model.decode = spy
    images = aekit.interpolate(model, digits_test.x[0], digits_test.x[1], steps=5)
    assert model.training and not images.requires_grad
    assert seen and all(not grad and not training for grad, training in seen)


@pytest.mark.parametrize("name", aekit.model_names())
def test_every_model_interpolates_and_samples_its_prior(name):
    """Registered models (parametrised over the registry): endpoints are decode(encode(.)) for any code
    shape; a model with a prior decodes seeded samples of the input's shape."""
    torch.manual_seed(0)
    model = aekit.build(name, input_shape=[1, 8, 8], latent_dim=4)
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    if not model.can("decode"):  # interpolating decodes codes: refused with the capability it lacks
        with pytest.raises(AekitError, match="has no decoder.*capability 'decode'"):
            aekit.interpolate(model, x[0], x[1], steps=4)
        return
    images = aekit.interpolate(model, x[0], x[1], steps=4, method="slerp")
    assert images.shape == (4, 1, 8, 8) and torch.isfinite(images).all()
    torch.testing.assert_close(images[[0, -1]], aekit.decode(model, aekit.encode(model, x)), rtol=0, atol=1e-5)
    if has_prior(model):
        samples = aekit.generate(model, 3, seed=0)
        assert samples.shape == (3, 1, 8, 8) and torch.equal(samples, aekit.generate(model, 3, seed=0))


def test_slerp_keeps_unit_norms_at_constant_angular_speed():
    g = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(32, 6, generator=g), torch.randn(32, 6, generator=g)
    z_a, z_b = z_a / z_a.norm(dim=1, keepdim=True), z_b / z_b.norm(dim=1, keepdim=True)
    codes = mix_codes(z_a, z_b, steps=9, method="slerp")  # (32, 9, 6)
    torch.testing.assert_close(codes.norm(dim=2), torch.ones(32, 9), rtol=0, atol=1e-5)
    cos = (codes[:, 1:] * codes[:, :-1]).sum(2).clamp(-1, 1)  # consecutive codes: equal angles
    angles = torch.arccos(cos.double())
    torch.testing.assert_close(angles, angles[:, :1].expand_as(angles), rtol=0, atol=1e-3)
    # a straight line cuts the corner: its middle is shorter than either endpoint
    assert (mix_codes(z_a, z_b, steps=9).norm(dim=2)[:, 4] < 1 - 1e-3).any()
    # codes of other norms: every norm lies between the endpoints' (equal norms stay equal)
    r = 3.0
    torch.testing.assert_close(mix_codes(r * z_a, r * z_b, 5, "slerp").norm(dim=2), torch.full((32, 5), r),
                               rtol=1e-5, atol=1e-5)


def test_slerp_of_parallel_codes_is_the_straight_line():
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    for z_b in (2 * z, -z):  # parallel and antiparallel: no unique great circle
        got = mix_codes(z, z_b, 5, "slerp")
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, mix_codes(z, z_b, 5, "linear"))


def test_api_refuses_bad_input(ae_run, digits_test):
    model = aekit.load(ae_run)
    with pytest.raises(AekitError, match="same shape"):
        aekit.interpolate(model, digits_test.x[0], torch.zeros(1, 4, 4))
    with pytest.raises(AekitError, match="at least 2"):
        aekit.interpolate(model, digits_test.x[0], digits_test.x[1], steps=1)
    with pytest.raises(AekitError, match="slerp"):
        aekit.interpolate(model, digits_test.x[0], digits_test.x[1], method="cubic")
    with pytest.raises(AekitError, match="no prior"):
        aekit.generate(model, 4)


# ---- generation --------------------------------------------------------------------------------------
def test_generate_decodes_seeded_prior_samples():
    torch.manual_seed(0)
    model = PriorAE(input_shape=[1, 8, 8], latent_dim=3, hidden=[16])
    images = aekit.generate(model, 5, seed=1)
    assert images.shape == (5, 1, 8, 8)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(images, aekit.decode(model, z))
    assert torch.equal(images, aekit.generate(model, 5, seed=1))
    assert not torch.equal(images, aekit.generate(model, 5, seed=2))


def test_grid_over_a_prior_spans_the_prior_samples_percentiles():
    """For N(0, I) the axes run from about -2.05 to 2.05 (the 2nd..98th percentiles); any prior works."""
    model = PriorAE(input_shape=[1, 8, 8], latent_dim=2, hidden=[16])
    grid = grid_codes(model, 15).reshape(15, 15, 2)
    samples = model.sample_prior(10_000, generator=torch.Generator().manual_seed(0)).double()
    axis = torch.linspace(float(torch.quantile(samples[:, 0], 0.02)), float(torch.quantile(samples[:, 0], 0.98)), 15)
    torch.testing.assert_close(grid[0, :, 0], axis)  # columns: first code axis, increasing
    assert abs(float(axis[0]) + 2.05) < 0.1 and abs(float(axis[-1]) - 2.05) < 0.1
    assert float(grid[0, 0, 1]) > float(grid[-1, 0, 1])  # rows: second axis, top = largest
    assert torch.equal(grid[:, :, 0], grid[:1, :, 0].expand(15, 15))


def test_grid_over_a_mixture_prior_reaches_its_components():
    model = aekit.build("aae", input_shape=[1, 8, 8], latent_dim=2, hidden=[16], prior="mixture", mixture_radius=4.0)
    grid = grid_codes(model, 5)
    assert float(grid[:, 0].max()) > 3.5 and float(grid[:, 0].min()) < -3.5  # not N(0, 1)'s quantiles


def test_grid_without_a_prior_spans_the_codes_percentiles():
    model = aekit.build("ae", input_shape=[1, 8, 8], latent_dim=2, hidden=[16])
    codes = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 5.0])
    grid = grid_codes(model, 4, codes)
    lo, hi = np.percentile(codes.numpy(), [2, 98], axis=0)
    np.testing.assert_allclose(grid.min(0).values, lo, rtol=1e-5)
    np.testing.assert_allclose(grid.max(0).values, hi, rtol=1e-5)
    with pytest.raises(AekitError, match="codes"):
        grid_codes(model, 4)


# ---- the commands ------------------------------------------------------------------------------------
def test_interpolate_writes_a_strip(capsys, ae_run, tmp_path):
    rc, out, err = cli(capsys, "interpolate", ae_run, 3, 7, "--out", tmp_path / "s.png", "--zoom", "2")
    assert rc == 0, err
    assert Image.open(tmp_path / "s.png").size == (side(16, zoom=2), side(1, zoom=2))  # one row of 16
    rc, _, err = cli(capsys, "interpolate", ae_run, 3, 7, "--steps", "5", "--method", "slerp",
                     "--out", tmp_path / "s.npy")
    assert rc == 0, err
    test = aekit.data.load("digits", split="test", limit=200)  # the run's own test data, as recorded
    want = aekit.interpolate(aekit.load(ae_run), test.x[3], test.x[7], 5, "slerp")
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), want.numpy(), rtol=0, atol=1e-6)


def test_interpolate_from_files(capsys, ae_run, digits_test, tmp_path):
    np.save(tmp_path / "a.npy", digits_test.x[3].numpy())
    rgb = np.repeat(np.round(digits_test.x[7, 0].numpy() * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "b.png")  # an RGB file for a grey model: converted
    item = read_item(tmp_path / "b.png", (1, 8, 8), "01")
    torch.testing.assert_close(item, digits_test.x[7], rtol=0, atol=0.5 / 255 + 1e-6)
    rc, _, err = cli(capsys, "interpolate", ae_run, tmp_path / "a.npy", tmp_path / "b.png", "--steps", "4",
                     "--out", tmp_path / "s.npy")
    assert rc == 0, err
    want = aekit.interpolate(aekit.load(ae_run), digits_test.x[3], item, 4)
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), want.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("zoom", [1, 3])
def test_generate_grid_has_the_right_size(capsys, ae_run, tmp_path, zoom):
    rc, _, err = cli(capsys, "generate", ae_run, "--grid", "15", "--out", tmp_path / "map.png", "--zoom", zoom,
                     "--save-npy", tmp_path / "map.npy")
    assert rc == 0, err
    assert Image.open(tmp_path / "map.png").size == (side(15, zoom=zoom), side(15, zoom=zoom))
    assert np.load(tmp_path / "map.npy").shape == (225, 1, 8, 8)


def test_generate_samples(capsys, prior_run, tmp_path):
    rc, _, err = cli(capsys, "generate", prior_run, "--n", "10", "--seed", "3", "--out", tmp_path / "g.png",
                     "--save-npy", tmp_path / "g.npy")
    assert rc == 0, err
    assert Image.open(tmp_path / "g.png").size == (side(4), side(3))  # 10 samples: 4 per row, 3 rows
    want = aekit.generate(aekit.load(prior_run), 10, seed=3)
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), want.numpy(), rtol=0, atol=1e-6)


@pytest.mark.skipif("vae" not in aekit.model_names(), reason="the vae model is not registered yet")
def test_generate_with_a_vae(capsys, tmp_path):
    run = tmp_path / "vae"
    assert main(["train", "vae", "--data", "digits", *TINY, "--latent-dim", "2", "--out", str(run)]) == 0
    for argv in (["--n", "6"], ["--grid", "3"]):
        rc, _, err = cli(capsys, "generate", run, *argv, "--out", tmp_path / "v.png")
        assert rc == 0, err


def _bad_inputs(tmp_path, ae_run, prior_run):
    np.save(tmp_path / "wide.npy", np.zeros((1, 9, 9), np.float32))
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "big.png")
    return {
        "image of another size": (["interpolate", ae_run, 0, tmp_path / "big.png"], ("16x16", "8x8")),
        "npy of another shape": (["interpolate", ae_run, tmp_path / "wide.npy", 1], ("(1, 9, 9)", "(1, 8, 8)")),
        "steps below 2": (["interpolate", ae_run, 0, 1, "--steps", "1"], ("--steps", "2")),
        "id out of range": (["interpolate", ae_run, 0, 200], ("200", "0 to 199")),
        "negative id": (["interpolate", ae_run, -1, 3], ("-1", "0 to 199")),
        "no such file": (["interpolate", ae_run, 0, tmp_path / "nothing.png"], ("nothing.png",)),
        "unknown method": (["interpolate", ae_run, 0, 1, "--method", "cubic"], ("cubic",)),
        "grid of 3-d codes": (["generate", prior_run, "--grid", "15"], ("2-d", "3-d")),
        "sampling without a prior": (["generate", ae_run, "--n", "8"], ("no prior",)),
        "n and grid": (["generate", ae_run, "--n", "8", "--grid", "3"], ("--grid", "--n")),
    }


BAD = ["image of another size", "npy of another shape", "steps below 2", "id out of range", "negative id",
       "no such file", "unknown method", "grid of 3-d codes", "sampling without a prior", "n and grid"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line(capsys, tmp_path, ae_run, prior_run, case):
    argv, causes = _bad_inputs(tmp_path, ae_run, prior_run)[case]
    target = tmp_path / "out.png"
    also_npy = ["--save-npy", tmp_path / "out.npy"] if argv[0] == "generate" else []
    rc, _, err = cli(capsys, *argv, "--out", target, *also_npy)
    assert_user_error(rc, err, *causes)
    assert not target.exists() and not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("argv", [["generate", "{run}", "--n", "4"],
                                  ["interpolate", "{run}", "0", "1", "--steps", "1"]])
def test_bad_input_in_a_real_process(ae_run, tmp_path, argv):
    """The installed ``aekit`` command: one line, exit 2, no traceback, no file."""
    target = tmp_path / "out.png"
    proc = subprocess.run([str(AEKIT), *[a.format(run=ae_run) for a in argv], "--out", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert_user_error(proc.returncode, proc.stderr)
    assert not target.exists()


# ---- the lines scores of evaluate ----------------------------------------------------------------------
def test_evaluate_on_lines_reports_the_interpolation_scores(capsys, tmp_path):
    run = tmp_path / "lines"
    rc, _, err = cli(capsys, "train", "ae", "--data", "lines", "--limit", "64", "--scale", "pm1", "--latent-dim", "2",
                     "--set", "hidden=[16]", "--set", "loss=sse", "--epochs", "1", "--quiet", "--out", run)
    assert rc == 0, err
    rc, out, err = cli(capsys, "evaluate", run, "--json")  # the run's data: lines, scale pm1
    assert rc == 0, err
    metrics = json.loads(out)
    want = evaluate_lines_model(aekit.load(run), value_range=(-1, 1))
    assert metrics["lines_mean_distance"] == pytest.approx(want["mean_distance_x1e3"], rel=1e-9)
    assert metrics["lines_endpoint_mean_distance"] == pytest.approx(want["endpoint_mean_distance_x1e3"], rel=1e-9)
    if math.isfinite(want["smoothness"]):
        assert metrics["lines_smoothness"] == pytest.approx(want["smoothness"], rel=1e-9)
    else:  # every interpolation undefined: strict JSON says null
        assert metrics["lines_smoothness"] is None
    assert json.loads((run / "metrics.json").read_text())["lines_mean_distance"] == pytest.approx(
        metrics["lines_mean_distance"])


def test_lines_scores_respect_the_data_scale():
    """A model of [0, 1] lines is fed [0, 1] lines and its outputs mapped back: for the identity model the
    scores equal those of [-1, 1] lines; other data (or a user's file called lines) get none."""
    model = aekit.build("pca", input_shape=[1, 32, 32], latent_dim=1024)
    model.components.copy_(torch.eye(1024))
    pm1 = evaluate_model(model, aekit.data.load("lines", split="test", limit=64, scale="pm1"))
    zero_one = evaluate_model(model, aekit.data.load("lines", split="test", limit=64, scale="01"))
    assert pm1["lines_mean_distance"] == pytest.approx(zero_one["lines_mean_distance"], abs=1e-4)
    assert math.isfinite(pm1["lines_mean_distance"]) and math.isfinite(pm1["lines_smoothness"])
    own = aekit.data.ArrayDataset(aekit.data.lines(8).x, name="lines", scale="pm1", source="my_lines.npy")
    assert "lines_mean_distance" not in evaluate_model(model, own)
    digits = aekit.data.load("digits", split="test", limit=50)
    flat = aekit.build("pca", input_shape=[1, 8, 8], latent_dim=4)
    flat.fit_closed_form(digits.x)
    assert not any(k.startswith("lines_") for k in evaluate_model(flat, digits))
