"""Closed-form intervals: Clopper–Pearson against scipy, Tango against an independent
constrained maximum likelihood, and the interval ⟺ test identities the report relies on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import ndtri
from scipy.stats import binom, binomtest

from robustlab.stats import clopper_pearson, mcnemar_exact_counts, score_p, tango
from robustlab.stats.binomial import tango_z


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_clopper_pearson_equals_scipy(kn: tuple[int, int], level: float) -> None:
    k, n = kn
    low, high = clopper_pearson(k, n, level)
    ref = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    assert float(low) == pytest.approx(ref.low, abs=1e-12)
    assert float(high) == pytest.approx(ref.high, abs=1e-12)


def test_clopper_pearson_is_monotone_in_fractional_successes() -> None:
    x = np.linspace(0, 30, 301)  # seed-averaged counts take fractional values
    low, high = clopper_pearson(x, np.full_like(x, 30.0))
    assert (np.diff(low) >= 0).all() and (np.diff(high) >= 0).all()
    assert (high - low > 0.05).all()  # never zero width at n = 30


def _constrained_p01(n10: int, n01: int, n: int, d0: float) -> float:
    """p₀₁ maximising the trinomial likelihood subject to p₁₀ − p₀₁ = d0, numerically."""
    rest = n - n10 - n01

    def nll(p01: float) -> float:
        p10, p_rest = p01 + d0, 1.0 - 2.0 * p01 - d0
        terms = [(n10, p10), (n01, p01), (rest, p_rest)]
        return -sum(c * np.log(max(p, 1e-300)) for c, p in terms if c)

    lo, hi = max(0.0, -d0), (1.0 - d0) / 2.0
    return float(minimize_scalar(nll, bounds=(lo, hi), method="bounded",
                                 options={"xatol": 1e-13}).x)


@pytest.mark.parametrize(("n10", "n01", "n"), [(1, 7, 21), (5, 2, 40), (0, 0, 30),
                                                (12, 3, 200), (40, 35, 100), (9, 0, 9)])
def test_tango_bounds_solve_the_score_equation_with_the_constrained_mle(n10, n01, n) -> None:
    low, high, p = tango(n10, n01, n)
    z = ndtri(0.975)
    for bound, target in ((float(low), z), (float(high), -z)):
        if abs(bound) >= 1 - 1e-9:  # the bound sits at the edge of the parameter space
            continue
        p01 = _constrained_p01(n10, n01, n, bound)
        stat = (n10 - n01 - n * bound) / np.sqrt(n * (2 * p01 + bound * (1 - bound)))
        assert stat == pytest.approx(target, abs=1e-5)
    assert low < (n10 - n01) / n < high or n10 == n  # Δ̂ inside, never zero width
    assert float(p) == pytest.approx(float(score_p(n10, n01)))


def test_tango_at_zero_is_mcnemars_score_statistic() -> None:
    n10, n01, n = np.array([7, 3, 20]), np.array([2, 3, 11]), np.array([50, 50, 300])
    z0 = tango_z(n10.astype(float), n01.astype(float), n.astype(float), np.zeros(3))
    np.testing.assert_allclose(z0, (n10 - n01) / np.sqrt(n10 + n01), rtol=1e-12)


@given(st.integers(1, 300).flatmap(lambda n: st.tuples(
    st.integers(0, n), st.integers(0, n), st.just(n)).filter(lambda t: t[0] + t[1] <= n)),
       st.sampled_from([0.9, 0.95, 0.99]))
def test_tango_interval_excludes_zero_iff_its_test_rejects(counts, level: float) -> None:
    n10, n01, n = counts
    low, high, p = tango(n10, n01, n, level)
    assert (low > 0 or high < 0) == (p < 1 - level)
    assert high - low > 0


def test_exact_mcnemar_rejection_implies_score_rejection() -> None:
    # The exact conditional test is the more conservative one at every discordant count up
    # to 3000 and every level used: the report's score test never misses what it would flag.
    d = np.repeat(np.arange(1, 3001), np.arange(1, 3001) // 2 + 1)  # every (d, k ≤ d/2)
    k = np.arange(d.size) - np.repeat(np.cumsum(np.r_[0, np.arange(1, 3000) // 2 + 1]),
                                      np.arange(1, 3001) // 2 + 1)
    exact, score = mcnemar_exact_counts(k, d - k), score_p(k, d - k)
    for level in (0.9, 0.95, 0.99, 0.999):
        missed = (exact < 1 - level) & ~(score < 1 - level)
        assert not missed.any(), (level, d[missed][:3], k[missed][:3])


def test_exact_mcnemar_is_conservative_where_the_score_test_is_near_nominal() -> None:
    # Why the report uses the score test: at n = 200 with 10 % discordant pairs the exact
    # test's size is ~0.03, the score test's ~0.05 (exact sums over the binomial, no MC).
    d = np.arange(1, 201)
    w = binom.pmf(d, 200, 0.1)
    size = {}
    for name, test in [("exact", mcnemar_exact_counts), ("score", score_p)]:
        size[name] = sum(w[i] * binom.pmf(k, d[i], 0.5) @ (test(k, d[i] - k) < 0.05)
                         for i, k in ((i, np.arange(d[i] + 1)) for i in range(d.size)))
    assert size["exact"] < 0.035 and abs(size["score"] - 0.05) < 0.005
