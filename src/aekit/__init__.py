"""aekit: the autoencoder family, real, fast and measurable.

Python API::

    import aekit
    train = aekit.data.load("mnist", split="train"); test = aekit.data.load("mnist", split="test")
    run = aekit.train("ae", train, test=test, latent_dim=30, epochs=20, out="runs/ae")
    codes = aekit.encode(run.model, test.x)
    model = aekit.load("runs/ae")
    strip = aekit.interpolate(model, test.x[0], test.x[1], steps=16)  # (16, *item), endpoints decode(encode(.))
    samples = aekit.generate(vae_model, n=64, seed=0)  # decoded draws from a model's prior
"""
from aekit._version import __version__
from aekit.errors import AekitError  # noqa: E402
from aekit.apps.generate import generate, interpolate  # noqa: E402
from aekit.estimator import AutoEncoder  # noqa: E402  (the scikit-learn estimator; models subclass aekit.models.Model)
from aekit.inference import decode, encode, reconstruct  # noqa: E402
from aekit.io import Run, load, load_run  # noqa: E402
from aekit.registry import build, model_names, part_names, register, register_part  # noqa: E402
from aekit.runs import train  # noqa: E402
from aekit import data  # noqa: E402,F401

__all__ = ["AekitError", "AutoEncoder", "Run", "build", "decode", "encode", "generate", "interpolate", "load", "load_run", "model_names", "part_names", "reconstruct",
           "register", "register_part", "train", "data", "__version__"]
