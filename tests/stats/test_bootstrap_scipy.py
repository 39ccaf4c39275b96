"""Agreement with scipy.stats.bootstrap: exactly on the same resamples, else within MC error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri

from robustlab.stats import accuracy_ci, paired_bootstrap_ci
from robustlab.stats._resample import _stats, acceleration, compress
from robustlab.stats.bootstrap import intervals_from_replicates

R = 4000


def _diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def _scipy_paired(a, b, method: str, seed: int, n_resamples: int = R):
    return stats.bootstrap((a.astype(float), b.astype(float)), _diff, paired=True,
                           vectorized=True, n_resamples=n_resamples, method=method,
                           rng=np.random.default_rng(seed))


@pytest.fixture
def pair(paired) -> tuple[np.ndarray, np.ndarray]:
    return paired(np.random.default_rng(3), 300, p10=0.2, p01=0.12, p11=0.4)


def test_counts_reproduce_scipys_replicates_on_the_same_ids(pair) -> None:
    # scipy's paired bootstrap draws ids as rng.integers(0, n, (R, n)); the pattern counts of
    # those same ids must give exactly scipy's bootstrap distribution.
    a, b = pair
    res = _scipy_paired(a, b, "percentile", seed=11)
    ids = np.random.default_rng(11).integers(0, a.size, (R, a.size))  # scipy's draw
    assert np.array_equal(_diff(a[ids].astype(float), b[ids].astype(float)),
                          res.bootstrap_distribution)  # our reading of scipy's draw is right
    c = compress([(a.astype(float) - b)[None, :]])
    key = {tuple(p): k for k, p in enumerate(c.patterns)}
    pattern_of = np.array([key[(float(x),)] for x in a.astype(float) - b])  # (n,)
    counts = np.stack([np.bincount(row, minlength=c.counts.size) for row in pattern_of[ids]])
    ours = _stats(counts[:, None, :], c.patterns[None], [np.ones((R, 1))], (1,), a.size)[:, 0]
    np.testing.assert_allclose(ours, res.bootstrap_distribution, rtol=0, atol=1e-14)


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_interval_matches_scipy_on_scipys_replicates(pair, method: str) -> None:
    a, b = pair
    res = _scipy_paired(a, b, method, seed=5)
    c = compress([(a.astype(float) - b)[None, :]])
    accel = np.array([acceleration(c)]) if method == "BCa" else None
    low, high, is_bca = intervals_from_replicates(
        np.array([c.estimate()]), res.bootstrap_distribution[:, None], accel, 0.95)
    assert is_bca[0] == (method == "BCa")
    np.testing.assert_allclose([low[0], high[0]], res.confidence_interval, rtol=0, atol=1e-12)


def test_accuracy_bca_matches_scipy_on_scipys_replicates() -> None:
    x = np.random.default_rng(8).random(250) < 0.83
    res = stats.bootstrap((x.astype(float),), np.mean, vectorized=True, n_resamples=R,
                          method="BCa", rng=np.random.default_rng(2))
    c = compress([x.astype(float)[None, :]])
    low, high, _ = intervals_from_replicates(np.array([c.estimate()]),
                                             res.bootstrap_distribution[:, None],
                                             np.array([acceleration(c)]), 0.95)
    np.testing.assert_allclose([low[0], high[0]], res.confidence_interval, atol=1e-12)


def _mc_tolerance(se: float, n: int, level: float = 0.95, n_resamples: int = 10_000) -> float:
    """4 sd of the difference of two independent R-resample estimates of a tail quantile
    (normal approximation: sd = sqrt(q(1-q)/R) / φ(z_q) · se), plus one lattice step 1/n."""
    q = (1 - level) / 2
    density = np.exp(-ndtri(q) ** 2 / 2) / np.sqrt(2 * np.pi)
    return 4 * np.sqrt(2) * np.sqrt(q * (1 - q) / n_resamples) / density * se + 1.0 / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_ci_within_monte_carlo_error_of_scipy(paired, seed: int) -> None:
    a, b = paired(np.random.default_rng(100 + seed), 400, 0.18, 0.1, 0.5)
    ours = paired_bootstrap_ci(a, b, rng=np.random.default_rng(seed), n_resamples=10_000)
    ref = _scipy_paired(a, b, "BCa", seed=1000 + seed, n_resamples=10_000)
    tol = _mc_tolerance(ref.standard_error, a.size)
    assert ours.method == "bca"
    assert abs(ours.low - ref.confidence_interval.low) <= tol
    assert abs(ours.high - ref.confidence_interval.high) <= tol


def test_accuracy_ci_within_monte_carlo_error_of_scipy() -> None:
    x = np.random.default_rng(4).random(500) < 0.9  # skewed: BCa differs from percentile
    ours = accuracy_ci(x, rng=np.random.default_rng(0))
    ref = stats.bootstrap((x.astype(float),), np.mean, vectorized=True, n_resamples=10_000,
                          method="BCa", rng=np.random.default_rng(1))
    tol = _mc_tolerance(ref.standard_error, x.size)
    assert abs(ours.low - ref.confidence_interval.low) <= tol
    assert abs(ours.high - ref.confidence_interval.high) <= tol


def test_multinomial_replicates_have_the_bootstrap_moments(pair) -> None:
    # Id resampling gives E[θ*] = θ̂ and Var[θ*] = plug-in variance / n; so must the counts.
    from robustlab.stats._resample import replicates

    a, b = pair
    d = a.astype(float) - b
    boot = replicates([compress([d[None, :]])], np.random.default_rng(9), 20_000)[:, 0]
    var = d.var() / d.size
    assert abs(boot.mean() - d.mean()) <= 4 * np.sqrt(var / boot.size)
    assert abs(boot.var() / var - 1.0) <= 4 * np.sqrt(2.0 / boot.size)  # var-ratio sd ≈ √(2/R)
