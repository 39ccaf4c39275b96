"""Pooled seed variances (`pooling.py`): the prior is recovered, repeated blocks of one unit
buy no precision, a noisy unit stays unpooled, too few units pool nothing."""

from __future__ import annotations

import numpy as np
from scipy.special import polygamma
from scipy.stats import chi2

from robustlab.stats.pooling import _trigamma_inverse, fit_prior, pool, upper_limit


def test_trigamma_inverse_inverts() -> None:
    for x in (1e-4, 0.05, 0.5, 3.0, 40.0):
        assert np.isclose(float(polygamma(1, _trigamma_inverse(x))), x, rtol=1e-6)


def _draw(rng, units: int, d0: float, s0: float, df: float) -> np.ndarray:
    sigma2 = d0 * s0 / rng.chisquare(d0, units)  # scaled inverse-χ² prior
    return sigma2 * rng.chisquare(df, units) / df


def test_fit_prior_recovers_the_prior_from_many_blocks() -> None:
    rng = np.random.default_rng(0)
    psi = _draw(rng, 4000, 8.0, 0.02, 2.0)
    d0, s0 = fit_prior(psi, np.full(psi.size, 2.0))
    assert 6.0 < d0 < 11.0 and abs(s0 / 0.02 - 1) < 0.1
    equal = 0.02 * rng.chisquare(2, 4000) / 2  # no spread at all
    assert fit_prior(equal, np.full(4000, 2.0))[0] > 50


def test_repeated_blocks_of_a_unit_do_not_pass_for_homogeneity() -> None:
    """Seven identical copies of each unit's variance: fitted per block, the spread looks
    like pure sampling noise shrunk by 7; per unit it is what 15 draws show."""
    rng = np.random.default_rng(1)
    psi = np.exp(rng.normal(np.log(0.02), 1.0, 15)) * rng.chisquare(2, 15) / 2
    var, unit = np.repeat(psi, 7), np.repeat(np.arange(15), 7)
    scale, df = np.ones(var.size), np.full(var.size, 2.0)
    by_unit = pool(var, df, scale, unit)
    as_blocks = pool(var, df, scale)
    assert by_unit.blocks == 15 and as_blocks.blocks == 105
    assert by_unit.prior_df < as_blocks.prior_df


def test_a_noisy_unit_keeps_its_own_variance() -> None:
    var = np.array([0.010, 0.012, 0.009, 0.011, 0.010, 0.30])
    pooled = pool(var, np.full(6, 2.0), np.ones(6))
    assert not pooled.pooled[-1] and pooled.var[-1] == 0.30 and pooled.df[-1] == 2.0
    assert pooled.pooled[:-1].all() and (pooled.df[:-1] > 2.0).all()
    assert pooled.outliers == 1


def test_too_few_units_or_one_seed_pool_nothing() -> None:
    pooled = pool(np.array([0.01, 0.02]), np.array([2.0, 2.0]), np.ones(2))
    assert not pooled.pooled.any() and pooled.prior_df == 0.0
    pooled = pool(np.array([0.0, 0.01, 0.02, 0.015]), np.array([0.0, 2.0, 2.0, 2.0]), np.ones(4))
    assert not pooled.pooled[0] and pooled.df[0] == 0.0  # one seed passes through


def test_upper_limit_is_the_chi_square_bound() -> None:
    assert np.isclose(upper_limit(np.array([0.5]), np.array([2.0]))[0],
                      2 * 0.5 / chi2.ppf(0.2, 2))
    assert upper_limit(np.array([0.5]), np.array([0.0]))[0] == 0.5
