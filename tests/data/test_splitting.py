"""The seeded split shared by the generators (Hypothesis properties)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustlab.data.splitting import check_split, split_sizes, storage_ids

fractions = st.floats(0.01, 0.45)


@given(n=st.integers(3, 3000), val=fractions, test=fractions, seed=st.integers(0, 2**32))
def test_storage_ids_partition_every_example_once(n, val, test, seed):
    try:
        check_split("x", n, val, test)
    except ValueError:
        return  # too few examples for these fractions: rejected before any draw
    ids, sizes = storage_ids(n, val, test, np.random.default_rng(seed))
    assert ids.dtype == np.int64 and sorted(ids.tolist()) == list(range(n))
    assert sizes == split_sizes(n, val, test) and sum(sizes.values()) == n
    assert sizes["val"] == round(val * n) and sizes["test"] == round(test * n)
    assert min(sizes.values()) >= 1
    start = 0
    for size in sizes.values():  # sorted within each contiguous block
        block = ids[start : start + size]
        assert np.all(np.diff(block) > 0)
        start += size


@given(seed=st.integers(0, 2**32))
def test_storage_ids_same_seed_same_split(seed):
    first, _ = storage_ids(500, 0.1, 0.2, np.random.default_rng(seed))
    again, _ = storage_ids(500, 0.1, 0.2, np.random.default_rng(seed))
    other, _ = storage_ids(500, 0.1, 0.2, np.random.default_rng(seed + 1))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("n", "val", "test", "problem"), [
    (10, 0.0, 0.1, r"x\.val_fraction: must be in \(0\.0, 1\.0\), got 0\.0"),
    (10, 0.5, 0.6, r"must be < 1"),
    (10, 0.01, 0.1, r"x\.n: 10 examples leave the val split empty"),
    (10, 0.1, True, r"x\.test_fraction: must be a number"),
])
def test_check_split_errors(n, val, test, problem):
    with pytest.raises(ValueError, match=problem):
        check_split("x", n, val, test)
