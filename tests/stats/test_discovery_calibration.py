"""Slice discovery by simulation (smaller than `python -m bench discovery`, which prints the
same quantities at 200 data sets): null data sets with any false finding ≤ α (holdout and
permutation guarantees), the same-data mistake shown for what it is, and a planted slice
recovered. Each rate has its binomial Monte-Carlo sd beside the tolerance."""

from __future__ import annotations

import numpy as np
import polars as pl

from robustlab.stats import pairwise_table
from robustlab.stats.correction import benjamini_hochberg, holm
from robustlab.stats.discovery import discover_slices, significant_comparisons
from robustlab.stats.discovery_confirm import weighted_adjust
from robustlab.stats.discovery_options import DiscoveryOptions
from robustlab.testing.planted_slices import Plant, jaccard, planted_results

ALPHA = 0.05


def _sd(rate: float, sets: int) -> float:
    return float(np.sqrt(rate * (1 - rate) / sets))


def _any_false(sets: int, n: int, seed: int, *, same_data: bool = False, seeds: int = 3,
               **options) -> float:
    """Share of null data sets (no planted slice; "a" leads "b" everywhere, so reversals are
    searched too) with at least one confirmed finding."""
    rng = np.random.default_rng(seed)
    hits = 0
    for s in range(sets):
        d = planted_results(n, rng, columns=8, components=8, seeds=seeds)
        winners = significant_comparisons(pairwise_table(d.pred, ["condition"]))
        res = discover_slices(d.pred, options=DiscoveryOptions(**options), winners=winners,
                              embeddings=d.embeddings, seed=s, same_data=same_data)
        hits += bool(res.rows["confirmed"].any())
    return hits / sets


def test_weighted_corrections_reduce_to_holm_and_bh_and_keep_the_level() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((4000, 10))
    w = 1.0 / np.arange(1, 11)
    assert np.allclose(weighted_adjust(p[0], np.ones(10), "holm"), holm(p[0]))
    assert np.allclose(weighted_adjust(p[0], np.ones(10), "bh"), benjamini_hochberg(p[0]))
    fwer = np.mean([(weighted_adjust(row, w, "holm") < ALPHA).any() for row in p])
    assert fwer <= ALPHA + 2 * _sd(ALPHA, 4000), fwer  # sd = 0.003
    assert weighted_adjust(np.array([0.004, 0.5]), np.array([2.0, 1.0]), "holm")[0] \
        == 0.004 * 1.5  # the heavier weight: p / w · Σw


def test_holdout_null_data_sets_keep_the_family_wise_error() -> None:
    rate = _any_false(60, 800, 1)  # one seed's worth of cost: 3 seeds, both targets, clusters
    assert rate <= ALPHA + 2 * _sd(ALPHA, 60), rate  # sd = 0.028


def test_same_data_testing_finds_false_slices_in_pure_noise() -> None:
    # the anchors' procedure (rank and test on the same examples), one seed: it fails
    held = _any_false(30, 800, 2, seeds=1)
    same = _any_false(30, 800, 2, seeds=1, same_data=True)
    assert held <= ALPHA + 2 * _sd(ALPHA, 30), held  # sd = 0.040
    assert same >= 0.5, same


def test_permutation_null_data_sets_keep_the_family_wise_error() -> None:
    rate = _any_false(30, 300, 3, guarantee="permutation", permutations=199)
    assert rate <= ALPHA + 2 * _sd(ALPHA, 30), rate  # sd = 0.040


def test_a_planted_slice_is_recovered() -> None:
    # the first recall setting, scaled down: a 5 % slice, 20 points, n = 3,000
    rng = np.random.default_rng(4)
    found = 0
    for s in range(12):
        d = planted_results(3000, rng, plant=Plant(depth=int(rng.integers(1, 3)), drop=0.2))
        res = discover_slices(d.pred, options=DiscoveryOptions(targets=("failure",)),
                              winners=pl.DataFrame(), embeddings=d.embeddings, seed=s)
        rows = res.rows.filter(pl.col("confirmed") & (pl.col("method") == "a"))
        found += any(jaccard(np.isin(np.arange(3000), ids), d.truth) >= 0.5
                     for ids in rows["example_ids"].to_list())
    assert found / 12 >= 0.9 - 2 * _sd(0.9, 12), found  # sd = 0.087
