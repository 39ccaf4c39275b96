"""The confirmation tests of discovered slices: the report's tests, on the held-out half.

- A slice's **failure** (one variant, a slice S vs the rest R of the test examples):
  Δ = acc(S) − acc(R), the two-sample counterpart of the pairwise procedure (`paired`):
  - one seed: the Miettinen–Nurminen score test of two independent proportions and the
    interval that inverts it (Miettinen & Nurminen 1985; recommended by Fagerland, Lydersen &
    Laake 2015); at Δ₀ = 0 it is the pooled two-proportion z test times √((N − 1)/N);
  - several seeds: an intersection–union of (i) the crossed seed × example t-test of equal
    *mean* accuracy, with variance
        V̂ = s²(Δ_s)/S + s²(ē_i, i ∈ S)/n_S + s²(ē_i, i ∈ R)/n_R,
    Δ_s the slice gap of seed s and ē_i an example's seed-averaged correctness — Clark's
    min-F′ for the two-sample case, conservative by the seed × example interaction as in
    `crossed` — with Satterthwaite df (Cochran–Cox critical values at 2 seeds), and (ii) the
    score test on the seed-averaged (fractional) counts. p = max, interval = hull, so the
    interval excludes 0 exactly when p < 1 − level.
- A comparison's **reversal** on S: the paired Δ of the two variants on S, with `paired.compare`
  (Tango / crossed seed × example), exactly as the pairwise table and hidden failures test it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from robustlab.stats.crossed import Components, crossed_t

_BISECTIONS = 55


@dataclass(frozen=True)
class TwoSample:
    """Δ = acc(S) − acc(R) with its interval and the test the interval inverts.

    acc_slice, acc_rest: seed-averaged accuracies; n_slice, n_rest: examples; method:
    "score" (one seed) or "crossed_t" / "crossed_cc"; df: the crossed test's (None for one
    seed); p_value: two-sided, and low ≤ 0 ≤ high ⟺ p_value ≥ 1 − level; p_lower: one-sided,
    of "the slice is worse" (Δ < 0), and high < 0 ⟺ p_lower < (1 − level)/2."""

    estimate: float
    low: float
    high: float
    p_value: float
    method: str
    acc_slice: float
    acc_rest: float
    n_slice: int
    n_rest: int
    df: float | None
    p_lower: float = 1.0


def mn_z(x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray,
         delta0: np.ndarray, skew: bool = True) -> np.ndarray:
    """Miettinen–Nurminen score statistic of H0: p₁ − p₂ = delta0 (decreasing in delta0).

    x1, x2 may be fractional (seed-averaged successes). The variance uses the maximum-likelihood
    (p̃₁, p̃₂) under p̃₁ − p̃₂ = delta0, the root of Farrington & Manning's cubic, times
    N/(N − 1). With `skew`, Gart & Nam's (1990) skewness correction (as in Laud's 2017 SCAS
    intervals): z solves T = z + (γ/6)(z² − 1), γ the skewness of p̂₁ − p̂₂ under H0 — without
    it the one-sided test of a worse slice at high accuracy is liberal (exact size 0.064 at
    nominal 0.05 for 50 vs 950 examples at accuracy 0.95; tests/stats)."""
    x1, n1, x2, n2, d = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                              for a in (x1, n1, x2, n2, delta0)))
    p1, p2 = x1 / n1, x2 / n2
    p1t = _restricted(p1, n1, p2, n2, d)
    p2t = p1t - d
    total = n1 + n2
    var = (p1t * (1 - p1t) / n1 + p2t * (1 - p2t) / n2) * total / np.maximum(total - 1, 1)
    diff = p1 - p2 - d
    with np.errstate(invalid="ignore", divide="ignore"):
        z = diff / np.sqrt(var)
    edge = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))
    z = np.where(var > 1e-300, z, edge)
    if not skew:
        return z
    mu3 = (p1t * (1 - p1t) * (1 - 2 * p1t) / n1**2 - p2t * (1 - p2t) * (1 - 2 * p2t) / n2**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = np.where(var > 1e-300, mu3 / var**1.5, 0.0)
    return _corrected(z, gamma)


def _corrected(t: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """The root near t of t = z + a(z² − 1), a = γ/6 (the vertex −1/(2a) where none)."""
    a = gamma / 6.0
    small = np.abs(a) < 1e-10
    safe = np.where(small, 1.0, a)
    with np.errstate(invalid="ignore"):
        disc = 1.0 + 4.0 * safe * (t + safe)
        root = (-1.0 + np.sqrt(np.maximum(disc, 0.0))) / (2.0 * safe)
    return np.where(small | ~np.isfinite(t), t, root)


def _restricted(p1: np.ndarray, n1: np.ndarray, p2: np.ndarray, n2: np.ndarray,
                d: np.ndarray) -> np.ndarray:
    """p̃₁ maximising the two binomial likelihoods subject to p̃₁ − p̃₂ = d (Farrington &
    Manning 1990's closed form of the cubic's root, clipped into the feasible range)."""
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + d * (theta + 2.0))
    c = d * d + d * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    e = -p1 * d * (1.0 + d)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + e / (2.0 * a)
    u = np.sign(v) * np.sqrt(np.maximum(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.clip(np.where(u != 0, v / u**3, 0.0), -1.0, 1.0)
    w = (np.pi + np.arccos(ratio)) / 3.0
    p1t = 2.0 * u * np.cos(w) - b / (3.0 * a)
    pooled = (n1 * p1 + n2 * p2) / (n1 + n2)  # the exact root at d = 0 (the cubic loses it
    p1t = np.where(d == 0, pooled, p1t)  # to rounding when the counts are tiny)
    return np.clip(p1t, np.maximum(d, 0.0), np.minimum(1.0 + d, 1.0))


def mn_interval(x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, level: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, p): {Δ₀ : |z(Δ₀)| ≤ z_{1−α/2}} and the two-sided p of Δ = 0,
    p = 2 min(Φ(z(0)), 1 − Φ(z(0))) (so Φ(z(0)) = p/2 when z(0) < 0: the one-sided p)."""
    crit = ndtri(1.0 - (1.0 - level) / 2.0)
    x1, n1, x2, n2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                           for a in (x1, n1, x2, n2)))
    est = x1 / n1 - x2 / n2
    low = _root(x1, n1, x2, n2, crit, np.full(est.shape, -1.0), est.copy())
    high = _root(x1, n1, x2, n2, -crit, est.copy(), np.full(est.shape, 1.0))
    z0 = mn_z(x1, n1, x2, n2, np.zeros(est.shape))
    return low, high, 2.0 * ndtr(-np.abs(z0))


