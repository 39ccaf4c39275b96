"""TrimodalDataset: three feature arrays, masks, ids, labels, metadata, fixed splits (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import torch

from robustlab.data.batch import Batch

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """The arrays of one split. All first dimensions are N.

    features:    modality -> (N, d_m) float32
    masks:       modality -> (N,) bool, True = present
    example_id:  (N,) int64, stable across perturbations and reruns
    label:       (N,) int64 or None
    metadata:    polars frame with N rows of slice columns (possibly zero columns)
    candidate_id: target modality -> (N,) int64 row of the true item in the dataset's
                  candidate bank for that target (only for datasets with a fixed bank)
    """

    features: Mapping[str, np.ndarray]
    masks: Mapping[str, np.ndarray]
    example_id: np.ndarray
    label: np.ndarray | None = None
    metadata: pl.DataFrame = field(default_factory=pl.DataFrame)
    candidate_id: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.example_id.shape[0])

    def replace(self, **changes: object) -> Split:
        """A copy with some fields replaced (arrays are shared, never mutated in place)."""
        fields = {**self.__dict__, **changes}
        return Split(**fields)

    def take(self, rows: np.ndarray) -> Split:
        """The rows `rows` (an index array) of this split, in that order."""
        return Split(
            features={m: v[rows] for m, v in self.features.items()},
            masks={m: v[rows] for m, v in self.masks.items()},
            example_id=self.example_id[rows],
            label=None if self.label is None else self.label[rows],
            metadata=self.metadata[rows] if self.metadata.width else self.metadata,
            candidate_id={m: v[rows] for m, v in self.candidate_id.items()},
        )

    def to_batch(self, rows: np.ndarray | None = None) -> Batch:
        part = self if rows is None else self.take(rows)
        return Batch(
            x={m: torch.from_numpy(np.ascontiguousarray(v)) for m, v in part.features.items()},
            mask={m: torch.from_numpy(np.ascontiguousarray(v)) for m, v in part.masks.items()},
            index=torch.from_numpy(part.example_id.astype(np.int64)),
            label=None if part.label is None else torch.from_numpy(part.label.astype(np.int64)),
        )

    def batches(
        self, batch_size: int, *, generator: np.random.Generator | None = None
    ) -> Iterator[Batch]:
        """Minibatches in order, or shuffled by `generator` when one is given."""
        order = np.arange(len(self)) if generator is None else generator.permutation(len(self))
        for start in range(0, len(self), batch_size):
            yield self.to_batch(order[start : start + batch_size])


@dataclass(frozen=True)
class TrimodalDataset:
    """Three named modalities and their fixed train/val/test splits.

    candidate_banks: target modality -> (C, d_target) fixed retrieval candidates (e.g. all
                     2^d vectors for `symile_xor`); absent targets retrieve among test items.
    split_seed:      the seed that drew the split, recorded for provenance.
    """

    name: str
    modalities: tuple[str, str, str]
    splits: Mapping[str, Split]
    split_seed: int
    num_classes: int | None = None
    candidate_banks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {name!r} (has {list(self.splits)})")
        return self.splits[name]

    @property
    def dims(self) -> dict[str, int]:
        train = self.split("train")
        return {m: int(train.features[m].shape[1]) for m in self.modalities}

    @property
    def slice_columns(self) -> list[str]:
        return list(self.split("test").metadata.columns)
