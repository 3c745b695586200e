"""Built-in models; importing this package registers them all (see ``aekit.registry``)."""
from aekit.models import ae, pca  # noqa: F401
from aekit.models import conv  # noqa: F401
from aekit.models import discrete  # noqa: F401
from aekit.models import adversarial, vae  # noqa: F401
from aekit.models import text  # noqa: F401
from aekit.models.base import AutoEncoder, Output

__all__ = ["AutoEncoder", "Output"]
