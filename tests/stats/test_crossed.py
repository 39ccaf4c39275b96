"""The crossed seed × example test: its variance terms by hand, the two ways of computing them,
its limits (a one-sample t-test on seed means), and interval ⟺ test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import t as student
from scipy.stats import ttest_1samp

from robustlab.stats import paired_comparison, score_p, tango
from robustlab.stats.crossed import by_code, components, crossed_t, satterthwaite, take


def test_variance_terms_hand_checked() -> None:
    a = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]], float)  # seed means .75 .5 1
    c = components([(a,)])
    e = a.mean(axis=0)  # per-example means 1, 2/3, 1/3, 1
    assert c.estimate[0] == pytest.approx(0.75)
    np.testing.assert_allclose(c.var[0], [np.var([0.75, 0.5, 1.0], ddof=1) / 3,
                                          np.var(e, ddof=1) / 4])
    np.testing.assert_allclose(c.df[0], [2.0, 3.0])
    assert (c.pos[0], c.neg[0], c.n_pos[0], c.n_neg[0]) == (pytest.approx(3.0), 0.0, 4, 0)
    v, d = c.var[0], c.df[0]
    assert satterthwaite(c.var, c.df)[0] == pytest.approx(v.sum() ** 2 / (v**2 / d).sum())


@pytest.mark.parametrize("paired", [True, False])
def test_bincount_route_equals_per_slice_route(paired: bool) -> None:
    rng = np.random.default_rng(0)
    a = (rng.random((3, 200)) < 0.7).astype(float)
    b = (rng.random((3 if paired else 2, 200)) < 0.6).astype(float)
    blocks = (a - b,) if paired else (a, -b)
    code = rng.integers(0, 5, 200)
    fast = by_code(blocks, code, 5)
    slow = components([tuple(x[:, code == k] for x in blocks) for k in range(5)])
    for field in ("estimate", "n", "n_seeds", "var", "pos", "neg", "n_pos", "n_neg"):
        np.testing.assert_allclose(getattr(fast, field), getattr(slow, field), rtol=1e-12,
                                   atol=1e-15, err_msg=field)
    np.testing.assert_array_equal(fast.df, slow.df)


def test_seed_dominated_data_reduce_to_a_t_test_on_seed_means() -> None:
    # Every example has the same value within a seed: no example variance, so the test is the
    # one-sample t-test of the seed means with S − 1 df.
    seed_values = np.array([0.1, 0.3, -0.05, 0.2])
    d = np.repeat(seed_values[:, None], 50, axis=1)  # (4 seeds, 50 examples)
    low, high, p, df, cc = crossed_t(components([(d,)]), 0.95)
    ref = ttest_1samp(seed_values, 0.0)
    assert df[0] == pytest.approx(3.0) and not cc[0]
    assert p[0] == pytest.approx(ref.pvalue, rel=1e-9)
    half = student.isf(0.025, 3) * seed_values.std(ddof=1) / 2
    assert (low[0], high[0]) == pytest.approx((seed_values.mean() - half,
                                               seed_values.mean() + half))


def test_two_seeds_use_cochran_cox_and_three_satterthwaite() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((3, 300)) < 0.6
    y = rng.random((3, 300)) < 0.5
    two = paired_comparison(x[:2], y[:2])
    three = paired_comparison(x, y)
    assert (two.method, three.method) == ("crossed_cc", "crossed_t")
    # Cochran–Cox: critical value = variance-weighted mean of the terms' own t quantiles
    c = components([(x[:2].astype(float) - y[:2],)])
    _, high, _, _, cc = crossed_t(c, 0.95)
    crit = (c.var[0] @ student.isf(0.025, c.df[0])) / c.var[0].sum()
    assert cc[0] and high[0] - c.estimate[0] == pytest.approx(crit * np.sqrt(c.var[0].sum()))


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_interval_excludes_zero_iff_p_below_alpha(seeds: int) -> None:
    rng = np.random.default_rng(seeds)
    rows = []
    for _ in range(300):
        shift = rng.normal(0, 0.04, (seeds, 1))
        a = rng.random((seeds, 120)) < 0.6 + shift
        b = rng.random((seeds, 120)) < 0.6 + rng.normal(0, 0.02)
        rows.append(((a.astype(float) - b),))
    low, high, p, _, _ = crossed_t(components(rows), 0.95)
    assert ((low > 0) | (high < 0)).tolist() == (p < 0.05).tolist()
    assert 0 < (p < 0.05).sum() < 300  # both outcomes occur, so the identity is exercised
    cc = np.flatnonzero(np.isfinite(p) & (p > 1e-6))[:20]  # at level 1 − p the bound is 0
    c = take(components(rows), cc)
    for i, row in enumerate(cc):
        lo, hi, *_ = crossed_t(take(c, np.array([i])), 1.0 - p[row])
        assert min(abs(lo[0]), abs(hi[0])) == pytest.approx(0.0, abs=1e-9)


def test_seed_and_example_order_do_not_matter() -> None:
    rng = np.random.default_rng(2)
    a = rng.random((3, 90)) < 0.7
    b = rng.random((3, 90)) < 0.6
    first = paired_comparison(a, b)
    again = paired_comparison(a[[2, 0, 1]][:, ::-1], b[[2, 0, 1]][:, ::-1])
    assert (again.low, again.high, again.p_value) == pytest.approx(
        (first.low, first.high, first.p_value), rel=1e-12)


def test_several_seeds_join_the_t_test_and_the_score_test() -> None:
    rng = np.random.default_rng(3)
    a = rng.random((3, 150)) < 0.7
    b = rng.random((3, 150)) < 0.55
    res = paired_comparison(a, b)
    d = a.astype(float) - b
    c = components([(d,)])
    t_low, t_high, t_p, _, _ = crossed_t(c, 0.95)
    s_low, s_high, s_p = tango(c.pos, c.neg, c.n)
    assert res.p_value == pytest.approx(max(t_p[0], s_p[0]))
    assert res.low == pytest.approx(min(t_low[0], s_low[0]))
    assert res.high == pytest.approx(max(t_high[0], s_high[0]))
    e = d.mean(axis=0)  # fractional discordant counts of the seed-averaged differences
    assert float(s_p[0]) == pytest.approx(float(score_p(e[e > 0].sum(), -e[e < 0].sum())))


def test_identical_seeds_and_methods_give_p_one_and_a_nonzero_interval() -> None:
    x = np.random.default_rng(4).random(60) < 0.5
    res = paired_comparison(np.stack([x] * 3), np.stack([x] * 3))
    assert (res.estimate, res.p_value) == (0.0, 1.0) and res.low < 0 < res.high
