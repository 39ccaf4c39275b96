"""The batch every method consumes (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """One minibatch of a trimodal dataset.

    x:     modality -> (B, d_m) float tensor (a missing modality's rows are zeros)
    mask:  modality -> (B,) bool tensor, True = present
    index: (B,) long tensor of stable example ids
    label: (B,) long tensor, or None when the dataset has no labels
    """

    x: Mapping[str, Tensor]
    mask: Mapping[str, Tensor]
    index: Tensor
    label: Tensor | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.x)

    @property
    def size(self) -> int:
        return int(self.index.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            x={m: v.to(device) for m, v in self.x.items()},
            mask={m: v.to(device) for m, v in self.mask.items()},
            index=self.index.to(device),
            label=None if self.label is None else self.label.to(device),
        )
