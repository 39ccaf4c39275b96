"""missing: the modality is absent (mask False, values zeroed) for the touched fraction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, ModalityOperator


@OPERATORS.register("missing")
@dataclass(frozen=True, kw_only=True)
class Missing(ModalityOperator):
    """Drop the modality for round(fraction · N) examples; fraction=1.0 drops it everywhere.

    Fraction only (level = fraction); no randomness beyond the selection.
    """

    name: ClassVar[str] = "missing"

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        x[rows] = 0
        mask[rows] = False
