"""Bootstrap confidence intervals for accuracies, paired differences and other per-example means.

Every statistic here is a mean of per-example values (accuracy, a paired difference of
correctness, a robustness metric that is a weighted sum of accuracies). Such a statistic only
depends on how many times each *pattern* of per-example values is drawn, so resampling `n`
example ids with replacement is drawn, exactly in distribution, as one multinomial count vector
over the distinct patterns (`_resample.py`). That makes a resample O(#patterns) instead of O(n)
and vectorises over resamples and slices at once; no Python loop runs per resample.

Shapes: `correct` is `(n,)` (one seed) or `(n_seeds, n)` (several training seeds of one
method on the same `n` example ids). Several seeds → two-level bootstrap: resample seeds, then
example ids (the same ids for every drawn seed and both methods).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

IntervalMethod = Literal["bca", "percentile"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided bootstrap confidence interval.

    estimate: the statistic on the data (e.g. accuracy, or Δ = acc_a − acc_b)
    low, high: interval bounds at confidence `level`
    method: "bca" (bias-corrected and accelerated) or "percentile" (the fallback on degenerate
        slices and for the two-level seed bootstrap, where BCa's jackknife is not defined)
    n: number of examples; n_seeds: number of training seeds (1 = one-level bootstrap)
    """

    estimate: float
    low: float
    high: float
    level: float
    method: IntervalMethod
    n: int
    n_seeds: int = 1


def accuracy_ci(
    correct: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Accuracy with a bootstrap CI.

    correct: bool `(n,)`, or `(n_seeds, n)` for several seeds on the same example ids (then a
    two-level bootstrap: seeds, then example ids).
    """
    raise NotImplementedError


def paired_difference_ci(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> Interval:
    """Δ = acc_a − acc_b on the same example ids with a paired bootstrap CI.

    correct_a, correct_b: bool `(n,)` or `(n_seeds, n)`, column j is example j for both.
    Each resample draws example ids once and applies them to both methods. With seeds, seed
    rows are resampled first: jointly (row s of a pairs with row s of b) when `pair_seeds`
    (requires equal n_seeds), independently per method otherwise.
    """
    raise NotImplementedError


def accuracy_cis(
    slices: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> list[Interval]:
    """`accuracy_ci` for many slices in one vectorised draw; slices[g] is `(n_g,)` or
    `(n_seeds, n_g)`. Returns one Interval per slice, in order."""
    raise NotImplementedError


def paired_difference_cis(
    slices_a: Sequence[np.ndarray],
    slices_b: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> list[Interval]:
    """`paired_difference_ci` for many slices in one vectorised draw.

    slices_a[g], slices_b[g]: the two methods' correctness on slice g (same shapes rules as
    `paired_difference_ci`). Returns one Interval per slice, in order.
    """
    raise NotImplementedError
