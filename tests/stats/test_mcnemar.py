"""Exact McNemar: agreement with scipy.stats.binomtest, counts, type-I error under the null."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from robustlab.stats import mcnemar_exact, mcnemar_exact_counts


@given(st.integers(0, 300), st.integers(0, 300))
def test_p_value_equals_binomtest_on_discordant_pairs(n_01: int, n_10: int) -> None:
    p = float(mcnemar_exact_counts(np.array(n_01), np.array(n_10)))
    expected = 1.0 if n_01 + n_10 == 0 else binomtest(n_10, n_01 + n_10, 0.5).pvalue
    assert p == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_counts_from_arrays_hand_checked() -> None:
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    b = np.array([1, 0, 0, 1, 0, 0, 0, 1], bool)
    res = mcnemar_exact(a, b)  # a right b wrong: ids 1, 2, 5; a wrong b right: id 3
    assert (res.n_01, res.n_10) == (1, 3)
    assert res.p_value == pytest.approx(0.625)  # 2 · P(Bin(4, ½) <= 1) = 2 · 5/16


def test_several_seeds_use_the_sign_of_the_seed_average() -> None:
    a = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    b = np.array([[0, 1, 1, 0], [0, 1, 1, 0]], bool)
    res = mcnemar_exact(a, b)  # per-example mean Δ: +1, -0.5, -1, 0
    assert (res.n_01, res.n_10) == (2, 1)


def test_vectorised_shapes_are_kept() -> None:
    p = mcnemar_exact_counts(np.array([[0, 5], [10, 3]]), np.array([[0, 5], [0, 30]]))
    assert p.shape == (2, 2) and p[0, 0] == 1.0 and p[0, 1] == 1.0 and p[1, 1] < 1e-4


def test_type_one_error_at_most_alpha(paired) -> None:
    # 2000 null datasets (P(a right, b wrong) = P(a wrong, b right)): the exact test rejects at
    # most α of them, up to 2 binomial sd (it is conservative, so typically well below α).
    rng = np.random.default_rng(0)
    p = [mcnemar_exact(*paired(rng, 120, 0.1, 0.1, 0.5)).p_value for _ in range(2000)]
    rate = np.mean(np.array(p) < 0.05)
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 2000), rate


def test_sign_test_type_one_error_with_seeds() -> None:
    # Null with seeds: per example, a and b are exchangeable (same success probability).
    rng = np.random.default_rng(1)
    rates = []
    for _ in range(1000):
        prob = rng.uniform(0.2, 0.9, size=100)  # per-example difficulty, shared by a and b
        a, b = rng.random((3, 100)) < prob, rng.random((3, 100)) < prob
        rates.append(mcnemar_exact(a, b).p_value < 0.05)
    assert np.mean(rates) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 1000)


def test_power_on_a_real_difference(paired) -> None:
    res = mcnemar_exact(*paired(np.random.default_rng(2), 400, 0.2, 0.08, 0.5))
    assert res.p_value < 1e-3 and res.n_10 > res.n_01  # expected 80 vs 32 discordant


def test_mismatched_examples_are_an_error() -> None:
    with pytest.raises(ValueError, match="examples"):
        mcnemar_exact(np.ones(4, bool), np.ones(5, bool))
    with pytest.raises(ValueError, match=">= 0"):
        mcnemar_exact_counts(np.array([-1]), np.array([2]))
