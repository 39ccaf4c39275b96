"""Robustness summaries over a severity grid (MultiBench's relative and effective robustness).

levels: `(L,)` condition levels of one curve, including 0.0 (clean), strictly increasing.
correct: `(L, n)` or `(L, n_seeds, n)` bool; row l is the correctness at levels[l] on the same
n example ids.
"""

from __future__ import annotations

import numpy as np

from robustlab.stats.bootstrap import Interval


def relative_robustness(
    levels: np.ndarray,
    correct: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Area under the accuracy–level curve (trapezoidal, levels scaled to [0, 1]), with CI."""
    raise NotImplementedError


def effective_robustness(
    levels: np.ndarray,
    correct: np.ndarray,
    reference: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> Interval:
    """Area of the gap between the curve and the reference curve shifted to the same clean
    accuracy: RR(f) − RR(r) − (f(0) − r(0)), with a paired CI. `reference` has `correct`'s
    layout (same levels and example ids)."""
    raise NotImplementedError
