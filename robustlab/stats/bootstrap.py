"""The bootstrap: BCa and percentile intervals of per-example means (the engine behind one-seed
accuracies with enough successes and failures, robustness metrics, and `paired_bootstrap_cis`).

Which procedure each reported number uses is decided elsewhere (`proportions`, `paired`,
`robustness`; docs/statistics.md); this module is the resampling half of it.

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

from robustlab.stats._resample import acceleration, compress, replicates

IntervalMethod = Literal["bca", "percentile", "clopper_pearson", "tango", "crossed_t",
                         "crossed_cc"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    estimate: the statistic on the data (e.g. accuracy, or Δ = acc_a − acc_b)
    low, high: interval bounds at confidence `level`
    method: how the interval was made (docs/statistics.md says when each is used):
        "bca" — bootstrap, bias-corrected and accelerated; "percentile" — bootstrap percentile
        (degenerate resamples, the two-level bootstrap); "clopper_pearson" — exact binomial;
        "tango" — Tango's score interval for a paired difference; "crossed_t" / "crossed_cc" —
        several seeds: the crossed seed × example t interval (Satterthwaite / Cochran–Cox
        critical value) joined with the exact/score interval of the seed-averaged results
    n: number of examples; n_seeds: number of training seeds (the most of any method)
    df: degrees of freedom of a crossed_* interval (Satterthwaite), else None
    """

    estimate: float
    low: float
    high: float
    level: float
    method: IntervalMethod
    n: int
    n_seeds: int = 1
    df: float | None = None



def check_correct(x: np.ndarray, name: str) -> np.ndarray:
    """`x` as a (n_seeds, n) float 0/1 array; ValueError naming `name` unless bool-like."""
    arr = np.asarray(x)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0 or arr.size == 0:
        raise ValueError(
            f"{name}: expected shape (n,) or (n_seeds, n) with n >= 1, got {arr.shape}"
        )
    if arr.dtype != np.bool_ and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name}: expected bool (or 0/1) correctness, got dtype {arr.dtype}")
    return np.atleast_2d(arr).astype(np.float64)


