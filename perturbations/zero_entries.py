"""zero_entries: each entry of a touched example is set to zero with the table's probability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, SeverityOperator, row_blocks
from perturbations.hashing import below


@OPERATORS.register("zero_entries")
@dataclass(frozen=True, kw_only=True)
class ZeroEntries(SeverityOperator):
    """Entry dropout ("pepper" noise): x_ij = 0 independently with probability p(severity).

    The mask is untouched: the modality is present, only some of its entries are lost.
    """

    name: ClassVar[str] = "zero_entries"
    # severity -> probability that an entry is zeroed
    severities: ClassVar[dict[int, float]] = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.5, 5: 0.7}

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        d = x.shape[1]
        for block in row_blocks(rows, x.shape[0]):
            part = x[block]  # (b, d)
            part[below(keys[block], d, self.amount)] = 0
            if isinstance(block, np.ndarray):
                x[block] = part
