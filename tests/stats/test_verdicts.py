"""Three-way verdicts (`verdicts.py`) and what would decide them (`planning.py`): interval and
verdict agree by construction, degenerate contrasts are never certain, the plan is decidable
exactly where it says."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.stats.components import cell_stats, contrast_data, variance
from robustlab.stats.contrasts import ConditionInfo, resolve
from robustlab.stats.planning import _decidable, _design, plan
from robustlab.stats.simulate import StudyModel, simulate, to_frame
from robustlab.stats.verdict_table import verdict_table
from robustlab.stats.verdicts import decide


def _verdicts(a: np.ndarray, b: np.ndarray, margin: float, alpha: float):
    data = contrast_data(cell_stats([a, b]), np.array([[0, 1]]))
    var = variance(data, data.blocks.var, data.blocks.df)
    return data, var, decide(data, var, margin, np.array([alpha]))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), seeds=st.sampled_from([1, 2, 3, 5]),
       n=st.integers(20, 300), pa=st.floats(0.05, 0.95), shift=st.floats(-0.3, 0.3),
       margin=st.floats(0.01, 0.2), alpha=st.sampled_from([0.05, 0.01, 0.001]))
def test_verdict_and_intervals_agree(seed, seeds, n, pa, shift, margin, alpha) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random((seeds, n)) < pa
    b = rng.random((seeds, n)) < np.clip(pa + shift, 0.01, 0.99)
    _, _, v = _verdicts(a, b, margin, alpha)
    low, high, eq_low, eq_high = v.low[0], v.high[0], v.eq_low[0], v.eq_high[0]
    tol = 1e-9  # bisection ends
    assert low < high and eq_low < eq_high  # never zero width
    assert low <= eq_low + tol and eq_high <= high + tol  # 1 − 2α′ sits inside 1 − α′
    assert eq_low - tol <= v.estimate[0] <= eq_high + tol
    if low > tol or high < -tol:  # the (1 − α′) interval excludes 0: a difference
        assert v.verdict[0] == ("better" if low > 0 else "worse")
    if v.verdict[0] in ("better", "worse"):
        assert low > -tol or high < tol
    if -margin + tol < eq_low and eq_high < margin - tol:  # inside ±δ: equivalent
        assert v.within_margin[0]
    if v.within_margin[0]:
        assert -margin - tol <= eq_low and eq_high <= margin + tol
    if v.verdict[0] == "equivalent":
        assert low <= tol and high >= -tol


def test_swapping_the_variants_mirrors_the_verdict() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 400)) < 0.8, rng.random((3, 400)) < 0.5
    _, _, ab = _verdicts(a, b, 0.02, 0.01)
    _, _, ba = _verdicts(b, a, 0.02, 0.01)
    assert ab.verdict[0] == "better" and ba.verdict[0] == "worse"
    assert np.isclose(ab.low[0], -ba.high[0]) and np.isclose(ab.p_diff[0], ba.p_diff[0])


def test_identical_perfect_variants_are_equivalent_only_with_enough_examples() -> None:
    """Every seed of both variants right on every example: no seed or example variance at all.
    The score test of the seed-averaged results still keeps the interval open."""
    for n, expected in ((40, "undecided"), (4000, "equivalent")):
        ones = np.ones((3, n), bool)
        _, _, v = _verdicts(ones, ones, 0.02, 0.05)
        assert v.verdict[0] == expected and v.eq_high[0] > 0
    with pytest.raises(ValueError, match="margin"):
        _verdicts(ones, ones, 0.0, 0.05)


def test_plan_is_decidable_exactly_from_the_seeds_it_names() -> None:
    rng = np.random.default_rng(4)
    model = StudyModel(np.array([[0.6], [0.62]]), np.array([0.15, 0.2]), n=3000)
    x = simulate(model, 3, rng)
    data = contrast_data(cell_stats([x[0, 0], x[1, 0]]), np.array([[0, 1]]))
    var = variance(data, data.blocks.var, data.blocks.df)
    alpha = np.array([0.01])
    p = plan(data, var, data.blocks.var, data.blocks.df, alpha, 0.05)
    seeds = p.seeds[0]
    assert np.isfinite(seeds) and seeds > 3
    d = _design(data, data.blocks.var, data.blocks.df)
    at = lambda s: _decidable(d, np.array([s]), d.n, alpha, 0.05)[0]  # noqa: E731
    assert at(seeds) and not at(seeds - 1)
    assert p.seeds_floor[0] <= seeds and p.examples_floor[0] <= max(p.examples[0], 3000)
    assert p.lever[0] == "seeds"  # seed noise dominates 3,000 examples
    assert p.mde[0] > 0


def test_verdict_table_reports_every_contrast_and_no_data() -> None:
    rng = np.random.default_rng(5)
    model = StudyModel(np.array([[0.9, 0.5], [0.6, 0.5], [0.6, 0.5]]),
                       np.array([0.1, 0.1, 0.1]), n=500)
    pred = to_frame(simulate(model, 3, rng), ["a", "b", "c"], ["clean", "noisy"])
    pred = pred.filter(~((pl.col("method") == "c") & (pl.col("condition") == "noisy")))
    conds = [ConditionInfo("clean", "clean", "none", 0.0),
             ConditionInfo("noisy", "noise", "b", 1.0)]
    family = resolve([{"versus": "b"}], ["a", "b", "c"], conds)
    table = verdict_table(pred, family, margin=0.05).table
    by = {(r["method_a"], r["condition"]): r for r in table.to_dicts()}
    assert by[("a", "clean")]["verdict"] == "better"  # 0.9 vs 0.6
    assert by[("c", "noisy")]["verdict"] == "no data"
    assert table["level"].to_list() == [0.05 / 4] * 4  # Bonferroni over the declared family
    assert set(table.columns) >= {"var_seed", "var_example", "var_interaction", "mde",
                                  "seeds_needed", "examples_needed", "lever", "eq_low"}
