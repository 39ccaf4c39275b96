"""Multiple-comparison corrections: Holm (FWER, confirmatory) and Benjamini–Hochberg (FDR).

Both return adjusted p-values in the input's shape and order: reject H_i at level α iff
adjusted_i <= α. The family is everything in the array passed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Correction = Literal["holm", "bh"]


def _check(p: np.ndarray) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"p: p-values must be in [0, 1] and not NaN, got {arr.ravel()[:8]}…")
    return arr


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values; same shape and order as `p` (values in [0, 1]).

    Sorted ascending, p_(i) becomes max_{j <= i} min(1, (m − j + 1) p_(j)) (1-based j).
    """
    arr = _check(p)
    flat = arr.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = (m - np.arange(m)) * flat[order]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.reshape(arr.shape)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (q-values); same shape and order as `p`.

    Sorted ascending, p_(i) becomes min_{j >= i} min(1, m p_(j) / j) (1-based j).
    """
    arr = _check(p)
    flat = arr.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    # m·p/m can round one ulp below p; the adjusted value is never smaller than p.
    return np.maximum(adjusted, flat).reshape(arr.shape)


def adjust(p: np.ndarray, correction: Correction) -> np.ndarray:
    """Dispatch to `holm` ("holm") or `benjamini_hochberg` ("bh")."""
    if correction == "holm":
        return holm(p)
    if correction == "bh":
        return benjamini_hochberg(p)
    raise ValueError(f"correction: must be 'holm' or 'bh', got {correction!r}")
