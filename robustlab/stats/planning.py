"""What would decide a contrast: minimum detectable effect, and the seeds or test examples that
would let a contrast reach a verdict.

A contrast is *decidable* at a design (S seeds per variant, n test examples) when both

    a true |Δ| = δ is called better / worse with 80 % power:   se·(t_{1−α′/2} + t_{0.8}) ≤ δ
    a true Δ = 0 is called equivalent with 80 % power:         se·(t_{1−α′} + t_{0.9}) ≤ δ

(TOST at Δ = 0 rejects both one-sided nulls with probability ≈ 2Φ(δ/se − t_{1−α′}) − 1).
The planned standard error comes from the contrast's variance parts (`components.py`),

    se²(S, n) = Σ_j σ²_seed,j / S  +  σ²_ex / n  +  Σ_j σ²_int,j / (S n),

with each block's seed variance at the upper 80 % confidence limit of its (pooled) estimate,
not at the point estimate: with 2 degrees of freedom the point estimate is as often far too low
as not, and a plan built on it under-delivers (Browne 1995). Degrees of freedom of the planned
test: the seed terms' (S − 1 plus the pooled prior's), the examples' n − 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import t as student

from robustlab.stats.components import ContrastData, Variance, satterthwaite_signed
from robustlab.stats.pooling import upper_limit

POWER = 0.8
MAX_SEEDS = 10**5
MAX_EXAMPLES = 10**9
_UNLIMITED = 1e15  # "as many as it takes" for the other lever


@dataclass(frozen=True)
class Plan:
    """Per contrast (G,): mde: the difference detected with 80 % power at the current design;
    seeds: seeds per variant at which the contrast becomes decidable (inf: more seeds alone
    cannot, the test set is too small); examples: test examples at which it does with the
    current seeds (inf: the seed term alone is too large); seeds_floor, examples_floor: the
    least of each even with unlimited amounts of the other (what both levers together need at
    minimum); lever: "seeds" or "examples", whichever part dominates the current variance.
    NaN where a variant has one seed (no seed variance to plan with)."""

    mde: np.ndarray
    seeds: np.ndarray
    examples: np.ndarray
    seeds_floor: np.ndarray
    examples_floor: np.ndarray
    lever: np.ndarray


def _factor(alpha: np.ndarray, df: np.ndarray) -> np.ndarray:
    """max(t_{1−α/2} + t_{0.8}, t_{1−α} + t_{0.9}) at df."""
    diff = student.isf(alpha / 2.0, df) + student.ppf(POWER, df)
    equiv = student.isf(alpha, df) + student.ppf(1.0 - (1.0 - POWER) / 2.0, df)
    return np.maximum(diff, equiv)


@dataclass(frozen=True)
class _Design:
    """Per-contrast planning inputs (G,) and per-block ones (K,)."""

    owner: np.ndarray
    seed: np.ndarray  # (K,) σ²_seed at the upper limit
    inter: np.ndarray  # (K,) σ²_int
    prior_df: np.ndarray  # (K,) df a block keeps whatever S (the pooled prior's)
    example: np.ndarray  # (G,) σ²_ex
    n: np.ndarray
    seeds: np.ndarray  # (G,) current seeds per variant (the smaller)


def _design(data: ContrastData, block_var: np.ndarray, block_df: np.ndarray) -> _Design:
    b = data.blocks
    n_k = data.n[b.owner]
    ucl = upper_limit(block_var, block_df)
    has = b.seeds >= 2
    seed = np.where(has, np.maximum(ucl - b.resid / n_k, 0.0), np.nan)
    inter = np.where(has, b.resid, 0.0)
    per = np.bincount(b.owner, inter / np.maximum(b.seeds, 1.0), minlength=data.n.size)
    example = np.maximum(data.example - per, 0.0)
    return _Design(b.owner, seed, inter, np.maximum(block_df - (b.seeds - 1), 0.0), example,
                   data.n.astype(np.float64),
                   np.minimum(data.seeds_a, data.seeds_b).astype(np.float64))


def _se_df(d: _Design, seeds: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(se, df) of each contrast at `seeds` per variant and `n` examples (both (G,))."""
    g, k = n.size, d.owner.size
    s_k, n_k = seeds[d.owner], n[d.owner]
    terms = np.zeros((g, k + 1))
    df = np.full((g, k + 1), np.inf)
    terms[d.owner, np.arange(k)] = d.seed / s_k + d.inter / (s_k * n_k)
    df[d.owner, np.arange(k)] = np.maximum(s_k - 1.0 + d.prior_df, 1.0)
    terms[:, k] = d.example / n
    df[:, k] = np.maximum(n - 1.0, 1.0)
    return np.sqrt(terms.sum(axis=1)), satterthwaite_signed(terms, df)


def _decidable(d: _Design, seeds: np.ndarray, n: np.ndarray, alpha: np.ndarray,
               margin: float) -> np.ndarray:
    se, df = _se_df(d, seeds, n)
    return se * _factor(alpha, df) <= margin


def _smallest(ok, low: np.ndarray, high: float) -> np.ndarray:
    """(G,) the smallest integer x in [low, high] with ok(x) (monotone), inf where none."""
    lo, hi = low.astype(np.float64).copy(), np.full(low.shape, high)
    possible = ok(hi)
    done = ok(lo)
    for _ in range(int(np.ceil(np.log2(high))) + 1):
        mid = np.floor((lo + hi) / 2.0)
        good = ok(mid)
        hi, lo = np.where(good, mid, hi), np.where(good, lo, mid)
    return np.where(done, low, np.where(possible, hi, np.inf))


def plan(data: ContrastData, var: Variance, block_var: np.ndarray, block_df: np.ndarray,
         alpha: np.ndarray, margin: float, half_width: np.ndarray | None = None) -> Plan:
    """MDE now, and the seeds / examples that would decide each contrast at level alpha (G,).
    block_var, block_df: (K,) the blocks' seed variances as the test used them (pooled);
    half_width (G,): the reported (1 − α′) interval's half width — where the score test
    widens it (tiny or degenerate contrasts), the MDE follows it, not the crossed t alone."""
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), data.n.shape)
    crit = student.isf(alpha / 2.0, var.df)
    mde = np.sqrt(var.total) * (crit + student.ppf(POWER, var.df))
    if half_width is not None:
        z = ndtri(1.0 - alpha / 2.0)
        mde = np.maximum(mde, half_width * (z + ndtri(POWER)) / z)
    d = _design(data, block_var, block_df)
    plannable = np.isfinite(np.bincount(d.owner, d.seed, minlength=data.n.size))
    lots = np.full(d.n.shape, _UNLIMITED)
    start = np.maximum(d.seeds, 2.0)
    found = [_smallest(lambda s, m=m: _decidable(d, s, m, alpha, margin), start, MAX_SEEDS)
             for m in (d.n, lots)]
    found += [_smallest(lambda m, s=s: _decidable(d, s, m, alpha, margin), d.n, MAX_EXAMPLES)
              for s in (d.seeds, lots)]
    seeds, seeds_floor, examples, examples_floor = (np.where(plannable, x, np.nan)
                                                    for x in found)
    # the interaction shrinks with either lever; compare what only one of them can shrink
    lever = np.where(var.seed >= var.example, "seeds", "examples")
    return Plan(mde, seeds, examples, seeds_floor, examples_floor, lever)
