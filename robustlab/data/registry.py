"""The dataset registry: YAML `data.kind` -> an options class whose `build(seed)` makes the data.

A study builds its data as `DATASETS.get(kind)(**yaml_options).build(seed)`. Each entry is a
frozen dataclass of options (validated on construction) living in the module of the same
name: `symile_xor` -> `robustlab/data/symile_xor.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from robustlab.data.dataset import TrimodalDataset
from robustlab.registry import Registry, check_frozen_subclass


class DatasetOptions(ABC):
    """Base of every registered dataset's options dataclass."""

    @abstractmethod
    def build(self, seed: int) -> TrimodalDataset:
        """The dataset for `seed` (data draws and the train/val/test split derive from it)."""


def check_dataset_class(cls: object) -> None:
    """What makes a class usable as a dataset (built-in or plugin); a TypeError says which
    rule it breaks: a frozen dataclass subclassing `DatasetOptions`, `build` implemented."""
    check_frozen_subclass(cls, DatasetOptions, "robustlab.data.DatasetOptions", "options",
                          " of DatasetOptions")


def _plugin_dataset(name: str, cls: Any) -> type[DatasetOptions]:
    check_dataset_class(cls)
    return cls


#: `data.kind` -> options class: built-ins and plugins (entry-point group `robustlab.datasets`).
DATASETS: Registry[type[DatasetOptions]] = Registry("dataset", "robustlab.datasets",
                                                    _plugin_dataset)
