"""Pooled seed variances: empirical-Bayes moderation across the contrasts of a family.

With 3 seeds a contrast's seed variance rests on 2 degrees of freedom, so its t-test has a
critical value near 4.3 (and near 20 after a correction for 70 contrasts): nothing short of an
enormous effect is called. The contrasts of one study share a training pipeline, so their seed
variances carry information about each other. Following Smyth (2004, limma's moderated t),
each block's seed variance v_k (df d_k) is taken as a draw around a common prior,

    v_k / w_k ~ s0² · χ²_{d_k} / d_k   with   1/σ²_k ~ (d0 s0²)⁻¹ χ²_{d0}

where w_k is the block's probit-scale factor (`components.probit_scale`): seed effects act
on the latent scale, so an accuracy near 0 or 1 varies less between seeds than one near 0.5.
The moderated variance and its degrees of freedom are

    ṽ_k = (d0 s0² w_k + d_k v_k) / (d0 + d_k),      d̃_k = d0 + d_k.

d0 and s0² are estimated from the spread of log(v_k / w_k) between variants (a variant's blocks
in several conditions are the same trained runs: `fit_prior_units`), robustly (median, MAD):
when the seed variances are as alike as their sampling noise allows, d0 is large and every
contrast borrows strength; when they are heterogeneous, d0 → 0 and nothing is pooled. d0 is
capped at the family's total degrees of freedom (no more information than the data hold).

Protection where the assumption fails (`_noisy`): a variant whose blocks sit above the pool's
centre on average keeps its own variances and df — borrowing would only shrink them — and so
does any block in the upper 5 % tail of F(d_k, d0). Blocks with v_k = 0 (every seed identical)
do not inform the prior; they are moderated upward. The error of the pooled test under violated
homogeneity is measured in tests/stats/test_verdict_calibration.py and `python -m bench
calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, polygamma
from scipy.stats import chi2, f

MIN_BLOCKS = 3  # fewer informative units: no prior can be estimated, nothing is pooled
# A variant whose blocks sit above the pool's centre on average (one-sided p < 0.5 of their
# mean log variance) keeps its own variances: borrowing would only shrink them, which is where
# pooling errs. Stricter cut-offs let noisy variants through: with seed sds spread 8x among 15
# variants, 0.2 and 0.3 gave family-wise errors of 0.090 and 0.077, 0.5 gave 0.055
# (400 data sets, MC sd 0.011; tests/stats/test_verdict_calibration.py, bench calibration).
OUTLIER_LEVEL = 0.5
BLOCK_LEVEL = 0.05  # one block (a variant in one condition) far above the pool


@dataclass(frozen=True)
class Pooled:
    """Moderated seed variances of K blocks and the prior they share.

    var, df: (K,) ṽ_k, d̃_k (the block's own where not pooled);  pooled: (K,) bool;
    prior_df: d0 (0 = nothing pooled);  prior_var: s0² (probit scale);  blocks: how many
    units (variants) estimated the prior;  outliers: blocks left unpooled as too noisy;
    homogeneity_p: Bartlett's test that the blocks' probit-scale variances are equal (NaN when
    fewer than MIN_BLOCKS).
    """

    var: np.ndarray
    df: np.ndarray
    pooled: np.ndarray
    prior_df: float
    prior_var: float
    blocks: int
    outliers: int
    homogeneity_p: float


def _trigamma_inverse(x: float) -> float:
    """y > 0 with ψ'(y) = x (Newton's method from Smyth's limma)."""
    if x > 1e7:
        return 1.0 / np.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(polygamma(1, y))
        step = tri * (1.0 - tri / x) / float(polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def fit_prior(psi: np.ndarray, df: np.ndarray) -> tuple[float, float]:
    """(d0, s0²) from probit-scale variances psi (> 0) with df (method of moments on logs)."""
    e = np.log(psi) - digamma(df / 2.0) + np.log(df / 2.0)
    excess = e.var(ddof=1) - float(np.mean(polygamma(1, df / 2.0)))
    if excess <= 0:
        return np.inf, float(np.exp(e.mean()))
    d0 = 2.0 * _trigamma_inverse(excess)
    return d0, float(np.exp(e.mean() + digamma(d0 / 2.0) - np.log(d0 / 2.0)))


def bartlett_p(psi: np.ndarray, df: np.ndarray) -> float:
    """Bartlett's test of equal variances from variances and their df."""
    k, total = psi.size, df.sum()
    pooled = (df * psi).sum() / total
    stat = total * np.log(pooled) - (df * np.log(psi)).sum()
    corr = 1.0 + ((1.0 / df).sum() - 1.0 / total) / (3.0 * (k - 1))
    return float(chi2.sf(stat / corr, k - 1))


def fit_prior_units(psi: np.ndarray, df: np.ndarray, unit: np.ndarray) -> tuple[float, float]:
    """(d0, s0²) when blocks come in units of shared seed randomness (one variant evaluated
    under several conditions: the same trained runs).

    A unit's blocks are not independent draws, so their count cannot buy precision: the spread
    of true variances is estimated between units. With e = log ψ − ψ₀(d/2) + log(d/2) (an
    unbiased log variance), the between-unit variance of the unit means B, less the part the
    within-unit spread W explains (W / C̄, C̄ the harmonic mean of blocks per unit), is the
    variance of the true log variances, τ² = ψ₁(d0/2). Correlated blocks within a unit shrink W
    and so *raise* τ² — less pooling: the error goes the safe way.
    """
    e = np.log(psi) - digamma(df / 2.0) + np.log(df / 2.0)
    ids, inverse = np.unique(unit, return_inverse=True)
    count = np.bincount(inverse).astype(np.float64)
    means = np.bincount(inverse, e) / count
    within_ss = ((e - means[inverse]) ** 2).sum()
    within_df = (count - 1).sum()
    within = within_ss / within_df if within_df > 0 else float(np.mean(polygamma(1, df / 2.0)))
    c_bar = ids.size / (1.0 / count).sum()
    # median and MAD, not mean and variance: one variant whose seeds split between learning and
    # not (GRAM: 0.008, 0.47, 1.0 on clean data) would spread the prior so wide that nothing is
    # pooled for anyone; the MAD, scaled to be consistent at the normal, ignores it
    spread = (1.4826 * np.median(np.abs(means - np.median(means)))) ** 2
    tau2 = spread - within / c_bar
    centre = float(np.median(means))
    if tau2 <= 0:
        return np.inf, float(np.exp(centre))
    d0 = 2.0 * _trigamma_inverse(tau2)
    return d0, float(np.exp(centre + digamma(d0 / 2.0) - np.log(d0 / 2.0)))


def pool(var: np.ndarray, df: np.ndarray, scale: np.ndarray, unit: np.ndarray | None = None,
         *, outlier_level: float = OUTLIER_LEVEL) -> Pooled:
    """Moderate K block seed variances `var` (df `df`, probit-scale factor `scale`). unit (K,):
    the blocks' sources of seed randomness (default: every block its own); the prior's spread
    is estimated between units (`fit_prior_units`), and a unit found too noisy for the pool is
    left unpooled in every block. Blocks with df 0 (one seed) pass through unpooled."""
    var, df, scale = (np.asarray(x, dtype=np.float64) for x in (var, df, scale))
    unit = np.arange(var.size) if unit is None else np.asarray(unit)
    informative = (df >= 1) & (var > 0)
    psi, d, u = var[informative] / scale[informative], df[informative], unit[informative]
    units = np.unique(u)
    if units.size < MIN_BLOCKS:
        return Pooled(var, df, np.zeros(var.shape, bool), 0.0, np.nan, int(units.size), 0,
                      np.nan)
    d0, s0 = _fit(psi, d, u)
    noisy = _noisy(psi, d, u, d0, s0, outlier_level)
    flagged = np.zeros(var.shape, dtype=bool)
    flagged[np.flatnonzero(informative)[noisy]] = True
    # a block whose variance is 0 is not informative, but it is no outlier either: pooled
    use = (df >= 1) & ~flagged & (d0 > 0)
    moderated = (d0 * s0 * scale + df * var) / (d0 + df)
    return Pooled(np.where(use, moderated, var), np.where(use, d0 + df, df), use, d0, s0,
                  int(units.size), int(flagged.sum()), bartlett_p(psi, d))


def _fit(psi: np.ndarray, d: np.ndarray, u: np.ndarray) -> tuple[float, float]:
    units = np.unique(u)
    d0, s0 = fit_prior(psi, d) if units.size == psi.size else fit_prior_units(psi, d, u)
    unit_df = float(np.array([d[u == k].max() for k in units]).sum())
    return min(d0, unit_df), s0


def _noisy(psi: np.ndarray, d: np.ndarray, u: np.ndarray, d0: float, s0: float,
           level: float) -> np.ndarray:
    """(blocks,) bool: left unpooled — the block's variance lies in the upper BLOCK_LEVEL tail
    of the pool's F(d, d0), or its variant's blocks sit in the upper `level` tail on average
    (their mean log variance against the prior's spread)."""
    block = f.sf(psi / s0, d, d0) < BLOCK_LEVEL
    e = np.log(psi / s0)
    _, inverse = np.unique(u, return_inverse=True)
    count = np.bincount(inverse).astype(np.float64)
    mean = np.bincount(inverse, e) / count
    noise = float(polygamma(1, np.median(d) / 2.0))  # sampling variance of one log variance
    prior = float(polygamma(1, d0 / 2.0)) if np.isfinite(d0) and d0 > 0 else 0.0
    z = mean / np.sqrt(prior + noise / count)
    unit = chi2.sf(np.maximum(z, 0.0) ** 2, 1) / 2.0 < level  # upper tail only
    return block | unit[inverse]


def upper_limit(var: np.ndarray, df: np.ndarray, level: float = 0.8) -> np.ndarray:
    """One-sided upper `level` confidence limit of a variance with df degrees of freedom:
    df·var / χ²_{1−level}(df) (Browne 1995 plans sample sizes from the 80 % limit, so that the
    planned power is reached with at least that probability). Where df is 0, returns var."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ucl = df * var / chi2.ppf(1.0 - level, df)
    return np.where(df > 0, ucl, var)
