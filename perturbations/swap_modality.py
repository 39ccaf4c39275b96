"""swap_modality: misalignment — touched examples trade this modality among themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, ModalityOperator
from perturbations.hashing import hash_order


def cyclic_partners(rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(receivers, donors): the rows in key order, each receiving the next one's row.

    A single cycle over the selected rows in a hash-random order, so the map is a uniformly
    random cyclic permutation: a derangement (no row keeps its own) whenever ≥ 2 rows are
    selected, and it depends on the set of rows, never on their order in the call.
    """
    receivers = hash_order(keys, rows)
    return receivers, np.roll(receivers, -1)


@OPERATORS.register("swap_modality")
@dataclass(frozen=True, kw_only=True)
class SwapModality(ModalityOperator):
    """Replace the modality (features and presence mask) with another touched example's.

    A permutation within the touched fraction: the multiset of rows is preserved. Fraction
    only (level = fraction). Needs the pool of touched rows in one call: order-invariant,
    not chunk-invariant. A single touched example has nobody to swap with and is unchanged.
    """

    name: ClassVar[str] = "swap_modality"
    chunk_invariant: ClassVar[bool] = False

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        receivers, donors = cyclic_partners(rows, keys)
        x[receivers] = x[donors]  # (k, d) — fancy indexing reads before it writes
        mask[receivers] = mask[donors]
