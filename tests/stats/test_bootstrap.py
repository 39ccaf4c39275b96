"""The bootstrap engine (BCa / percentile, two-level) and the accuracy rule built on it:
determinism, two-level semantics, degenerate slices, coverage, errors."""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.stats import (
    Interval,
    accuracy_ci,
    accuracy_cis,
    paired_bootstrap_ci,
    paired_bootstrap_cis,
    paired_comparison,
)
from robustlab.stats._resample import compress, replicates


def test_same_seed_same_interval_different_seed_different(paired) -> None:
    a, b = paired(np.random.default_rng(0), 500, 0.2, 0.1, 0.4)
    first = paired_bootstrap_ci(a, b, rng=np.random.default_rng(42))
    again = paired_bootstrap_ci(a, b, rng=np.random.default_rng(42))
    other = paired_bootstrap_ci(a, b, rng=np.random.default_rng(43))
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == other.estimate == pytest.approx(a.mean() - b.mean())


def test_interval_fields_and_order(paired) -> None:
    a, b = paired(np.random.default_rng(1), 200, 0.25, 0.1, 0.3)
    iv = paired_bootstrap_ci(a, b, rng=np.random.default_rng(0), level=0.9)
    assert isinstance(iv, Interval)
    assert (iv.level, iv.method, iv.n, iv.n_seeds) == (0.9, "bca", 200, 1)
    assert iv.low < iv.estimate < iv.high


def test_batched_slices_equal_their_single_calls_in_distribution(paired) -> None:
    # One vectorised call over slices must give every slice its own bootstrap distribution:
    # compare each slice's interval with a separate call (independent draws, so within MC).
    rng = np.random.default_rng(2)
    slices = [paired(rng, n, p, 0.1, 0.4) for n, p in [(100, 0.1), (300, 0.3), (1000, 0.2)]]
    batch = paired_bootstrap_cis([s[0] for s in slices], [s[1] for s in slices],
                                  rng=np.random.default_rng(0))
    for (a, b), iv in zip(slices, batch, strict=True):
        single = paired_bootstrap_ci(a, b, rng=np.random.default_rng(1))
        width = single.high - single.low
        assert iv.n == a.size and iv.estimate == single.estimate
        assert abs(iv.low - single.low) < 0.1 * width + 1 / a.size
        assert abs(iv.high - single.high) < 0.1 * width + 1 / a.size


def _brute_two_level(a, b, pair_seeds: bool, rng: np.random.Generator, n_resamples: int):
    """Reference two-level bootstrap with explicit index draws (a Python loop is fine here)."""
    out = np.empty(n_resamples)
    for r in range(n_resamples):
        ids = rng.integers(0, a.shape[1], a.shape[1])
        sa = rng.integers(0, a.shape[0], a.shape[0])
        sb = sa if pair_seeds else rng.integers(0, b.shape[0], b.shape[0])
        out[r] = a[np.ix_(sa, ids)].mean() - b[np.ix_(sb, ids)].mean()
    return out


@pytest.mark.parametrize("pair_seeds", [True, False])
def test_two_level_distribution_matches_explicit_index_resampling(pair_seeds: bool) -> None:
    rng = np.random.default_rng(5)
    seed_acc = np.array([0.9, 0.7, 0.5])[:, None]  # strong training-seed effect for a
    a = rng.random((3, 150)) < seed_acc
    b = rng.random((3, 150)) < 0.65
    blocks = (a - b.astype(float),) if pair_seeds else (a.astype(float), -b.astype(float))
    ours = replicates([compress(blocks)], np.random.default_rng(0), 10_000)[:, 0]
    ref = _brute_two_level(a.astype(float), b.astype(float), pair_seeds,
                           np.random.default_rng(1), 4000)
    one_level = (a.mean(0) - b.mean(0)).var() / a.shape[1]  # examples only
    assert ours.var() > 3 * one_level  # the seed level is really in there
    assert abs(ours.mean() - ref.mean()) < 4 * ref.std() * np.sqrt(1 / 4000 + 1 / 10_000)
    assert abs(ours.var() / ref.var() - 1) < 8 / np.sqrt(4000)  # ≈ 4 sd of the ratio


