"""The slice search against brute force: every supported conjunction with its size, effect and
z; the pruned search's best `keep` equal to the best `keep` of everything; the upper bound
above every sub-slice; bit operations equal to their dense forms; max-T against a direct
permutation loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustlab.stats.discovery_bits import Sums, overlaps, pack, sizes, unpack
from robustlab.stats.discovery_engine import (
    Target,
    margin_ok,
    one_hot,
    score,
    search,
    upper_bound,
)
from robustlab.stats.discovery_permutation import family, max_t


def _data(seed: int, kind: str, n: int, p: int, targets: int):
    rng = np.random.default_rng(seed)
    n_levels = rng.integers(1, 5, p)
    codes = np.stack([rng.integers(0, k, n) for k in n_levels], axis=1)
    if kind == "complement":  # seed-averaged errors of 3 seeds
        values = rng.binomial(3, rng.uniform(0.1, 0.6, targets), (n, targets)) / 3.0
    else:  # a seed-averaged paired difference in [-1, 1]
        values = (rng.binomial(2, 0.4, (n, targets)) - rng.binomial(2, 0.4, (n, targets))) / 2
    return codes, n_levels, values.astype(np.float64)


def _brute(codes, n_levels, values, kind, depth, min_count):
    """{((col, level), ...): (size, effect (T,), z (T,))} of every candidate conjunction."""
    n, p = codes.shape
    t = Target.of(values, kind)
    out = {}
    for k in range(1, depth + 1):
        for cols in itertools.combinations(range(p), k):
            for levels in itertools.product(*(range(n_levels[c]) for c in cols)):
                mask = np.ones(n, dtype=bool)
                for c, lv in zip(cols, levels, strict=True):
                    mask &= codes[:, c] == lv
                s = int(mask.sum())
                if s < min_count or (kind == "complement" and n - s < min_count):
                    continue
                effect, z = score(t, values[mask].sum(axis=0)[None], np.array([s]))
                out[tuple(zip(cols, levels, strict=True))] = (s, effect[0], z[0])
    return out


def _key(items, row):
    return tuple((int(items.column[i]), int(items.level[i])) for i in row if i >= 0)


cases = st.tuples(st.integers(0, 10_000), st.sampled_from(["complement", "zero"]),
                  st.integers(20, 160), st.integers(1, 5), st.integers(1, 3),
                  st.integers(1, 3), st.integers(1, 12))


@given(cases)
def test_unpruned_search_scores_every_supported_conjunction(case) -> None:
    seed, kind, n, p, targets, depth, min_count = case
    codes, n_levels, values = _data(seed, kind, n, p, targets)
    items = one_hot(codes, n_levels)
    _, levels = search(items, Target.of(values, kind), depth=depth, min_count=min_count,
                       keep=1, prune=False)
    got = {_key(items, lv.items[r]): (lv.size[r], lv.effect[r], lv.z[r])
           for lv in levels for r in range(lv.size.size) if np.isfinite(lv.z[r]).all()}
    want = _brute(codes, n_levels, values, kind, depth, min_count)
    assert got.keys() == want.keys()
    for k, (s, effect, z) in want.items():
        assert got[k][0] == s
        np.testing.assert_allclose(got[k][1], effect, atol=1e-12)
        np.testing.assert_allclose(got[k][2], z, atol=1e-9)
    for lv in levels:  # the bits hold exactly the conjunction's rows
        for r in range(lv.size.size):
            mask = np.ones(n, dtype=bool)
            for i in lv.items[r]:
                mask &= codes[:, items.column[i]] == items.level[i]
            assert (unpack(lv.bits[r:r + 1], n)[0] == mask).all()


@given(cases, st.integers(1, 12))
def test_pruned_search_keeps_the_best_of_everything(case, keep) -> None:
    seed, kind, n, p, targets, depth, min_count = case
    codes, n_levels, values = _data(seed, kind, n, p, targets)
    items = one_hot(codes, n_levels)
    cand, _ = search(items, Target.of(values, kind), depth=depth, min_count=min_count,
                     keep=keep, margin=-np.inf, z_floor=0.0)
    want = sorted((float(z) for s, _, zs in _brute(codes, n_levels, values, kind, depth,
                                                   min_count).values() for z in zs if z > 0),
                  reverse=True)[:keep]
    np.testing.assert_allclose(np.sort(cand.z)[::-1], want, atol=1e-9)
    assert (np.diff(cand.z) <= 0).all()  # best first


@given(cases)
def test_upper_bound_holds_for_every_sub_slice(case) -> None:
    seed, kind, n, p, targets, depth, min_count = case
    codes, n_levels, values = _data(seed, kind, n, p, targets)
    t = Target.of(values, kind)
    items = one_hot(codes, n_levels)
    _, levels = search(items, t, depth=depth, min_count=min_count, keep=1, prune=False)
    rng = np.random.default_rng(seed)
    for lv in levels:
        bound = upper_bound(t, lv.size, lv.positive, min_count)  # (m, T)
        for r in range(lv.size.size):
            rows = np.flatnonzero(unpack(lv.bits[r:r + 1], n)[0])
            for _ in range(3):  # random sub-slices with enough rows, not only conjunctions
                s = int(rng.integers(min_count, rows.size + 1)) if rows.size >= min_count \
                    else 0
                if s == 0 or (kind == "complement" and n - s < min_count):
                    continue
                sub = rng.choice(rows, s, replace=False)
                _, z = score(t, values[sub].sum(axis=0)[None], np.array([s]))
                assert (z[0] <= bound[r] + 1e-9).all()


def test_margin_rule_keeps_only_refinements_that_concentrate_the_effect() -> None:
    codes, n_levels, values = _data(3, "complement", 120, 3, 2, )
    items = one_hot(codes, n_levels)
    t = Target.of(values, "complement")
    _, levels = search(items, t, depth=2, min_count=3, keep=1, prune=False)
    ok = margin_ok(levels[1], levels[0], 0.05)
    base = {int(levels[0].items[r, 0]): r for r in range(levels[0].size.size)}
    for r in range(levels[1].size.size):
        parents = [levels[0].effect[base[int(i)]] for i in levels[1].items[r]]
        assert (ok[r] == (levels[1].effect[r] >= np.max(parents, axis=0) + 0.05)).all()


def test_the_search_asks_for_sane_settings() -> None:
    items = one_hot(np.zeros((5, 1), dtype=np.int64), np.array([1]))
    with pytest.raises(ValueError, match="depth, min_count, keep"):
        search(items, Target.of(np.ones((5, 1)), "zero"), depth=0, min_count=1, keep=1)
    with pytest.raises(ValueError, match="values >= 0"):
        Target.of(-np.ones((5, 1)), "complement")


@given(st.integers(1, 200), st.integers(1, 5), st.integers(0, 1000))
def test_bits_equal_their_dense_forms(n, m, seed) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random((m, n)) < 0.4, rng.random((m + 1, n)) < 0.6
    bits_a, bits_b = pack(a), pack(b)
    assert (unpack(bits_a, n) == a).all()
    assert (sizes(bits_a) == a.sum(axis=1)).all()
    assert (overlaps(bits_a, bits_b) == a.astype(int) @ b.T.astype(int)).all()
    few = rng.integers(-2, 3, (n, 3)) / 2.0  # few levels: summed by popcounts
    many = rng.normal(size=(n, 2))  # many levels: summed by a product
    for values in (few, many):
        np.testing.assert_allclose(Sums.of(values).over(bits_a), a @ values, atol=1e-9)


@pytest.mark.parametrize(("kind", "n"), [("complement", 90), ("zero", 90),
                                         ("complement", 4200), ("zero", 4200)])
def test_max_t_equals_a_direct_rerandomisation_loop(kind, n) -> None:
    codes, n_levels, values = _data(11, kind, n, 3, 2)  # n = 4200: the popcount path
    t = Target.of(values, kind)
    items = one_hot(codes, n_levels)
    _, levels = search(items, t, depth=2, min_count=5, keep=1, prune=False)
    bits, z = family(levels)
    null = max_t(bits, z, t, permutations=40, min_count=5, rng=np.random.default_rng(4))
    rng = np.random.default_rng(4)  # the same draws, one replicate at a time
    dense = unpack(bits, n).astype(np.float64)  # (M, n)
    size = dense.sum(axis=1)
    keep = np.isfinite(z).all(axis=1)
    expected = []
    for _ in range(40):
        v = values[rng.permutation(n)] if kind == "complement" \
            else values * rng.choice((-1.0, 1.0), size=(n, 1))
        _, zb = score(t, dense @ v, size)
        expected.append(zb[keep].max())
    np.testing.assert_allclose(null.maxima, expected, atol=1e-9)
    # adjusted p and the critical value agree: p < alpha exactly when z > c
    grid = np.linspace(null.maxima.min() - 1, null.maxima.max() + 1, 200)
    c = null.critical(0.1)
    assert ((null.adjusted(grid) < 0.1) == (grid > c)).all()
