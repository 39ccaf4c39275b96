"""The search space of slice discovery: the seeded, stratified split; pooled and binned
columns fitted on the discovery half only; clusters that the confirmation half cannot move."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustlab.stats.discovery_space import (
    MISSING,
    OTHER,
    auto_clusters,
    categorical,
    cluster,
    holdout_split,
    numeric,
)


@given(st.integers(2, 400), st.integers(1, 6), st.integers(0, 10_000))
def test_split_halves_and_balances_every_level_of_the_first_stratum(n, levels, seed) -> None:
    rng = np.random.default_rng(seed)
    strata = np.stack([rng.integers(0, levels, n), rng.integers(0, 3, n)], axis=1)
    fit = holdout_split(strata, np.random.default_rng(seed))
    assert abs(int(fit.sum()) - int((~fit).sum())) <= 1
    for level in range(levels):
        here = strata[:, 0] == level
        # pairs are cut in sorted order: one pair may straddle each boundary between levels
        assert abs(int((fit & here).sum()) - int((~fit & here).sum())) <= 2


def test_split_is_seeded() -> None:
    strata = np.random.default_rng(0).integers(0, 4, (500, 2))
    one = holdout_split(strata, np.random.default_rng(7))
    assert (one == holdout_split(strata, np.random.default_rng(7))).all()
    assert (one != holdout_split(strata, np.random.default_rng(8))).any()


def test_categorical_pools_rare_levels_and_keeps_missing_on_fit_counts() -> None:
    values = ["x"] * 10 + ["y"] * 3 + [None] * 2 + ["z"] * 5
    fit = np.ones(20, dtype=bool)
    fit[15:] = False  # the five "z" are confirmation rows only: unseen, so pooled
    col = categorical("site", values, fit, min_count=4)
    assert col.labels == ("x", OTHER, MISSING)
    got = [col.labels[c] for c in col.codes]
    assert got == ["x"] * 10 + [OTHER] * 3 + [MISSING] * 2 + [OTHER] * 5


def test_numeric_bins_come_from_the_fit_rows_only() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    fit = np.arange(200) < 100
    col = numeric("age", x, fit, bins=4)
    moved = x.copy()
    moved[~fit] = rng.normal(50, 1, 100)  # confirmation rows far away: same edges
    again = numeric("age", moved, fit, bins=4)
    assert col.labels == again.labels
    assert (col.codes[fit] == again.codes[fit]).all()
    assert (again.codes[~fit] == len(again.labels) - 1).all()  # the top bin (no missing)
    nan = numeric("age", np.r_[x[:-1], np.nan], fit, bins=4)
    assert nan.labels[nan.codes[-1]] == MISSING


def test_clusters_are_fitted_on_the_fit_rows_only() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(0, 6, (4, 5))
    x = centres[rng.integers(0, 4, 300)] + rng.normal(0, 0.5, (300, 5))
    fit = rng.random(300) < 0.5
    col = cluster("a cluster", x, fit, k=4, dims=3, rng=np.random.default_rng(0))
    moved = x.copy()
    moved[~fit] += rng.normal(0, 20, ((~fit).sum(), 5))  # scramble the other half
    again = cluster("a cluster", moved, fit, k=4, dims=3, rng=np.random.default_rng(0))
    assert (col.codes[fit] == again.codes[fit]).all()
    assert len(col.labels) == 4
    sizes = np.bincount(col.codes[fit])
    assert (np.diff(sizes) <= 0).all()  # numbered by size on the fit rows


def test_auto_clusters_scale_with_the_half() -> None:
    assert auto_clusters(200, 10) == 10
    assert auto_clusters(5000, 100) == 25
    assert auto_clusters(10, 10) == 2 and auto_clusters(10**6, 10) == 32


def test_a_column_checks_its_codes() -> None:
    from robustlab.stats.discovery_space import Column

    with pytest.raises(ValueError, match="codes must be"):
        Column("c", ("a",), np.array([0, 1]))
