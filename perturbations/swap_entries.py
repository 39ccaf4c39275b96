"""swap_entries: random transpositions of entries within each touched example's row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, SeverityOperator, row_blocks
from perturbations.hashing import integers


@OPERATORS.register("swap_entries")
@dataclass(frozen=True, kw_only=True)
class SwapEntries(SeverityOperator):
    """MultiBench-style random swap: round(p · d / 2) transpositions of two random entries.

    Each row stays a permutation of itself (its multiset of values is preserved); at most a
    share p(severity) of its entries move (fewer when a transposition repeats or is i ↔ i).
    Narrow rows blur the table: d=128 gives 3, 6, 13, 22, 32 transpositions, d=16 gives
    1, 1, 2, 3, 4 (at least one always happens).
    """

    name: ClassVar[str] = "swap_entries"
    # severity -> share p of a row's entries involved in swaps
    severities: ClassVar[dict[int, float]] = {1: 0.05, 2: 0.1, 3: 0.2, 4: 0.35, 5: 0.5}

    def swaps(self, d: int) -> int:
        return max(1, round(self.amount * d / 2))

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        d = x.shape[1]
        k = self.swaps(d)
        for block in row_blocks(rows, x.shape[0]):
            part = np.ascontiguousarray(x[block])  # (b, d)
            flat = part.reshape(-1)  # a view: swaps below write through to `part`
            base = np.arange(part.shape[0], dtype=np.int64)[:, None] * d  # (b, 1)
            pos = integers(keys[block], 2 * k, d) + base  # (b, 2k) flat positions
            for t in range(k):  # k ≤ d/4 sequential swaps, each vectorised over the block
                i, j = pos[:, 2 * t], pos[:, 2 * t + 1]
                flat[i], flat[j] = flat[j], flat[i]
            x[block] = part
