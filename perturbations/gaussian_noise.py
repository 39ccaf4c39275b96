"""gaussian_noise: additive Gaussian noise, σ relative to each example's feature scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, SeverityOperator, row_blocks
from perturbations.hashing import normals


@OPERATORS.register("gaussian_noise")
@dataclass(frozen=True, kw_only=True)
class GaussianNoise(SeverityOperator):
    """x += σ · z with z ~ N(0, 1) per entry and σ = table[severity] · scale.

    `scale` None (default): the example's own feature scale, the std of its row across
    features — per example, hence chunk-invariant; an all-constant row (e.g. a missing
    modality's zeros) gets no noise. A number: one absolute scale for every example.
    """

    name: ClassVar[str] = "gaussian_noise"
    # severity -> σ in units of the feature scale
    severities: ClassVar[dict[int, float]] = {1: 0.1, 2: 0.25, 3: 0.5, 4: 1.0, 5: 2.0}

    scale: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = isinstance(self.scale, bool) or not isinstance(self.scale, int | float | None)
        if bad or (self.scale is not None and not self.scale > 0):
            raise ValueError(f"gaussian_noise.scale: must be a number > 0 or None (each "
                             f"example's feature std), got {self.scale!r}")

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        d = x.shape[1]
        for block in row_blocks(rows, x.shape[0]):
            part = x[block]  # (b, d): a view for slices, a copy for index arrays
            z = normals(keys[block], d)  # (b, d) float32
            if self.scale is None:
                sigma = part.std(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
            else:
                sigma = np.float32(self.scale)
            z *= np.float32(self.amount) * sigma  # (b, d)
            part += z.astype(x.dtype, copy=False)
            if isinstance(block, np.ndarray):
                x[block] = part
