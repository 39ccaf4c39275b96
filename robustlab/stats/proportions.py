"""Intervals for accuracies and other means of per-example values in [0, 1] (relative robustness).

The rule (docs/statistics.md, "Accuracy and its interval"):

- one seed, at least MIN_COUNT successes *and* MIN_COUNT failures (x = Σ v_i and n − x):
  bootstrap BCa — near-nominal there, and the same engine as the robustness metrics;
- one seed, fewer (small, near-perfect or all-equal slices): Clopper–Pearson, exact, never
  zero width (the bootstrap of 30/30 correct is the zero-width [1, 1]);
- several seeds: the crossed seed × example t interval (`crossed`), which carries the seed
  variance; where the seed-averaged values hold fewer than MIN_COUNT successes or failures
  (x = Σ_i mean_s v_si, n − x), joined with the Clopper–Pearson interval of those values: it
  conditions on the trained models and protects small and degenerate slices, where the t
  interval's normal approximation fails (three identical seeds at 30/30 have no variance to
  estimate). A seed-averaged value varies no more than a 0/1 one of the same mean, so
  Clopper–Pearson on it is conservative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustlab.stats.binomial import clopper_pearson
from robustlab.stats.bootstrap import Interval, bootstrap_blocks, check_correct, check_options
from robustlab.stats.crossed import components, crossed_t

MIN_COUNT = 10  # successes and failures a one-seed slice needs for the bootstrap (np ≥ 10 rule)


def proportion_intervals(
    slices: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    n_resamples: int,
    level: float,
) -> list[Interval]:
    """One Interval per slice of `(S, n)` float values in [0, 1], by the module's rule.

    Only the bootstrapped slices draw from `rng` (one vectorised call, in slice order).
    """
    check_options(rng, n_resamples, level)
    out: list[Interval | None] = [None] * len(slices)
    boot = [g for g, x in enumerate(slices) if x.shape[0] == 1 and _enough(x[0])]
    for g, iv in zip(boot, bootstrap_blocks([(slices[g],) for g in boot], rng=rng,
                                            n_resamples=n_resamples, level=level), strict=True):
        out[g] = iv
    exact = [g for g, x in enumerate(slices) if x.shape[0] == 1 and out[g] is None]
    for g, iv in zip(exact, _exact([slices[g] for g in exact], level), strict=True):
        out[g] = iv
    crossed = [g for g, x in enumerate(slices) if x.shape[0] > 1]
    for g, iv in zip(crossed, _crossed([slices[g] for g in crossed], level), strict=True):
        out[g] = iv
    return [iv for iv in out if iv is not None]


def _enough(values: np.ndarray) -> bool:
    x = float(values.sum())
    return min(x, values.size - x) >= MIN_COUNT


def _exact(slices: Sequence[np.ndarray], level: float) -> list[Interval]:
    if not slices:
        return []
    x = np.array([s.sum() for s in slices])
    n = np.array([s.shape[1] for s in slices])
    low, high = clopper_pearson(x, n, level)
    return [Interval(float(x[g] / n[g]), float(low[g]), float(high[g]), level,
                     "clopper_pearson", int(n[g])) for g in range(len(slices))]


def _crossed(slices: Sequence[np.ndarray], level: float) -> list[Interval]:
    if not slices:
        return []
    c = components([(s,) for s in slices])
    low, high, _, df, cc = crossed_t(c, level)
    few = np.minimum(c.pos, c.n - c.pos) < MIN_COUNT  # seed-averaged successes / failures
    cp_low, cp_high = clopper_pearson(c.pos, c.n, level)
    low = np.clip(np.where(few, np.minimum(low, cp_low), low), 0.0, 1.0)
    high = np.clip(np.where(few, np.maximum(high, cp_high), high), 0.0, 1.0)
    return [Interval(float(c.estimate[g]), float(low[g]), float(high[g]), level,
                     "crossed_cc" if cc[g] else "crossed_t", int(c.n[g]), int(c.n_seeds[g]),
                     float(df[g])) for g in range(len(slices))]


def accuracy_ci(
    correct: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Accuracy with a confidence interval (rule: the module docstring).

    correct: bool `(n,)`, or `(n_seeds, n)` for several seeds on the same example ids.
    """
    return accuracy_cis([correct], rng=rng, n_resamples=n_resamples, level=level)[0]


def accuracy_cis(
    slices: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> list[Interval]:
    """`accuracy_ci` for many slices at once; slices[g] is `(n_g,)` or `(n_seeds, n_g)`.
    Returns one Interval per slice, in order."""
    checked = [check_correct(x, f"slices[{g}]") for g, x in enumerate(slices)]
    return proportion_intervals(checked, rng=rng, n_resamples=n_resamples, level=level)
