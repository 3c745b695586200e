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
from aekit._lazy import lazy

# Imported on first use (PEP 562), so that `import aekit.cli` and `aekit --help` do not load torch.
_EXPORTS = {
    "AekitError": "aekit.errors",
    "generate": "aekit.apps.generate", "interpolate": "aekit.apps.generate",
    "AutoEncoder": "aekit.estimator",  # the scikit-learn estimator; models subclass aekit.models.Model
    "decode": "aekit.inference", "encode": "aekit.inference", "reconstruct": "aekit.inference",
    "Run": "aekit.io", "load": "aekit.io", "load_run": "aekit.io",
    "build": "aekit.registry", "model_names": "aekit.registry", "part_names": "aekit.registry",
    "register": "aekit.registry", "register_part": "aekit.registry",
    "train": "aekit.runs",
    "data": "aekit.data:",
}
lazy(__name__, _EXPORTS)
__all__ = [*_EXPORTS, "__version__"]
