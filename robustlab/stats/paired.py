"""Paired comparisons Δ = acc_a − acc_b: one procedure gives the interval and the test.

- One seed each: Tango's score interval and the score test it inverts (at Δ = 0 McNemar's
  asymptotic test). "Interval excludes 0" ⟺ "p < 1 − level", by construction.
- Several seeds (either method): an intersection–union of two tests of Δ = 0, each with the
  interval it inverts —
    (i) the crossed seed × example t-test of equal *mean* accuracy (`crossed`), which carries
        the seed variance, and
    (ii) Tango's score test on the seed-averaged results (fractional discordant counts), which
        conditions on the trained models and protects small and degenerate slices, where (i)'s
        normal approximation is poor.
  p = max(p_i, p_ii) and the interval is the hull of the two intervals, so again "interval
  excludes 0" ⟺ "p < 1 − level". Rejecting only when both reject keeps the size ≤ α.

The exact conditional McNemar test (`mcnemar.py`) stays available; the report does not use it
because its conservativeness (size ≈ 0.02–0.04 at n = 200) would make the consistent interval
over-cover under the null (docs/statistics.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustlab.stats.binomial import tango
from robustlab.stats.bootstrap import IntervalMethod, check_correct, paired_blocks
from robustlab.stats.crossed import Components, components, crossed_t, take


@dataclass(frozen=True)
class Comparison:
    """Δ = acc_a − acc_b with its interval and the test the interval inverts.

    estimate, low, high, level, n, n_seeds: as in `Interval`; method: "tango" (one seed) or
    "crossed_t" / "crossed_cc" (several seeds; see the module docstring); p_value: two-sided p
    of Δ = 0, and low ≤ 0 ≤ high ⟺ p_value ≥ 1 − level; df: Satterthwaite degrees of freedom
    of the crossed test (None for one seed); n_01, n_10: examples whose seed-averaged
    difference is < 0 / > 0 (McNemar's discordant counts for one seed).
    """

    estimate: float
    low: float
    high: float
    level: float
    method: IntervalMethod
    n: int
    n_seeds: int
    p_value: float
    df: float | None
    n_01: int
    n_10: int


def compare(c: Components, level: float) -> list[Comparison]:
    """One Comparison per row of `c` (rows with n_seeds == 1 use Tango alone)."""
    low, high, p = tango(c.pos, c.neg, c.n, level)
    several = c.n_seeds > 1
    df = np.full(low.shape, np.nan)
    cc = np.zeros(low.shape, dtype=bool)
    if several.any():
        t_low, t_high, t_p, df[several], cc[several] = crossed_t(take(c, several), level)
        low[several] = np.minimum(low[several], t_low)
        high[several] = np.maximum(high[several], t_high)
        p[several] = np.maximum(p[several], t_p)
    return [
        Comparison(
            estimate=float(c.estimate[g]), low=float(low[g]), high=float(high[g]), level=level,
            method="tango" if not several[g] else ("crossed_cc" if cc[g] else "crossed_t"),
            n=int(c.n[g]), n_seeds=int(c.n_seeds[g]), p_value=float(p[g]),
            df=float(df[g]) if several[g] else None, n_01=int(c.n_neg[g]), n_10=int(c.n_pos[g]),
        )
        for g in range(low.size)
    ]


def paired_comparisons(
    slices_a: Sequence[np.ndarray],
    slices_b: Sequence[np.ndarray],
    *,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> list[Comparison]:
    """`paired_comparison` for many slices; slices_a[g], slices_b[g] are the two methods'
    correctness on slice g. Returns one Comparison per slice, in order."""
    if len(slices_a) != len(slices_b):
        raise ValueError(f"slices_a, slices_b: {len(slices_a)} vs {len(slices_b)} slices")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    blocks = [
        paired_blocks(check_correct(a, f"slices_a[{g}]"), check_correct(b, f"slices_b[{g}]"),
                      pair_seeds)
        for g, (a, b) in enumerate(zip(slices_a, slices_b, strict=True))
    ]
    return compare(components(blocks), level) if blocks else []


def paired_comparison(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> Comparison:
    """Δ = acc_a − acc_b on the same example ids: interval and test from one procedure.

    correct_a, correct_b: bool `(n,)` or `(n_seeds, n)`, column j is example j for both. With
    several seeds, seed s of a pairs with seed s of b when `pair_seeds` (equal n_seeds
    required), else each method's seeds are independent runs.
    """
    return paired_comparisons([correct_a], [correct_b], level=level, pair_seeds=pair_seeds)[0]
