"""Built-in models; importing this package registers them all (see ``aekit.registry``)."""
from aekit.models import ae, pca  # noqa: F401
from aekit.models import conv  # noqa: F401
from aekit.models import discrete  # noqa: F401
from aekit.models import adversarial, vae  # noqa: F401
from aekit.models import text  # noqa: F401
from aekit.models import infomax  # noqa: F401
from aekit.models.base import CAPABILITIES, Model, Output, require

__all__ = ["CAPABILITIES", "Model", "Output", "require"]


def __getattr__(name: str):
    if name == "AutoEncoder":  # the base class's name before issue 16 (aekit.AutoEncoder is the estimator)
        from aekit.models import base

        return base.AutoEncoder
    raise AttributeError(name)
