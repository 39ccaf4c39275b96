"""Hidden failures: planted reversals are found, non-significant averages only earn "worth a
look", pairs are reported once, near-duplicates are grouped, null data stay quiet.
(The false-report rate under a seed-heterogeneous null is in test_calibration.py.)"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from robustlab.stats import hidden_failures, pairwise_table

SITES = np.array(["north", "south", "east", "west"])


def _study(make_pred, seed: int, *, planted: float, lead: float, n: int = 1200,
           seeds=(0,), others=("other",)) -> pl.DataFrame:
    """'winner' and `others` on one condition; `lead` is winner's edge everywhere, `planted`
    is the accuracy winner loses on site == west (0 = no failure)."""
    rng = np.random.default_rng(seed)
    site = SITES[rng.integers(0, 4, n)]
    label = rng.integers(0, 3, n).astype(str)
    difficulty = rng.uniform(0.3, 0.7, n)  # shared: paired results are correlated
    data = {}
    for s in seeds:
        p_w = np.clip(difficulty + lead - planted * (site == "west"), 0, 1)
        data[("winner", s, "clean")] = rng.random(n) < p_w
        for other in others:
            data[(other, s, "clean")] = rng.random(n) < difficulty
    return make_pred(data, extra={"site": site, "label": label})


def _hidden(out: pl.DataFrame) -> pl.DataFrame:
    return out.filter(pl.col("kind") == "hidden_failure")


def test_finds_the_planted_failure(make_pred) -> None:
    # winner is .25 ahead except on west, where it is .25 behind: .125 ahead on average
    pred = _study(make_pred, 0, planted=0.5, lead=0.25)
    out = hidden_failures(pred, ["site", "label"], alpha=0.05)
    assert out.columns == ["condition", "slice_column", "slice_value", "aliases", "kind",
                           "finding", "focal_method", "opponent", "method_a", "method_b", "n",
                           "aggregate_delta", "aggregate_p_adjusted", "delta", "ci_low",
                           "ci_high", "ci_method", "p_value", "p_adjusted", "q_value"]
    assert out.select("slice_column", "slice_value", "kind", "method_a", "method_b").rows() == [
        ("site", "west", "hidden_failure", "winner", "other")]
    row = out.row(0, named=True)
    assert row["aggregate_delta"] > 0 > row["delta"] and row["ci_high"] < 0
    assert row["aggregate_p_adjusted"] < 0.05 and row["p_value"] <= row["p_adjusted"] < 0.05
    assert (row["focal_method"], row["opponent"], row["ci_method"]) == ("winner", "other",
                                                                         "tango")
    assert row["n"] == int((pred.filter(pl.col("method") == "winner")["site"] == "west").sum())


def test_finds_it_with_several_seeds(make_pred) -> None:
    pred = _study(make_pred, 1, planted=0.5, lead=0.25, n=800, seeds=(0, 1, 2))
    out = _hidden(hidden_failures(pred, ["site"]))
    assert out["slice_value"].to_list() == ["west"]
    assert out["ci_method"].to_list() == ["crossed_t"]


def test_reversal_against_an_insignificant_average_is_only_worth_a_look(make_pred) -> None:
    # winner is .15 ahead off west and .45 behind on west (a quarter of the examples): the
    # average difference is ~0, so "wins on average" is not established
    pred = _study(make_pred, 2, planted=0.6, lead=0.15)
    out = hidden_failures(pred, ["site"])
    assert _hidden(out).height == 0
    look = out.filter(pl.col("slice_value") == "west").row(0, named=True)
    assert look["kind"] == "worth_a_look" and look["aggregate_p_adjusted"] >= 0.05
    assert look["q_value"] < 0.05 and look["delta"] < 0


@pytest.mark.parametrize("seed", range(4))
def test_quiet_without_differences(make_pred, seed: int) -> None:
    pred = _study(make_pred, 10 + seed, planted=0.0, lead=0.0)
    assert hidden_failures(pred, ["site", "label"]).height == 0


@pytest.mark.parametrize("seed", range(3))
def test_quiet_when_one_method_wins_everywhere(make_pred, seed: int) -> None:
    pred = _study(make_pred, 20 + seed, planted=0.0, lead=0.12)
    assert hidden_failures(pred, ["site", "label"]).height == 0


def test_min_slice_size_excludes_small_slices(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.5, lead=0.25)
    out = hidden_failures(pred, ["site"], min_slice_size=400)
    assert out.height == 0  # each site holds ~300 examples


def test_bh_is_never_stricter_than_holm(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.5, lead=0.25)
    holm = _hidden(hidden_failures(pred, ["site", "label"]))
    bh = _hidden(hidden_failures(pred, ["site", "label"], correction="bh"))
    assert bh.height >= holm.height >= 1
    assert bh["p_adjusted"][0] <= holm["p_adjusted"][0]


def test_one_finding_per_method_and_slice_listing_its_opponents(make_pred) -> None:
    # winner beats three others on average and loses to each of them on west: one finding
    pred = _study(make_pred, 3, planted=0.5, lead=0.25, others=("x", "y", "z"))
    out = _hidden(hidden_failures(pred, ["site"]))
    assert out.height == 3 and out["finding"].n_unique() == 1
    assert set(out["focal_method"]) == {"winner"} and set(out["opponent"]) == {"x", "y", "z"}
    pairs = [frozenset(p) for p in out.select("method_a", "method_b").rows()]
    assert len(pairs) == len(set(pairs))  # no pair twice, in either order


def test_slices_holding_the_same_examples_are_one_slice(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.5, lead=0.25)
    pred = pred.with_columns(zone=pl.col("site").str.to_uppercase())  # the same partition
    one = hidden_failures(pred, ["site"])
    both = hidden_failures(pred, ["site", "zone"])
    assert both.height == one.height == 1
    assert both["aliases"].to_list() == ["zone = WEST"]
    assert both["p_adjusted"][0] == one["p_adjusted"][0]  # tested once: same family size


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_same_procedure_as_the_pairwise_tables(make_pred, seeds) -> None:
    pred = _study(make_pred, 4, planted=0.5, lead=0.25, n=900, seeds=seeds)
    row = hidden_failures(pred, ["site"]).row(0, named=True)
    west = pairwise_table(pred.filter(pl.col("site") == "west"), ["condition"]).row(
        0, named=True)
    assert row["ci_method"] == west["ci_method"]
    for key in ("delta", "ci_low", "ci_high", "p_value"):  # bincount sums vs means: 1e-12
        assert row[key] == pytest.approx(west[key], rel=1e-9, abs=1e-12), key
    overall = pairwise_table(pred, ["condition"]).row(0, named=True)
    assert row["aggregate_p_adjusted"] == pytest.approx(overall["p_adjusted"], rel=1e-9)


def test_slice_values_must_be_per_example(make_pred) -> None:
    pred = _study(make_pred, 0, planted=0.0, lead=0.0)
    bad = pred.with_columns(pl.when(pl.col("method") == "other").then(pl.lit("x"))
                            .otherwise(pl.col("site")).alias("site"))
    with pytest.raises(ValueError, match="slices must be per example"):
        hidden_failures(bad, ["site"])
    with pytest.raises(ValueError, match="min_slice_size"):
        hidden_failures(pred, ["site"], min_slice_size=0)
    with pytest.raises(ValueError, match="slice_columns"):
        hidden_failures(pred, ["correct"])
