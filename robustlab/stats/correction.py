"""Multiple-comparison corrections: Holm (FWER, confirmatory) and Benjamini–Hochberg (FDR)."""

from __future__ import annotations

from typing import Literal

import numpy as np

Correction = Literal["holm", "bh"]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values; same shape and order as `p` (values in [0, 1])."""
    raise NotImplementedError


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (q-values); same shape and order as `p`."""
    raise NotImplementedError


def adjust(p: np.ndarray, correction: Correction) -> np.ndarray:
    """Dispatch to `holm` ("holm") or `benjamini_hochberg` ("bh")."""
    raise NotImplementedError
