"""signal_swap: swap only the signal coordinates with another touched example (XNOR-style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, ModalityOperator
from perturbations.swap_modality import cyclic_partners


@OPERATORS.register("signal_swap")
@dataclass(frozen=True, kw_only=True)
class SignalSwap(ModalityOperator):
    """Coordinates dims[0]:dims[1] (half-open) come from another touched example.

    The Gated Symile fragility benchmark's corruption: the signal block is misaligned while
    the distractor coordinates and the presence mask stay. A cyclic permutation among the
    touched rows, as in swap_modality (order-invariant, not chunk-invariant).
    """

    name: ClassVar[str] = "signal_swap"
    chunk_invariant: ClassVar[bool] = False

    dims: tuple[int, int]

    def __post_init__(self) -> None:
        super().__post_init__()
        dims = self.dims
        ok = isinstance(dims, tuple | list) and len(dims) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in dims)
        if not ok or not 0 <= dims[0] < dims[1]:
            raise ValueError(f"signal_swap.dims: must be (start, stop) integers with "
                             f"0 <= start < stop, got {dims!r}")
        object.__setattr__(self, "dims", (int(dims[0]), int(dims[1])))  # YAML gives a list

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        start, stop = self.dims
        if stop > x.shape[1]:
            raise ValueError(f"signal_swap.dims: stop {stop} exceeds the width {x.shape[1]} of "
                             f"modality {self.modality!r}")
        receivers, donors = cyclic_partners(rows, keys)
        x[receivers, start:stop] = x[donors, start:stop]  # (k, stop - start)
