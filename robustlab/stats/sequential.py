"""Group-sequential boundaries: Lan–DeMets α-spending for adding seeds until decided.

A contrast is looked at after S₁ < S₂ < … ≤ S_max seeds per variant. At look k its information
fraction is t_k = S_k / S_max, and the error it may have spent by then is α(t_k):

    O'Brien–Fleming type   α(t) = 2 − 2 Φ(z_{1−α/2} / √t)      (almost nothing early)
    Pocock type            α(t) = α · ln(1 + (e − 1) t)         (evenly)

(Lan & DeMets 1983). The nominal boundary c_k of look k solves

    P(no crossing at looks 1..k−1, crossing at look k) = α(t_k) − α(t_{k−1})

under H₀ for the canonical joint distribution of the looks' z statistics (independent
increments of the score S_k = Z_k √t_k; Jennison & Turnbull 2000, ch. 7 and 19): the density
of S on the continuation region is carried from look to look on a grid (numerical integration
against the normal increment) and each c_k found by root finding. The difference test is
two-sided (α/2 per tail); each one-sided test of the equivalence pair is one-sided at α.

Seeds shrink only the seed part of a contrast's variance; the test examples are the same at
every look, so the looks' statistics are *more* correlated than t = S/S_max assumes. By
Slepian's inequality more correlation can only lower the chance of some crossing, so the
boundaries err on the safe side (the simulation in tests/stats/test_sequential.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

Spending = Literal["obrien_fleming", "pocock"]
SPENDING: tuple[Spending, ...] = ("obrien_fleming", "pocock")
_GRID = 2001  # points of the density grid on the continuation region
_FAR = 12.0  # a z beyond which nothing is ever crossed (P < 1e-32)


def spent(t: np.ndarray, alpha: float, kind: Spending) -> np.ndarray:
    """α(t): the error spent by information fraction t ∈ [0, 1] (α(1) = α)."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if kind == "obrien_fleming":
        with np.errstate(divide="ignore"):
            return np.where(t > 0, 2.0 - 2.0 * ndtr(ndtri(1.0 - alpha / 2.0) / np.sqrt(t)), 0.0)
    if kind == "pocock":
        return alpha * np.log1p((np.e - 1.0) * t)
    raise ValueError(f"spending: must be one of {SPENDING}, got {kind!r}")


@dataclass(frozen=True)
class Boundaries:
    """Per look (K,): t, the information fraction; z, the critical value; nominal: the p-value
    threshold a look's test uses (two-sided for the difference test, one-sided for each test
    of the equivalence pair); spent: α(t) cumulated."""

    t: np.ndarray
    z: np.ndarray
    nominal: np.ndarray
    spent: np.ndarray


def _tail(s: np.ndarray, density: np.ndarray, dt: float, bound: float, two_sided: bool
          ) -> float:
    """P(the next score lies beyond ±bound) from grid density `density` on points s."""
    sd = np.sqrt(dt)
    upper = 1.0 - ndtr((bound - s) / sd)
    lower = ndtr((-bound - s) / sd) if two_sided else 0.0
    return float(np.trapezoid(density * (upper + lower), s))


def _start(t1: float, bound: float, two_sided: bool) -> tuple[np.ndarray, np.ndarray]:
    """The density of the first score, N(0, t1), on its continuation region."""
    low = -bound if two_sided else -bound - 10.0 * np.sqrt(t1)
    grid = np.linspace(low, bound, _GRID)
    return grid, np.exp(-(grid**2) / (2 * t1)) / np.sqrt(2 * np.pi * t1)


def _carry(s: np.ndarray, density: np.ndarray, dt: float, bound: float, two_sided: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """The density of the next score on its continuation region (−bound or −∞, bound)."""
    low = -bound if two_sided else min(s[0], -bound) - 10.0 * np.sqrt(dt)
    grid = np.linspace(low, bound, _GRID)
    kernel = np.exp(-((grid[:, None] - s[None, :]) ** 2) / (2 * dt)) / np.sqrt(2 * np.pi * dt)
    return grid, np.trapezoid(kernel * density[None, :], s, axis=1)


def _solve(s: np.ndarray, density: np.ndarray, dt: float, scale: float, target: float,
           two_sided: bool) -> float:
    """The z whose crossing probability at the next look is `target` (inf when 0)."""
    if target <= 0:
        return float(np.inf)
    return float(brentq(lambda c: _tail(s, density, dt, c * scale, two_sided) - target,
                        0.0, _FAR))


def boundaries(t: np.ndarray, alpha: float, kind: Spending = "obrien_fleming",
               two_sided: bool = True) -> Boundaries:
    """Critical values of looks at increasing information fractions t (K,), t[-1] ≤ 1."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or (np.diff(t) <= 0).any() or t[0] <= 0 or t[-1] > 1 + 1e-12:
        raise ValueError(f"t: increasing fractions in (0, 1], got {t}")
    cum = spent(t, alpha, kind)
    tail = 2.0 if two_sided else 1.0
    z = np.empty(t.size)
    z[0] = ndtri(1.0 - cum[0] / tail) if cum[0] > 0 else np.inf
    s, density = _start(t[0], min(z[0], _FAR) * np.sqrt(t[0]), two_sided)
    for k in range(1, t.size):
        dt, target = t[k] - t[k - 1], cum[k] - cum[k - 1]
        z[k] = _solve(s, density, dt, np.sqrt(t[k]), target, two_sided)
        s, density = _carry(s, density, dt, min(z[k], _FAR) * np.sqrt(t[k]), two_sided)
    nominal = tail * (1.0 - ndtr(z))
    return Boundaries(t, z, nominal, cum)
