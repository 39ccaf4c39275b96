"""Hidden failures: a planted failure is found; data without one stays quiet."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from robustlab.stats import hidden_failures

SITES = np.array(["north", "south", "east", "west"])


def _study(make_pred, seed: int, *, planted: float, lead: float, n: int = 1200,
           seeds=(0,)) -> pl.DataFrame:
    """'winner' and 'other' on one condition; `lead` is winner's edge everywhere, `planted`
    is the accuracy winner loses on site == west (0 = no failure)."""
    rng = np.random.default_rng(seed)
    site = SITES[rng.integers(0, 4, n)]
    label = rng.integers(0, 3, n).astype(str)
    difficulty = rng.uniform(0.3, 0.9, n)  # shared: paired results are correlated
    data = {}
    for s in seeds:
        u = rng.random(n)
        p_w = np.clip(difficulty + lead - planted * (site == "west"), 0, 1)
        data[("winner", s, "clean")] = u < p_w
        data[("other", s, "clean")] = rng.random(n) < difficulty
    return make_pred(data, extra={"site": site, "label": label})


def test_finds_the_planted_failure(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.45, lead=0.15)
    out = hidden_failures(pred, ["site", "label"], rng=np.random.default_rng(0), alpha=0.05)
    assert out.columns == ["condition", "slice_column", "slice_value", "method_a", "method_b",
                           "n", "aggregate_delta", "delta", "ci_low", "ci_high", "p_value",
                           "p_adjusted"]
    assert out.select("slice_column", "slice_value", "method_a", "method_b").rows() == [
        ("site", "west", "winner", "other")]
    row = out.row(0, named=True)
    assert row["aggregate_delta"] > 0 > row["delta"] and row["ci_high"] < 0
    assert row["p_adjusted"] < 0.05 and row["p_adjusted"] >= row["p_value"]
    assert row["n"] == int((pred.filter(pl.col("method") == "winner")["site"] == "west").sum())


def test_finds_it_with_several_seeds(make_pred) -> None:
    pred = _study(make_pred, 1, planted=0.45, lead=0.15, n=800, seeds=(0, 1, 2))
    out = hidden_failures(pred, ["site"], rng=np.random.default_rng(0))
    assert out["slice_value"].to_list() == ["west"]


@pytest.mark.parametrize("seed", range(4))
def test_quiet_without_differences(make_pred, seed: int) -> None:
    pred = _study(make_pred, 10 + seed, planted=0.0, lead=0.0)
    assert hidden_failures(pred, ["site", "label"], rng=np.random.default_rng(0)).height == 0


@pytest.mark.parametrize("seed", range(3))
def test_quiet_when_one_method_wins_everywhere(make_pred, seed: int) -> None:
    pred = _study(make_pred, 20 + seed, planted=0.0, lead=0.12)
    assert hidden_failures(pred, ["site", "label"], rng=np.random.default_rng(0)).height == 0


def test_min_slice_size_excludes_small_slices(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.45, lead=0.15)
    out = hidden_failures(pred, ["site"], rng=np.random.default_rng(0), min_slice_size=400)
    assert out.height == 0  # each site holds ~300 examples


def test_bh_is_never_stricter_than_holm(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.45, lead=0.15)
    holm = hidden_failures(pred, ["site", "label"], rng=np.random.default_rng(0))
    bh = hidden_failures(pred, ["site", "label"], rng=np.random.default_rng(0), correction="bh")
    assert bh.height >= holm.height
    assert bh["p_adjusted"][0] <= holm["p_adjusted"][0]


def test_slice_values_must_be_per_example(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.0, lead=0.0)
    bad = pred.with_columns(pl.when(pl.col("method") == "other").then(pl.lit("x"))
                            .otherwise(pl.col("site")).alias("site"))
    with pytest.raises(ValueError, match="slices must be per example"):
        hidden_failures(bad, ["site"], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="min_slice_size"):
        hidden_failures(pred, ["site"], rng=np.random.default_rng(0), min_slice_size=0)
    with pytest.raises(ValueError, match="slice_columns"):
        hidden_failures(pred, ["correct"], rng=np.random.default_rng(0))