def check_options(rng: np.random.Generator, n_resamples: int, level: float) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples: must be an int >= 1, got {n_resamples!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")


def _column_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantile q[g] of column g of the sorted (R, G) array, numpy's 'linear' rule."""
    pos = q * (ordered.shape[0] - 1)  # (G,)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, ordered.shape[0] - 1)
    hi = np.minimum(lo + 1, ordered.shape[0] - 1)
    cols = np.arange(ordered.shape[1])
    frac = pos - lo
    return ordered[lo, cols] + frac * (ordered[hi, cols] - ordered[lo, cols])


def bca_levels(
    estimate: np.ndarray, boot: np.ndarray, accel: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BCa quantile levels (q_low, q_high) per column of `boot` (R, G) and where they are defined.

    z0 counts ties as half (scipy's rule), which matters for the lattice-valued statistics here.
    """
    from scipy.special import ndtr, ndtri

    tol = 1e-12 * np.maximum(1.0, np.abs(estimate))  # θ* equal to θ̂ up to float rounding
    below = (boot < estimate - tol).sum(axis=0) + (boot <= estimate + tol).sum(axis=0)
    z0 = ndtri(below / (2.0 * boot.shape[0]))
    z_lo = ndtri((1.0 - level) / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_lo, d_hi = 1.0 - accel * (z0 + z_lo), 1.0 - accel * (z0 - z_lo)
        q_lo = ndtr(z0 + (z0 + z_lo) / d_lo)
        q_hi = ndtr(z0 + (z0 - z_lo) / d_hi)
    spread = boot.max(axis=0) > boot.min(axis=0)
    ok = np.isfinite(q_lo) & np.isfinite(q_hi) & (d_lo > 0) & (d_hi > 0) & spread
    return q_lo, q_hi, ok


def intervals_from_replicates(
    estimate: np.ndarray,
    boot: np.ndarray,
    accel: np.ndarray | None,
    level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, is_bca) per column of `boot` (R, G).

    `accel` (G,) enables BCa (one-level bootstrap); None means percentile for every column.
    Columns where BCa is undefined (no spread, infinite z0, NaN acceleration) fall back to
    the percentile interval.
    """
    alpha = (1.0 - level) / 2.0
    q_lo = np.full(boot.shape[1], alpha)
    q_hi = np.full(boot.shape[1], 1.0 - alpha)
    is_bca = np.zeros(boot.shape[1], dtype=bool)
    if accel is not None:
        b_lo, b_hi, is_bca = bca_levels(estimate, boot, accel, level)
        q_lo, q_hi = np.where(is_bca, b_lo, q_lo), np.where(is_bca, b_hi, q_hi)
    ordered = np.sort(boot, axis=0)
    return _column_quantiles(ordered, q_lo), _column_quantiles(ordered, q_hi), is_bca


def bootstrap_blocks(
    slices: Sequence[Sequence[np.ndarray]],
    *,
    rng: np.random.Generator,
    n_resamples: int,
    level: float,
) -> list[Interval]:
    """CI of θ = Σ_j mean(block_j) for every slice (blocks `(S_j, n)`; see `_resample`).

    Slices with the same seed layout share one vectorised draw; groups run in order of first
    appearance, so the result depends only on the inputs and the generator's state.
    """
    check_options(rng, n_resamples, level)
    packed = [compress(blocks) for blocks in slices]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, c in enumerate(packed):
        groups.setdefault(c.seeds, []).append(i)
    out: list[Interval | None] = [None] * len(packed)
    for seeds, members in groups.items():
        group = [packed[i] for i in members]
        boot = replicates(group, rng, n_resamples)  # (R, G)
        estimate = np.array([c.estimate() for c in group])
        one_level = all(s == 1 for s in seeds)
        accel = np.array([acceleration(c) for c in group]) if one_level else None
        low, high, is_bca = intervals_from_replicates(estimate, boot, accel, level)
        for j, i in enumerate(members):
            out[i] = Interval(
                estimate=float(estimate[j]), low=float(low[j]), high=float(high[j]),
                level=level, method="bca" if is_bca[j] else "percentile",
                n=group[j].n, n_seeds=max(seeds),
            )
    return [iv for iv in out if iv is not None]


def paired_blocks(
    a: np.ndarray, b: np.ndarray, pair_seeds: bool, names: str = "correct_a, correct_b"
) -> tuple[np.ndarray, ...]:
    """(S_a, n) and (S_b, n) per-example values -> blocks whose summed means are mean(a) − mean(b):
    one (S, n) difference when seeds pair, else (a, −b) resampled independently."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names}: different numbers of examples "
                         f"({a.shape[1]} vs {b.shape[1]}); pair them by example id first")
    if pair_seeds:
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"pair_seeds=True needs equal n_seeds, got {a.shape[0]} and "
                             f"{b.shape[0]}; pass pair_seeds=False to resample them independently")
        return (a - b,)
    return (a, -b)


def paired_bootstrap_ci(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> Interval:
    """Δ = acc_a − acc_b on the same example ids with a paired bootstrap CI.

    Not what the report uses for Δ (that is `paired_comparison`: an interval and a test from one
    procedure); kept as the engine's reference workload (`bench_bootstrap`) and for users who
    want the bootstrap.

    correct_a, correct_b: bool `(n,)` or `(n_seeds, n)`, column j is example j for both.
    Each resample draws example ids once and applies them to both methods. With seeds, seed
    rows are resampled first: jointly (row s of a pairs with row s of b) when `pair_seeds`
    (requires equal n_seeds), independently per method otherwise.
    """
    return paired_bootstrap_cis(
        [correct_a], [correct_b], rng=rng, n_resamples=n_resamples, level=level,
        pair_seeds=pair_seeds,
    )[0]


def paired_bootstrap_cis(
    slices_a: Sequence[np.ndarray],
    slices_b: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> list[Interval]:
    """`paired_bootstrap_ci` for many slices in one vectorised draw.

    slices_a[g], slices_b[g]: the two methods' correctness on slice g (same shape rules as
    `paired_bootstrap_ci`). Returns one Interval per slice, in order.
    """
    if len(slices_a) != len(slices_b):
        raise ValueError(f"slices_a, slices_b: {len(slices_a)} vs {len(slices_b)} slices")
    blocks = [
        paired_blocks(check_correct(a, f"slices_a[{g}]"), check_correct(b, f"slices_b[{g}]"),
                       pair_seeds)
        for g, (a, b) in enumerate(zip(slices_a, slices_b, strict=True))
    ]
    return bootstrap_blocks(blocks, rng=rng, n_resamples=n_resamples, level=level)
