"""Calibration by simulation (issue 10): coverage of every interval type (single, paired,
several seeds, robustness metrics; small and degenerate slices), type-I error of every test
under correlated and seed-heterogeneous nulls, and the hidden-failure detector's false-report
rate.

One-seed cells enumerate every possible data set (the intervals depend only on the counts), so
their coverage is exact: no Monte-Carlo (MC) error, except the bootstrap noise of BCa endpoints
where a slice is bootstrapped. Simulated cells say their binomial MC standard deviation next to
the tolerance. Every cell has a fixed seed; `bench/bench_calibration.py` prints the same
quantities at larger sizes, before and after issue 10.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import gammaln
from scipy.stats import binom

from robustlab.stats import accuracy_cis, hidden_failures, paired_comparisons, pairwise_table
from robustlab.stats.proportions import proportion_intervals
from robustlab.stats.robustness import difference_intervals, effective_blocks, relative_block

ALPHA = 0.05


def _sd(rate: float, sets: int) -> float:
    return float(np.sqrt(rate * (1 - rate) / sets))


# --- one seed: exact enumeration ------------------------------------------------------------


@pytest.mark.parametrize(("n", "p"), [(30, 0.98), (30, 0.5), (100, 0.95), (200, 0.8),
                                      (500, 0.99), (1000, 0.9)])
def test_accuracy_coverage_single_seed(n: int, p: float) -> None:
    k = np.arange(n + 1)
    slices = [np.r_[np.ones(j, bool), np.zeros(n - j, bool)] for j in k]
    ivs = accuracy_cis(slices, rng=np.random.default_rng(0), n_resamples=2000)
    low, high = np.array([iv.low for iv in ivs]), np.array([iv.high for iv in ivs])
    coverage = binom.pmf(k, n, p) @ ((low <= p) & (p <= high))
    assert (high - low > 0).all()  # never zero width (all correct, all wrong included)
    # exact up to the BCa endpoints' resampling noise (R = 2000): target ≥ 0.93
    assert coverage >= 0.93, coverage


def _paired_cells(n: int, p10: float, p01: float) -> tuple[list, list, np.ndarray]:
    """One (a, b) pair per possible (n10, n01) of n paired examples, and its probability
    (cells below 1e-12 dropped: the lost mass bounds the coverage error, asserted < 1e-6)."""
    n10, n01 = (g.ravel() for g in np.meshgrid(np.arange(n + 1), np.arange(n + 1)))
    keep = n10 + n01 <= n
    n10, n01 = n10[keep], n01[keep]
    rest = n - n10 - n01
    logp = (gammaln(n + 1) - gammaln(n10 + 1) - gammaln(n01 + 1) - gammaln(rest + 1)
            + n10 * np.log(p10) + n01 * np.log(max(p01, 1e-300))
            + rest * np.log(1 - p10 - p01))
    w = np.exp(logp)
    big = w > 1e-12
    assert 1 - w[big].sum() < 1e-6
    a = [np.r_[np.ones(i, bool), np.zeros(j, bool), np.ones(r, bool)]
         for i, j, r in zip(n10[big], n01[big], rest[big], strict=True)]
    b = [np.r_[np.zeros(i, bool), np.ones(j, bool), np.ones(r, bool)]
         for i, j, r in zip(n10[big], n01[big], rest[big], strict=True)]
    return a, b, w[big]


@pytest.mark.parametrize(("n", "p10", "p01", "target"), [
    (40, 0.05, 0.02, (0.93, 1.0)),   # accuracies .95 vs .92 (issue 10: 0.82 before)
    (40, 0.05, 0.05, (0.93, 1.0)),   # the null, small n (0.90 before)
    (200, 0.05, 0.05, (0.935, 0.965)),  # the null, n = 200: 0.95 ± 0.015
    (200, 0.15, 0.10, (0.935, 0.965)),  # Δ = .05 away from the boundary
    (30, 0.02, 0.01, (0.93, 1.0)),   # few discordant pairs
])
def test_paired_coverage_single_seed(n, p10, p01, target) -> None:
    a, b, w = _paired_cells(n, p10, p01)
    res = paired_comparisons(a, b)
    low, high = np.array([r.low for r in res]), np.array([r.high for r in res])
    delta = p10 - p01
    coverage = w @ ((low <= delta) & (delta <= high))  # exact: no MC error
    assert (high - low > 0).all()
    assert target[0] <= coverage <= target[1], coverage


# --- one decision rule ----------------------------------------------------------------------


def _frame(correct: dict[str, np.ndarray]) -> pl.DataFrame:
    """Predictions of {method: (sets, seeds, n)} bool; column `sim` = data set."""
    parts = []
    for method, x in correct.items():
        sim, seed, ex = np.meshgrid(*(np.arange(s) for s in x.shape), indexing="ij")
        parts.append(pl.DataFrame({"method": method, "seed": seed.ravel(),
                                   "condition": "clean", "example_id": ex.ravel(),
                                   "correct": x.ravel(), "sim": sim.ravel()}))
    return pl.concat(parts)


def test_interval_and_test_always_agree() -> None:
    # 400 data sets per layout: one seed (n = 200, Δ = .05 — 3 % disagreed before issue 10),
    # paired seeds, 2 seeds, and different seed sets. Not a rate: zero disagreements.
    rng = np.random.default_rng(7)
    q = rng.uniform(0.3, 0.9, (400, 1, 200))
    a = rng.random((400, 5, 200)) < q + 0.05 + rng.normal(0, 0.02, (400, 5, 1))
    b = rng.random((400, 5, 200)) < q
    for sa, sb in [(1, 1), (3, 3), (2, 2), (3, 5)]:
        t = pairwise_table(_frame({"a": a[:, :sa], "b": b[:, :sb]}), ["sim"], alpha=ALPHA)
        excludes = (t["ci_low"] > 0) | (t["ci_high"] < 0)
        assert (excludes == (t["p_value"] < ALPHA)).all(), (sa, sb)
        assert 0 < excludes.sum() < 400  # both decisions occur


# --- several seeds: simulation --------------------------------------------------------------


def _seeded(rng, sets, seeds, n, shift=(0.0, 0.0), tau=(0.0, 0.04), stable_a=False):
    """(a, b) bool (sets, seeds, n): difficulty q ~ U(.35, .85) shared; method m succeeds w.p.
    q + shift_m + u_ms, u_ms ~ N(0, tau_m²) (per seed); A seed-stable: one draw for all seeds.
    q + shift + u stays in [0, 1] but for > 3.7 sd draws: the true mean is .6 + shift."""
    q = rng.uniform(0.35, 0.85, (sets, 1, n))
    ua = rng.normal(0.0, tau[0], (sets, seeds, 1))
    ub = rng.normal(0.0, tau[1], (sets, seeds, 1))
    a = rng.random((sets, 1 if stable_a else seeds, n)) < q + shift[0] + ua
    return np.broadcast_to(a, (sets, seeds, n)), rng.random((sets, seeds, n)) < q + shift[1] + ub


@pytest.mark.parametrize(("seeds", "n"), [(2, 1000), (3, 500), (5, 500)])
def test_type_one_error_seed_stable_vs_seed_noisy(seeds: int, n: int) -> None:
    # Equal mean accuracy; A is the same for every seed, B's seeds shift by N(0, .04²).
    # Before issue 10 (sign test on seed-averaged differences) 3 seeds rejected 45 %. At 2
    # seeds and n = 1000 Satterthwaite's df would reject ~9 % (why 2 seeds use Cochran–Cox).
    rng = np.random.default_rng(100 + seeds)
    a, b = _seeded(rng, 2000, seeds, n, stable_a=True)
    res = paired_comparisons(list(a), list(b))
    rate = np.mean([r.p_value < ALPHA for r in res])
    assert rate <= ALPHA + 2 * _sd(ALPHA, 2000), rate  # 2 MC sd = 0.0097


def test_type_one_error_different_seed_sets() -> None:
    # 3 seeds of a against 4 of b (seeds resampled as independent runs), both seed-noisy.
    rng = np.random.default_rng(11)
    a, b = _seeded(rng, 2000, 4, 400, tau=(0.03, 0.03))
    res = paired_comparisons(list(a[:, :3]), list(b), pair_seeds=False)
    rate = np.mean([r.p_value < ALPHA for r in res])
    assert rate <= ALPHA + 2 * _sd(ALPHA, 2000), rate  # 2 MC sd = 0.0097


@pytest.mark.parametrize("seeds", [3, 5])
def test_crossed_coverage_with_noisy_seeds(seeds: int) -> None:
    # Δ = .05, both methods seed-noisy (N(0, .02²) per seed): the two-level design.
    rng = np.random.default_rng(200 + seeds)
    a, b = _seeded(rng, 1500, seeds, 500, shift=(0.025, -0.025), tau=(0.02, 0.02))
    res = paired_comparisons(list(a), list(b))
    cover = np.mean([r.low <= 0.05 <= r.high for r in res])
    acc = accuracy_cis(list(a), rng=np.random.default_rng(0))
    cover_acc = np.mean([iv.low <= 0.625 <= iv.high for iv in acc])
    assert cover >= 0.93 and cover_acc >= 0.93, (cover, cover_acc)  # MC sd ≈ 0.006


def test_several_identical_seeds_on_a_small_near_perfect_slice() -> None:
    # Seed-stable methods on small slices: the seed variance is 0 and the example term rests
    # on a handful of failures — the t interval alone would be the zero-width [1, 1].
    rng = np.random.default_rng(3)
    x = np.repeat(rng.random((2000, 1, 30)) < 0.98, 3, axis=1)  # 3 identical seeds
    ivs = accuracy_cis(list(x), rng=np.random.default_rng(0))
    assert min(iv.high - iv.low for iv in ivs) > 0
    cover = np.mean([iv.low <= 0.98 <= iv.high for iv in ivs])
    assert cover >= 0.93, cover  # MC sd ≈ 0.004 at 0.97
    cell = rng.choice(4, size=(2000, 1, 40), p=[0.05, 0.02, 0.90, 0.03])  # .95 vs .92
    a = np.repeat((cell == 0) | (cell == 2), 3, axis=1)
    b = np.repeat((cell == 1) | (cell == 2), 3, axis=1)
    res = paired_comparisons(list(a), list(b))
    assert min(r.high - r.low for r in res) > 0
    assert np.mean([r.low <= 0.03 <= r.high for r in res]) >= 0.93  # MC sd ≈ 0.004


# --- hidden failures ------------------------------------------------------------------------


def _slices_frame(a: np.ndarray, b: np.ndarray, piece: np.ndarray) -> pl.DataFrame:
    out = _frame({"a": a[None], "b": b[None]})
    return out.with_columns(piece=pl.Series(np.tile(piece, out.height // piece.size)))


def test_hidden_failure_false_reports_under_seed_by_slice_noise() -> None:
    # 3 seeds, 10 slices of 600 examples; A seed-stable; B's seed s succeeds w.p. q + v_sk on
    # slice k, v ~ N(0, .12²): every slice has equal *mean* accuracy, but each trained B is
    # better on some slices and worse on others. Before issue 10: 21 % of data sets reported
    # a hidden failure.
    rng = np.random.default_rng(5)
    n, slice_of = 6000, np.arange(6000) // 600
    reports = 0
    for _ in range(200):
        q = rng.uniform(0.45, 0.55, n)
        v = rng.normal(0.0, 0.12, (3, 10))[:, slice_of]
        a = np.broadcast_to(rng.random(n) < q, (3, n))
        b = rng.random((3, n)) < q + v
        out = hidden_failures(_slices_frame(a, b, slice_of.astype(str)), ["piece"])
        reports += bool((out["kind"] == "hidden_failure").any())
    assert reports / 200 <= ALPHA + 2 * _sd(ALPHA, 200), reports  # 2 MC sd = 0.031


def test_hidden_failure_false_reports_with_a_uniform_winner() -> None:
    # One seed; A beats B by .1 everywhere (the average is significant), no slice effect.
    rng = np.random.default_rng(6)
    n, slice_of = 2000, np.arange(2000) // 100
    reports = 0
    for _ in range(200):
        q = rng.uniform(0.3, 0.8, n)
        a, b = rng.random((1, n)) < q + 0.1, rng.random((1, n)) < q
        out = hidden_failures(_slices_frame(a, b, slice_of.astype(str)), ["piece"])
        reports += bool((out["kind"] == "hidden_failure").any())
    assert reports / 200 <= ALPHA + 2 * _sd(ALPHA, 200), reports  # 2 MC sd = 0.031


# --- robustness metrics ---------------------------------------------------------------------


@pytest.mark.parametrize("seeds", [1, 3])
def test_robustness_metric_coverage(seeds: int) -> None:
    # Levels 0, 1, 2 (trapezoid weights .25, .5, .25); difficulty q ~ U(.3, .8) shared;
    # f succeeds w.p. q − .1 l + u_s, the reference r w.p. q − .2 l + v_s (u, v ~ N(0, .02²) per
    # seed): true RR(f) = .55 − .1 = .45, ER(f vs r) = (.45 − .55) − (.35 − .55) = .10.
    rng = np.random.default_rng(300 + seeds)
    levels, sets, n = np.array([0.0, 1.0, 2.0]), 1000, 300
    q = rng.uniform(0.3, 0.8, (sets, 1, 1, n))
    drop = levels[None, :, None, None]
    shift = lambda: rng.normal(0.0, 0.02 if seeds > 1 else 0.0, (sets, 1, seeds, 1))  # noqa: E731
    f = rng.random((sets, 3, seeds, n)) < q - 0.1 * drop + shift()  # (sets, L, S, n)
    r = rng.random((sets, 3, seeds, n)) < q - 0.2 * drop + shift()
    rr = proportion_intervals([relative_block(levels, x) for x in f],
                              rng=np.random.default_rng(0), n_resamples=2000, level=0.95)
    er = difference_intervals([effective_blocks(levels, x, y, True)
                               for x, y in zip(f, r, strict=True)],
                              rng=np.random.default_rng(1), n_resamples=2000, level=0.95)
    cover_rr = np.mean([iv.low <= 0.45 <= iv.high for iv in rr])
    cover_er = np.mean([iv.low <= 0.10 <= iv.high for iv in er])
    assert {iv.method for iv in rr + er} <= {"bca", "crossed_t"}
    assert cover_rr >= 0.93 and cover_er >= 0.93, (cover_rr, cover_er)  # MC sd ≈ 0.007
