"""Closed-form intervals and tests for proportions and paired proportions.

- `clopper_pearson`: the exact (Clopper–Pearson 1934) interval of a proportion; coverage is at
  least `level` for every true p and n. Accepts fractional successes (a seed-averaged count):
  the beta quantiles are continuous in them.
- `tango`: Tango's (1998) score interval for Δ = p₁₀ − p₀₁ of paired proportions and the
  score test it inverts. At Δ₀ = 0 that test is McNemar's asymptotic test without continuity
  correction, z = (n₁₀ − n₀₁) / √(n₁₀ + n₀₁), so "interval excludes 0" ⟺ "p < 1 − level"
  holds by construction (Fagerland, Lydersen & Laake 2013/2014 recommend both).

Everything is vectorised over slices: arguments broadcast, results have their shape.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import beta

_BISECTIONS = 55  # halvings of an interval of width ≤ 2: below 1e-16, i.e. float precision


def _alpha(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    return 1.0 - level


def clopper_pearson(
    successes: np.ndarray, n: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) exact interval of a proportion; `successes` may be fractional, 0 ≤ x ≤ n.

    low = Beta⁻¹(α/2; x, n − x + 1) (0 when x = 0), high = Beta⁻¹(1 − α/2; x + 1, n − x)
    (1 when x = n). Equals `scipy.stats.binomtest(x, n).proportion_ci(method="exact")`.
    """
    a = _alpha(level)
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    x = np.clip(x, 0.0, m)  # rounding of a seed-averaged count may step a hair outside
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(x > 0, beta.ppf(a / 2, np.maximum(x, 1e-300), m - x + 1), 0.0)
        high = np.where(x < m, beta.ppf(1 - a / 2, x + 1, np.maximum(m - x, 1e-300)), 1.0)
    return low, high


def tango_z(n10: np.ndarray, n01: np.ndarray, n: np.ndarray, delta0: np.ndarray) -> np.ndarray:
    """Tango's score statistic for H0: Δ = delta0 (decreasing in delta0).

    n10: pairs where a is right and b wrong; n01: the reverse; n: all pairs. The variance uses
    the constrained maximum-likelihood p₀₁ under Δ = delta0 (a root of a quadratic).
    """
    a = 2.0 * n
    b = -n10 - n01 + (2.0 * n - n10 + n01) * delta0
    c = -n01 * delta0 * (1.0 - delta0)
    p01 = (np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
    var = n * (2.0 * p01 + delta0 * (1.0 - delta0))
    diff = n10 - n01 - n * delta0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = diff / np.sqrt(var)
    # var = 0 only where the data sit at that delta0 exactly (diff = 0) or at Δ₀ = ±1.
    edge = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))
    return np.where(var > 0, z, edge)


def _root(n10, n01, n, target, low, high) -> np.ndarray:
    """delta0 in [low, high] where the decreasing tango_z crosses `target` (bisection)."""
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2.0
        above = tango_z(n10, n01, n, mid) > target
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return (low + high) / 2.0


def tango(
    n10: np.ndarray, n01: np.ndarray, n: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, p_value): Tango's score interval for Δ = (n10 − n01)/n and the two-sided
    score test of Δ = 0. Counts may be fractional (seed-averaged); n ≥ 1.

    The interval is {Δ₀ : |z(Δ₀)| ≤ z_{1−α/2}}; it never has zero width for n ≥ 1.
    """
    low, high = tango_bounds(n10, n01, n, ndtri(1.0 - _alpha(level) / 2.0))
    return low, high, score_p(n10, n01)


def tango_bounds(
    n10: np.ndarray, n01: np.ndarray, n: np.ndarray, z_crit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) = {Δ₀ : |z(Δ₀)| ≤ z_crit}; z_crit broadcasts (one critical value per
    slice, e.g. each contrast's corrected level)."""
    n10, n01, n, z_crit = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (n10, n01, n, z_crit)))
    est = (n10 - n01) / n
    low = _root(n10, n01, n, z_crit, np.full(est.shape, -1.0), est.copy())
    high = _root(n10, n01, n, -z_crit, est.copy(), np.full(est.shape, 1.0))
    return low, high


def score_p(n10: np.ndarray, n01: np.ndarray) -> np.ndarray:
    """Two-sided p of McNemar's asymptotic test, z = (n10 − n01)/√(n10 + n01); 1 when no pair
    is discordant. Tango's statistic at Δ₀ = 0."""
    n10, n01 = np.asarray(n10, dtype=np.float64), np.asarray(n01, dtype=np.float64)
    total = n10 + n01
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(n10 - n01) / np.sqrt(total)
    return np.where(total > 0, 2.0 * ndtr(-z), 1.0)