def test_two_level_bootstrap_is_percentile_and_reports_seeds() -> None:
    x = np.random.default_rng(0).random((3, 200)) < 0.7
    iv = paired_bootstrap_ci(x, np.zeros_like(x), rng=np.random.default_rng(0))
    assert (iv.method, iv.n, iv.n_seeds) == ("percentile", 200, 3)
    assert iv.estimate == pytest.approx(x.mean())


def test_accuracy_with_seeds_is_the_crossed_interval() -> None:
    x = np.random.default_rng(0).random((3, 200)) < 0.7
    iv = accuracy_ci(x, rng=np.random.default_rng(0))
    assert (iv.method, iv.n, iv.n_seeds) == ("crossed_t", 200, 3)
    assert iv.estimate == pytest.approx(x.mean()) and iv.df is not None and iv.df > 2
    assert iv.low < iv.estimate < iv.high


def test_degenerate_bootstrap_falls_back_to_percentile() -> None:
    # The engine still returns the (degenerate) percentile interval; the report never shows it
    # for a proportion (the accuracy rule and paired_comparison below do not use it there).
    x = np.ones(50, bool)
    same = paired_bootstrap_ci(x, x, rng=np.random.default_rng(0))
    assert (same.method, same.low, same.estimate, same.high) == ("percentile", 0.0, 0.0, 0.0)


@pytest.mark.parametrize("value", [True, False])
def test_degenerate_accuracy_gets_an_exact_interval_of_nonzero_width(value: bool) -> None:
    # Before issue 10 this was the zero-width bootstrap interval [1, 1] (or [0, 0]).
    x = np.full(50, value)
    iv = accuracy_ci(x, rng=np.random.default_rng(0))
    exact = 1 - 0.025 ** (1 / 50)  # Clopper–Pearson bound for 0/50: 1 − (α/2)^(1/n)
    assert iv.method == "clopper_pearson" and iv.estimate == float(value)
    assert (iv.low, iv.high) == pytest.approx((1 - exact, 1.0) if value else (0.0, exact))
    for seeds in (2, 3):  # several identical seeds: still the exact width, never zero
        multi = accuracy_ci(np.full((seeds, 50), value), rng=np.random.default_rng(0))
        assert multi.method.startswith("crossed") and multi.high - multi.low == pytest.approx(
            exact)
    same = paired_comparison(x, x)
    assert same.estimate == 0.0 and same.low < 0.0 < same.high and same.p_value == 1.0


def test_single_example_is_defined() -> None:
    iv = accuracy_ci(np.array([True]), rng=np.random.default_rng(0))
    assert (iv.estimate, iv.high, iv.n, iv.method) == (1.0, 1.0, 1, "clopper_pearson")
    assert iv.low == pytest.approx(0.025)  # the exact bound (α/2)^(1/1)


def test_accuracy_switches_from_exact_to_bca_at_ten_successes_and_failures() -> None:
    rng = np.random.default_rng(0)
    for failures, method in [(9, "clopper_pearson"), (10, "bca")]:
        x = np.r_[np.zeros(failures, bool), np.ones(100, bool)]
        assert accuracy_ci(x, rng=rng).method == method


def test_coverage_of_the_paired_bca_interval(paired) -> None:
    # 1000 datasets from a known model (Δ = 0.05); the 95 % BCa interval must cover Δ in
    # 95 % ± 2.5 % of them (binomial sd at 1000 datasets is 0.7 %, so ±2.5 % is ~3.6 sd).
    rng = np.random.default_rng(2026)
    data = [paired(rng, 200, 0.15, 0.10, 0.45) for _ in range(1000)]
    ivs = paired_bootstrap_cis([d[0] for d in data], [d[1] for d in data],
                                rng=np.random.default_rng(7), n_resamples=2000)
    covered = np.mean([iv.low <= 0.05 <= iv.high for iv in ivs])
    assert all(iv.method == "bca" for iv in ivs)
    assert abs(covered - 0.95) <= 0.025, covered


