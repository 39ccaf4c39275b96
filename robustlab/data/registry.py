"""The dataset registry: YAML `data.kind` -> an options class whose `build(seed)` makes the data.

A study builds its data as `DATASETS.get(kind)(**yaml_options).build(seed)`. Each entry is a
frozen dataclass of options (validated on construction) living in the module of the same
name: `symile_xor` -> `robustlab/data/symile_xor.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from robustlab.data.dataset import TrimodalDataset
from robustlab.registry import Registry


class DatasetOptions(ABC):
    """Base of every registered dataset's options dataclass."""

    @abstractmethod
    def build(self, seed: int) -> TrimodalDataset:
        """The dataset for `seed` (data draws and the train/val/test split derive from it)."""


DATASETS: Registry[type[DatasetOptions]] = Registry("dataset")
