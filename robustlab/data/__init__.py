"""Trimodal datasets (DESIGN §5): containers, generators and the on-disk loader.

`DATASETS` maps a study file's `data.kind` to an options class:
`DATASETS.get(kind)(**options).build(seed) -> TrimodalDataset`.
"""

# importing a generator module registers it in DATASETS
from robustlab.data import files as _files  # noqa: F401
from robustlab.data import m3_lite as _m3_lite  # noqa: F401
from robustlab.data import pid as _pid  # noqa: F401
from robustlab.data import symile_xor as _symile_xor  # noqa: F401
from robustlab.data import synthetic_xnor as _synthetic_xnor  # noqa: F401
from robustlab.data.batch import Batch
from robustlab.data.dataset import SPLITS, Split, TrimodalDataset
from robustlab.data.file_readers import DataFileError
from robustlab.data.registry import DATASETS, DatasetOptions

__all__ = [
    "DATASETS",
    "SPLITS",
    "Batch",
    "DataFileError",
    "DatasetOptions",
    "Split",
    "TrimodalDataset",
]