def test_ci_excluding_zero_under_the_null_is_rare(paired) -> None:
    # Null: P(a right, b wrong) = P(a wrong, b right). Rejecting when 0 is outside the 95 % CI
    # must happen <= 5 % + 3 sd (binomial, 1000 datasets) of the time.
    rng = np.random.default_rng(11)
    data = [paired(rng, 150, 0.12, 0.12, 0.5) for _ in range(1000)]
    ivs = paired_bootstrap_cis([d[0] for d in data], [d[1] for d in data],
                                rng=np.random.default_rng(3), n_resamples=2000)
    rejected = np.mean([not iv.low <= 0.0 <= iv.high for iv in ivs])
    assert rejected <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000), rejected


def test_accuracy_cis_keeps_slice_order_across_seed_layouts() -> None:
    rng = np.random.default_rng(4)
    slices = [rng.random(40) < 0.5, rng.random((2, 60)) < 0.8, rng.random(80) < 0.2]
    ivs = accuracy_cis(slices, rng=np.random.default_rng(0))
    assert [(iv.n, iv.n_seeds) for iv in ivs] == [(40, 1), (60, 2), (80, 1)]
    assert [iv.estimate for iv in ivs] == pytest.approx([s.mean() for s in slices])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: accuracy_ci(np.array([0.5, 1.0]), rng=g), "bool"),
        (lambda g: accuracy_ci(np.zeros((2, 2, 2), bool), rng=g), "shape"),
        (lambda g: accuracy_ci(np.zeros(0, bool), rng=g), "n >= 1"),
        (lambda g: accuracy_ci(np.ones(5, bool), rng=g, level=1.5), "level"),
        (lambda g: accuracy_ci(np.ones(5, bool), rng=g, n_resamples=0), "n_resamples"),
        (lambda g: paired_bootstrap_ci(np.ones(5, bool), np.ones(6, bool), rng=g), "examples"),
        (lambda g: paired_bootstrap_ci(np.ones((2, 5), bool), np.ones((3, 5), bool), rng=g),
         "pair_seeds"),
        (lambda g: paired_comparison(np.ones(5, bool), np.ones(6, bool)), "examples"),
        (lambda g: paired_comparison(np.ones((2, 5), bool), np.ones((3, 5), bool)),
         "pair_seeds"),
        (lambda g: paired_comparison(np.ones(5, bool), np.ones(5, bool), level=0), "level"),
    ],
)
def test_bad_input_is_named(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(np.random.default_rng(0))


def test_rng_must_be_a_generator() -> None:
    with pytest.raises(TypeError, match="Generator"):
        accuracy_ci(np.ones(5, bool), rng=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("seeds", [1, 3])
def test_both_exact_draws_give_the_same_distribution(seeds: int) -> None:
    # The engine picks a multinomial over patterns or shared example ids by cost; both must be
    # the bootstrap distribution (mean θ̂; same variance within Monte Carlo error).
    from robustlab.stats._resample import _id_stats, _multinomial_stats, _seed_weights

    rng = np.random.default_rng(6)
    a = rng.random((seeds, 300)) < np.linspace(0.9, 0.5, seeds)[:, None]
    b = rng.random((seeds, 300)) < 0.6
    c = compress([a - b.astype(float)])
    draws = {}
    for name, draw in [("multinomial", _multinomial_stats), ("ids", _id_stats)]:
        g = np.random.default_rng(0)
        draws[name] = draw([c], _seed_weights(c.seeds, g, 20_000), g, 20_000)[:, 0]
    ratio_sd = 4 * np.sqrt(4 / 20_000)  # ≈ 4 sd of a ratio of two independent variances
    assert abs(draws["ids"].var() / draws["multinomial"].var() - 1) < ratio_sd
    for boot in draws.values():
        assert abs(boot.mean() - c.estimate()) < 4 * boot.std() / np.sqrt(20_000)
