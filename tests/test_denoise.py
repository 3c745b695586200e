"""Denoising (``aekit.apps.denoise``) and ``aekit denoise``.

Properties: a small denoising AE trained on the bundled digits raises the PSNR of noisy test digits;
noise is reproducible by seed; images are read in the run's scale and refused (naming the model's size)
when their size differs; the CLI writes exactly the model's reconstructions, in the input's own form
(one PNG, a folder of PNGs with the same names, a .npy of the same shape); every mistake is one line,
exit status 2, and nothing is written.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit import inference
from aekit.apps.denoise import denoise, parse_noise, read_inputs
from aekit.errors import AekitError
from aekit.eval import psnr
from test_cli import assert_user_error, cli


@pytest.fixture(scope="module")
def digits_test():
    return aekit.data.load("digits", "test")


@pytest.fixture(scope="module")
def dae(tmp_path_factory):
    """A denoising AE (gaussian noise, sigma 0.3) trained on the 1437 training digits, saved as a run."""
    out = tmp_path_factory.mktemp("denoise") / "run"
    train = aekit.data.load("digits", "train")
    aekit.train("denoising", train, out=out, hidden=[128], latent_dim=32, noise="gaussian", noise_level=0.3,
                epochs=120, batch_size=128, lr=3e-3, progress=False, evaluate=False,
                data_source={"data": "digits"})
    return out


def save_png(path, pixels: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_denoising_raises_psnr(dae, digits_test):
    model = aekit.load(dae)
    for noise in (("gaussian", 0.3), ("gaussian", 0.5)):
        noisy, denoised = denoise(model, digits_test.x, noise=noise, seed=1)
        before, after = psnr(digits_test.x, noisy), psnr(digits_test.x, denoised)
        assert after > before + 2.0, (noise, before, after)


def test_noise_is_seeded_and_optional(dae, digits_test):
    model = aekit.load(dae)
    x = digits_test.x[:10]
    a, b = denoise(model, x, ("masking", 0.25), seed=3), denoise(model, x, ("masking", 0.25), seed=3)
    assert torch.equal(a.noisy, b.noisy) and not torch.equal(a.noisy, x)
    assert ((a.noisy == 0) | (a.noisy == x)).all() and (a.noisy != x).any()  # masking zeroes values
    plain = denoise(model, x)
    assert plain.noisy is x and torch.equal(plain.denoised, inference.reconstruct(model, x))


@pytest.mark.parametrize("spec, expected", [("gaussian:0.3", ("gaussian", 0.3)), ("masking:0.25", ("masking", 0.25)),
                                            ("salt-and-pepper:0.1", ("salt_and_pepper", 0.1))])
def test_parse_noise(spec, expected):
    assert parse_noise(spec) == expected


@pytest.mark.parametrize("spec", ["gaussian", "blur:0.3", "masking:lots", "masking:1.5", "gaussian:-1"])
def test_parse_noise_refuses(spec):
    with pytest.raises(AekitError):
        parse_noise(spec)


def test_read_inputs(tmp_path):
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    save_png(tmp_path / "imgs" / "a" / "x.png", pixels)
    save_png(tmp_path / "imgs" / "y.png", 255 - pixels)
    folder = read_inputs(tmp_path / "imgs", (1, 8, 8), "pm1")
    assert folder.kind == "folder" and folder.names == ["a/x.png", "y.png"]
    assert folder.x.shape == (2, 1, 8, 8)
    np.testing.assert_allclose(folder.x[0, 0].numpy(), pixels / 255 * 2 - 1, atol=1e-6)
    one = read_inputs(tmp_path / "imgs" / "y.png", (64,), "01")  # a flat square model reads an image too
    assert one.kind == "image" and one.x.shape == (1, 64)
    arr = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    np.save(tmp_path / "a.npy", arr)
    array = read_inputs(tmp_path / "a.npy", (1, 8, 8))
    assert array.array_shape == (5, 8, 8) and torch.equal(array.x, torch.from_numpy(arr)[:, None])
    with pytest.raises(AekitError, match="takes 8x8 images"):
        read_inputs(save_png(tmp_path / "big.png", np.zeros((12, 12))), (1, 8, 8))


# ---- the command -------------------------------------------------------------------------------------
def test_cli_array_in_array_out(capsys, dae, digits_test, tmp_path):
    x = digits_test.x[:20, 0].numpy()  # (20, 8, 8): the array's own shape comes back
    np.save(tmp_path / "x.npy", x)
    rc, out, err = cli(capsys, "denoise", dae, tmp_path / "x.npy", "--out", tmp_path / "y.npy")
    assert rc == 0, err
    y = np.load(tmp_path / "y.npy")
    expected = inference.reconstruct(aekit.load(dae), torch.from_numpy(x)[:, None])
    assert y.shape == x.shape
    np.testing.assert_allclose(y, expected[:, 0].numpy(), atol=1e-6)


def test_cli_noise_prints_a_psnr_gain_and_draws_rows(capsys, dae, digits_test, tmp_path):
    np.save(tmp_path / "x.npy", digits_test.x[:30].numpy())
    rc, out, err = cli(capsys, "denoise", dae, tmp_path / "x.npy", "--out", tmp_path / "y.npy",
                       "--noise", "gaussian:0.3", "--compare", tmp_path / "cmp.png", "--n-compare", "5")
    assert rc == 0, err
    line = next(l for l in out.splitlines() if l.startswith("PSNR"))
    noisy_db, denoised_db = (float(w) for w in line.replace(",", " ").split() if w.replace(".", "").isdigit())
    assert denoised_db > noisy_db
    picture = Image.open(tmp_path / "cmp.png")
    assert picture.size == (2 + 5 * 10, 2 + 3 * 10)  # 5 items x 3 rows (clean, noisy, denoised) of 8 px + 2 px gaps


def test_cli_images_in_images_out(capsys, dae, digits_test, tmp_path):
    pixels = np.round(digits_test.x[:3, 0].numpy() * 255)
    for i, p in enumerate(pixels):
        save_png(tmp_path / "in" / ("sub" if i else "") / f"{i}.png", p)
    rc, _, err = cli(capsys, "denoise", dae, tmp_path / "in", "--out", tmp_path / "out")
    assert rc == 0, err
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["0.png", "sub/1.png", "sub/2.png"]
    model = aekit.load(dae)
    expected = inference.reconstruct(model, torch.from_numpy(pixels / 255).float()[:, None])
    got = np.asarray(Image.open(tmp_path / "out" / "sub" / "2.png"))
    assert got.shape == (8, 8)
    assert np.abs(got - np.round(expected[2, 0].clamp(0, 1).numpy() * 255)).max() <= 1
    rc, _, err = cli(capsys, "denoise", dae, tmp_path / "in" / "0.png", "--out", tmp_path / "one.png")
    assert rc == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")), np.asarray(Image.open(tmp_path / "out" / "0.png")))


def _npy(shape):
    return lambda p: np.save(p, np.zeros(shape, np.float32))


@pytest.mark.parametrize("name, make, out, extra, causes", [
    ("big.png", lambda p: save_png(p, np.zeros((28, 28))), "o.png", [], ["28x28", "8x8"]),
    ("bad.png", lambda p: p.write_bytes(b"not a png at all"), "o.png", [], ["bad.png"]),
    ("empty.png", lambda p: p.write_bytes(b""), "o.png", [], ["empty"]),
    ("folder", lambda p: p.mkdir(), "o", [], ["no images"]),
    ("e.npy", _npy((0, 8, 8)), "o.npy", [], ["empty"]),
    ("w.npy", _npy((4, 7)), "o.npy", [], ["(4, 7)", "(1, 8, 8)"]),
    ("x.npy", _npy((4, 64)), "o.png", [], [".npy"]),
    ("x.npy", _npy((4, 64)), "o.npy", ["--noise", "blur:2"], ["KIND:LEVEL"]),
    ("x.npy", _npy((4, 64)), "o.npy", ["--compare", "c.jpg"], [".png"]),
    ("x.npy", _npy((4, 64)), "o.npy", ["--noise", "masking:2"], ["[0, 1]"]),
    ("missing.png", lambda p: None, "o.png", [], ["does not exist"]),
])
def test_cli_refuses_bad_input(capsys, dae, tmp_path, name, make, out, extra, causes):
    make(tmp_path / name)
    before = set(tmp_path.rglob("*"))
    rc, _, err = cli(capsys, "denoise", dae, tmp_path / name, "--out", tmp_path / out, *extra)
    assert_user_error(rc, err, *causes)
    assert set(tmp_path.rglob("*")) == before  # nothing written


def test_cli_refuses_an_output_inside_the_input_folder(capsys, dae, tmp_path):
    save_png(tmp_path / "in" / "0.png", np.zeros((8, 8)))
    rc, _, err = cli(capsys, "denoise", dae, tmp_path / "in", "--out", tmp_path / "in" / "out")
    assert_user_error(rc, err, "inside INPUT")