def _root(x1, n1, x2, n2, target, low, high) -> np.ndarray:
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2.0
        above = mn_z(x1, n1, x2, n2, mid) > target
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return (low + high) / 2.0


def slice_vs_rest(correct: np.ndarray, in_slice: np.ndarray, level: float) -> TwoSample:
    """One variant's Δ = acc(S) − acc(R) (module docstring).

    correct: (S, n) 0/1, row s = seed s, column i = example i; in_slice: (n,) bool with at
    least 2 examples on each side."""
    return slices_vs_rest([correct], [in_slice], level)[0]


def slices_vs_rest(correct: Sequence[np.ndarray], in_slice: Sequence[np.ndarray],
                   level: float) -> list[TwoSample]:
    """`slice_vs_rest` for many (correct[g] (S_g, n_g), in_slice[g] (n_g,)) at once."""
    parts = [_summary(np.atleast_2d(np.asarray(c, dtype=np.float64)),
                      np.asarray(m, dtype=bool)) for c, m in zip(correct, in_slice, strict=True)]
    if not parts:
        return []
    col = lambda k: np.array([p[k] for p in parts], dtype=np.float64)  # noqa: E731
    xs, ns, xr, nr, seeds = col(0), col(1), col(2), col(3), col(4)
    low, high, p = mn_interval(xs, ns, xr, nr, level)
    lower = ndtr(mn_z(xs, ns, xr, nr, np.zeros(xs.shape)))  # one-sided: the slice is worse
    df = np.full(low.shape, np.nan)
    cc = np.zeros(low.shape, dtype=bool)
    several = seeds > 1
    if several.any():
        rows = [p_[5] for p_, s in zip(parts, several, strict=True) if s]
        comp = Components(np.array([r[0] for r in rows]), ns[several] + nr[several],
                          seeds[several].astype(np.int64), np.array([r[1] for r in rows]),
                          np.array([r[2] for r in rows]), *(np.zeros(len(rows)),) * 4)
        t_low, t_high, t_p, df[several], cc[several] = crossed_t(comp, level)
        low[several] = np.minimum(low[several], t_low)
        high[several] = np.maximum(high[several], t_high)
        p[several] = np.maximum(p[several], t_p)
        t_est = xs[several] / ns[several] - xr[several] / nr[several]
        t_lower = np.where(t_est < 0, t_p / 2.0, 1.0 - t_p / 2.0)  # the t is symmetric
        lower[several] = np.maximum(lower[several], t_lower)
    low, high = np.maximum(low, -1.0), np.minimum(high, 1.0)  # a difference of accuracies
    method = np.where(~several, "score", np.where(cc, "crossed_cc", "crossed_t"))
    return [TwoSample(float(xs[g] / ns[g] - xr[g] / nr[g]), float(low[g]), float(high[g]),
                      float(p[g]), str(method[g]), float(xs[g] / ns[g]), float(xr[g] / nr[g]),
                      int(ns[g]), int(nr[g]), float(df[g]) if several[g] else None,
                      float(lower[g]))
            for g in range(len(parts))]


def _summary(c: np.ndarray, mask: np.ndarray) -> tuple:
    """(x_S, n_S, x_R, n_R, S, crossed (estimate, var (3,), df (3,)) or None) of one slice."""
    ns, nr = int(mask.sum()), int((~mask).sum())
    if mask.shape != (c.shape[1],) or ns < 2 or nr < 2:
        raise ValueError(f"in_slice: need (n,) with >= 2 examples in the slice and outside, "
                         f"got {ns}, {nr} of {c.shape[1]}")
    e = c.mean(axis=0)  # (n,) seed-averaged correctness
    s = c.shape[0]
    crossed = None
    if s > 1:  # the crossed two-sample variance terms: seed, slice examples, rest examples
        gaps = c[:, mask].mean(axis=1) - c[:, ~mask].mean(axis=1)  # (S,) Δ_s
        crossed = (e[mask].mean() - e[~mask].mean(),
                   [gaps.var(ddof=1) / s, e[mask].var(ddof=1) / ns, e[~mask].var(ddof=1) / nr],
                   [s - 1.0, ns - 1.0, nr - 1.0])
    return float(e[mask].sum()), ns, float(e[~mask].sum()), nr, s, crossed
