"""Datasets for aekit: named datasets, generic sources, synthetic lines, transforms and corruptions.

Everything in memory is an :class:`ArrayDataset` (float32 ``x`` of shape ``(N, C, H, W)`` or ``(N, D)``,
optional int64 labels). Start with :func:`load` and :func:`dataset_names`; :func:`download` fetches the
files of named datasets. Heavy optional imports (Pillow, scikit-learn) happen only when needed.
"""

from aekit.data.batch import Batch, Ragged
from aekit.data.corrupt import KINDS as CORRUPTIONS
from aekit.data.corrupt import corrupt, gaussian, masking, salt_and_pepper
from aekit.data.dataset import ArrayDataset
from aekit.data.download import download
from aekit.data.idx import read_idx, write_idx
from aekit.data.lines import LinesStream, iter_lines, lines, render_lines
from aekit.data.location import cache_dir, data_root
from aekit.data.registry import DATASETS, dataset_names, load
from aekit.data.transforms import flatten, pad_to, rescale

__all__ = [
    "ArrayDataset", "Batch", "CORRUPTIONS", "Ragged", "DATASETS", "LinesStream", "cache_dir", "corrupt", "data_root", "dataset_names",
    "download", "flatten", "gaussian", "iter_lines", "lines", "load", "masking", "pad_to", "read_idx", "render_lines",
    "rescale", "salt_and_pepper", "write_idx",
]
