"""Datasets for aekit: named datasets, generic sources, synthetic lines, transforms and corruptions.

Everything in memory is an :class:`ArrayDataset` (float32 ``x`` of shape ``(N, C, H, W)`` or ``(N, D)``,
optional int64 labels). Start with :func:`load` and :func:`dataset_names`; :func:`download` fetches the
files of named datasets. Heavy imports (torch, Pillow, scikit-learn) happen only when needed: the names below load on first use
(PEP 562), so ``aekit.data.source`` can be imported by the CLI's parser without torch.
"""

from aekit._lazy import lazy

_EXPORTS = {
    "Batch": "aekit.data.batch", "Ragged": "aekit.data.batch",
    "CORRUPTIONS": "aekit.data.corrupt:KINDS", "corrupt": "aekit.data.corrupt", "gaussian": "aekit.data.corrupt",
    "masking": "aekit.data.corrupt", "salt_and_pepper": "aekit.data.corrupt",
    "ArrayDataset": "aekit.data.dataset",
    "download": "aekit.data.download",
    "read_idx": "aekit.data.idx", "write_idx": "aekit.data.idx",
    "LinesStream": "aekit.data.lines", "iter_lines": "aekit.data.lines", "lines": "aekit.data.lines",
    "render_lines": "aekit.data.lines",
    "cache_dir": "aekit.data.location", "data_root": "aekit.data.location",
    "DATASETS": "aekit.data.registry", "dataset_names": "aekit.data.registry", "load": "aekit.data.registry",
    "flatten": "aekit.data.transforms", "pad_to": "aekit.data.transforms", "rescale": "aekit.data.transforms",
}
lazy(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
