"""Robustness summaries over a severity grid (MultiBench's relative and effective robustness).

levels: `(L,)` condition levels of one curve, strictly increasing, starting at 0.0 (clean).
correct: `(L, n)` or `(L, n_seeds, n)` bool; row l is the correctness at levels[l] on the same
n example ids.

MultiBench integrates accuracy over its perturbation levels with the trapezoidal rule
(relative robustness) and sums the gap to a reference curve shifted to the method's clean
accuracy (effective robustness), then max–min normalises across the methods it compares.
Here both use the same trapezoidal rule over levels scaled to [0, 1], so they are in accuracy
units and do not depend on the grid size, and there is no cross-method normalisation (it would
change with the set of methods and has no CI). Both are means of per-example values:

- RR is a level-weighted accuracy in [0, 1] and gets the accuracy rule (`proportions`: BCa,
  Clopper–Pearson on small or degenerate curves, the crossed interval with several seeds);
- ER, a difference of two such areas, gets BCa (resampling example ids once across all levels
  and both methods; percentile where BCa is undefined) with one seed, and the crossed seed ×
  example t interval (`crossed`) with several.

ER is meaningless for a method whose clean accuracy is indistinguishable from chance (its
curve cannot fall): `guard_effective_robustness` withholds it there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from robustlab.stats.bootstrap import (
    Interval,
    bootstrap_blocks,
    check_correct,
    check_options,
    paired_blocks,
)
from robustlab.stats.crossed import components, crossed_t
from robustlab.stats.proportions import proportion_intervals


def trapezoid_weights(levels: np.ndarray) -> np.ndarray:
    """(L,) weights w with Σ_l w_l acc_l = trapezoidal area under acc over levels / max(levels).

    The weights sum to 1, so a flat curve at accuracy p has area p.
    """
    x = np.asarray(levels, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.isfinite(x).all():
        raise ValueError(f"levels: expected >= 2 finite levels (clean 0.0 first), got {x}")
    if x[0] != 0.0 or not (np.diff(x) > 0).all():
        raise ValueError(f"levels: must start at 0.0 (clean) and strictly increase, got {x}")
    x = x / x[-1]
    gaps = np.diff(x)  # (L-1,)
    w = np.zeros(x.size)
    w[:-1] += gaps / 2.0
    w[1:] += gaps / 2.0
    return w


def _curve(levels: np.ndarray, correct: np.ndarray, name: str) -> np.ndarray:
    """(L, S, n) float from `correct`, checked against `levels`."""
    arr = np.asarray(correct)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3 or arr.shape[0] != np.asarray(levels).size:
        raise ValueError(f"{name}: expected shape (L, n) or (L, n_seeds, n) with "
                         f"L = len(levels) = {np.asarray(levels).size}, got {arr.shape}")
    return np.stack([check_correct(row, f"{name}[{i}]") for i, row in enumerate(arr)])


def relative_block(levels: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """(S, n) per-example relative robustness Σ_l w_l x_l (its mean is the area)."""
    x = _curve(levels, correct, "correct")
    return np.einsum("l,lsn->sn", trapezoid_weights(levels), x)


def effective_blocks(
    levels: np.ndarray, correct: np.ndarray, reference: np.ndarray, pair_seeds: bool
) -> tuple[np.ndarray, ...]:
    """Blocks whose summed means are ER = [RR(f) − f(0)] − [RR(r) − r(0)]."""
    f = relative_block(levels, correct) - _curve(levels, correct, "correct")[0]  # (S_f, n)
    r = relative_block(levels, reference) - _curve(levels, reference, "reference")[0]
    return paired_blocks(f, r, pair_seeds, "correct, reference")


def relative_robustness(
    levels: np.ndarray,
    correct: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Area under the accuracy–level curve (trapezoidal, levels scaled to [0, 1]), with CI."""
    block = relative_block(levels, correct)
    return proportion_intervals([block], rng=rng, n_resamples=n_resamples, level=level)[0]


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
    blocks = effective_blocks(levels, correct, reference, pair_seeds)
    return difference_intervals([blocks], rng=rng, n_resamples=n_resamples, level=level)[0]


def difference_intervals(
    slices: Sequence[Sequence[np.ndarray]],
    *,
    rng: np.random.Generator,
    n_resamples: int,
    level: float,
) -> list[Interval]:
    """CI of θ = Σ_j mean(block_j) per slice: bootstrap (BCa) when every block has one seed,
    the crossed seed × example t interval otherwise. Only bootstrapped slices use `rng`."""
    check_options(rng, n_resamples, level)
    one = [g for g, blocks in enumerate(slices) if all(b.shape[0] == 1 for b in blocks)]
    several = [g for g in range(len(slices)) if g not in set(one)]
    out: dict[int, Interval] = dict(zip(one, bootstrap_blocks(
        [slices[g] for g in one], rng=rng, n_resamples=n_resamples, level=level), strict=True))
    if several:
        c = components([slices[g] for g in several])
        low, high, _, df, cc = crossed_t(c, level)
        for j, g in enumerate(several):
            out[g] = Interval(float(c.estimate[j]), float(low[j]), float(high[j]), level,
                              "crossed_cc" if cc[j] else "crossed_t", int(c.n[j]),
                              int(c.n_seeds[j]), float(df[j]))
    return [out[g] for g in range(len(slices))]


def guard_effective_robustness(
    robustness: pl.DataFrame,
    clean: pl.DataFrame,
    *,
    reference: str,
    chance: float | None,
) -> pl.DataFrame:
    """`robustness` (robustness_table's frame) with ER withheld near chance.

    clean: one row per method with columns method and ci_low — the clean-condition accuracy
    intervals (e.g. the report's accuracy table on the clean condition). A method whose clean
    interval reaches `chance` (ci_low ≤ chance) gets effective_robustness and its interval set
    to null and er_note "near chance"; if the reference's does, every other method's ER gets
    er_note "reference near chance" (and nulls). chance None: nothing withheld, er_note
    "chance unknown" on every row. Adds columns clean_ci_low and er_note.
    """
    if chance is not None and not 0.0 <= chance <= 1.0:
        raise ValueError(f"chance: must be in [0, 1] or None, got {chance!r}")
    lows = dict(zip(clean["method"].to_list(), clean["ci_low"].to_list(), strict=True))
    out = robustness.with_columns(clean_ci_low=pl.col("method").replace_strict(
        lows, default=None, return_dtype=pl.Float64))
    if chance is None:
        return out.with_columns(er_note=pl.lit("chance unknown"))
    ref_low = lows.get(reference)
    near = pl.col("clean_ci_low").is_null() | (pl.col("clean_ci_low") <= chance)
    ref_near = ref_low is None or ref_low <= chance
    note = (pl.when(near).then(pl.lit("near chance"))
            .when(pl.lit(ref_near) & (pl.col("method") != reference))
            .then(pl.lit("reference near chance")).otherwise(pl.lit("")))
    out = out.with_columns(er_note=note)
    withheld = pl.col("er_note") != ""
    return out.with_columns(
        [pl.when(withheld).then(None).otherwise(pl.col(c)).alias(c)
         for c in ("effective_robustness", "er_ci_low", "er_ci_high")])
