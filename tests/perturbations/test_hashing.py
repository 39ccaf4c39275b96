"""The counter-based generator behind every operator: distributions and key properties."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from perturbations.hashing import (
    below,
    example_keys,
    hash_order,
    integers,
    mix64,
    normals,
    rank_select,
    stream_key,
    uniforms,
)

KEYS = example_keys(np.arange(20_000, dtype=np.int64), stream_key(0, "test"))


def test_uniforms_and_normals_pass_goodness_of_fit() -> None:
    u = uniforms(KEYS, 7).ravel()  # odd count: exercises the half-used last hash
    assert stats.kstest(u, "uniform").pvalue > 1e-3 and u.min() >= 0 and u.max() < 1
    z = normals(KEYS, 9)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    corr = np.corrcoef(z[:, :8].T)  # the cos/sin halves and neighbours are uncorrelated
    assert np.abs(corr - np.eye(8)).max() < 0.05


def test_bernoulli_and_integers_are_unbiased() -> None:
    assert abs(below(KEYS, 10, 0.3).mean() - 0.3) < 0.005
    assert below(KEYS, 3, 1.0).all() and not below(KEYS, 3, 0.0).any()
    counts = np.bincount(integers(KEYS, 4, 5).ravel(), minlength=5)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_different_streams_and_seeds_are_independent() -> None:
    other = example_keys(np.arange(20_000, dtype=np.int64), stream_key(1, "test"))
    r = np.corrcoef(normals(KEYS, 1).ravel(), normals(other, 1).ravel())[0, 1]
    assert abs(r) < 0.05 and stream_key(0, "a", 1) != stream_key(0, "a1")


@given(st.lists(st.integers(-(2**63), 2**63 - 1), unique=True, min_size=1, max_size=50),
       st.integers(0, 50), st.randoms(use_true_random=False))
def test_ranking_is_exact_order_free_and_nested(ids: list[int], count: int, rnd) -> None:
    arr = np.asarray(ids, dtype=np.int64)
    keys = example_keys(arr, stream_key(3, "sel"))
    assert len(np.unique(keys)) == len(ids)  # mix64 is a bijection: no ties
    chosen = rank_select(keys, count)
    assert chosen.sum() == min(count, len(ids))
    perm = np.asarray(rnd.sample(range(len(ids)), len(ids)))
    np.testing.assert_array_equal(rank_select(keys[perm], count), chosen[perm])
    assert not (rank_select(keys, count // 2) & ~chosen).any()
    rows = np.flatnonzero(chosen)
    np.testing.assert_array_equal(arr[hash_order(keys, rows)], arr[hash_order(keys, rows[::-1])])


def test_mix64_is_the_splitmix64_finaliser() -> None:
    # reference values of splitmix64 seeded with 0: state += golden, then the finaliser
    state = np.array([0x9E3779B97F4A7C15, (2 * 0x9E3779B97F4A7C15) % 2**64], dtype=np.uint64)
    assert mix64(state).tolist() == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
