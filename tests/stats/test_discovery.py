"""Slice discovery on prediction frames: planted failures and reversals are found (in metadata
and in embedding clusters, with no metadata at all), estimates come from the held-out half,
the same study seed gives the same findings, comparisons are oriented winner → loser, and bad
input names what is wrong."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from robustlab.stats import pairwise_table
from robustlab.stats.discovery import discover_slices, significant_comparisons
from robustlab.stats.discovery_options import DiscoveryOptions
from robustlab.testing.planted_slices import Plant, jaccard, planted_results


def _run(d, **options):
    winners = significant_comparisons(pairwise_table(d.pred, ["condition"]))
    kw = {k: options.pop(k) for k in ("seed", "same_data") if k in options}
    return discover_slices(d.pred, options=DiscoveryOptions(**options), winners=winners,
                           embeddings=d.embeddings, **kw)


def _mask(row, n):
    return np.isin(np.arange(n), row["example_ids"])


def test_finds_a_planted_failure_and_estimates_it_on_the_other_half() -> None:
    d = planted_results(3000, np.random.default_rng(1), plant=Plant(depth=2, drop=0.3))
    res = _run(d)
    found = res.rows.filter(pl.col("confirmed"))
    assert found.height >= 1
    best = found.row(0, named=True)
    assert (best["kind"], best["method"]) == ("failure", "a")
    assert jaccard(_mask(best, 3000), d.truth) >= 0.5
    held = ~np.isin(np.arange(3000), res.discovery_half) & _mask(best, 3000)
    assert best["n_tested"] == held.sum()
    correct = (d.pred.filter(pl.col("method") == "a").sort("seed", "example_id")["correct"]
               .to_numpy().reshape(3, 3000))
    assert best["acc_slice"] == pytest.approx(correct[:, held].mean())
    assert best["estimate"] < 0 and best["ci_high"] < 0 and best["p_adjusted"] < 0.05
    assert abs(res.discovery_half.size - 1500) <= 1


def test_finds_a_planted_reversal_of_a_significant_comparison() -> None:
    d = planted_results(4000, np.random.default_rng(2),
                        plant=Plant(kind="reversal", drop=0.2, coverage=(0.08, 0.12)))
    res = _run(d, targets=("reversal",))
    found = res.rows.filter(pl.col("confirmed"))
    assert found.height >= 1
    row = found.row(0, named=True)
    assert (row["method"], row["opponent"]) == ("a", "b")  # the average winner loses here
    assert row["overall_delta"] > 0 > row["estimate"]
    assert jaccard(_mask(row, 4000), d.truth) >= 0.5


def test_finds_a_cluster_slice_with_no_metadata_at_all() -> None:
    d = planted_results(3000, np.random.default_rng(3), columns=0,
                        plant=Plant(where="cluster", coverage=(0.05, 0.08), drop=0.3))
    res = _run(d)
    assert {kind for _, _, kind in res.searched.columns} == {"embedding"}
    row = res.rows.filter(pl.col("confirmed")).row(0, named=True)
    assert " cluster = " in row["slice"]
    assert jaccard(_mask(row, 3000), d.truth) >= 0.5


def test_same_seed_same_findings_other_seed_other_split() -> None:
    d = planted_results(1500, np.random.default_rng(4), plant=Plant(drop=0.3))
    one, two, other = _run(d, seed=5), _run(d, seed=5), _run(d, seed=6)
    assert one.rows.equals(two.rows)
    assert not np.array_equal(one.discovery_half, other.discovery_half)


def test_nothing_to_slice_on_says_so() -> None:
    d = planted_results(500, np.random.default_rng(5), columns=0)
    res = _run(d, clusters=0)
    assert res.rows.height == 0 and res.searched.family == 0
    assert any("no column to slice on" in note for note in res.searched.notes)


def test_without_embeddings_the_note_says_metadata_only() -> None:
    d = planted_results(500, np.random.default_rng(6), columns=4)
    res = discover_slices(d.pred, options=DiscoveryOptions(), winners=pl.DataFrame(
        schema={"condition": pl.String, "winner": pl.String, "loser": pl.String}))
    assert any("no test embeddings" in note for note in res.searched.notes)
    assert "reversal" not in res.searched.targets  # no significant comparison: none searched


def test_comparisons_are_oriented_winner_to_loser() -> None:
    pairwise = pl.DataFrame({"condition": ["c", "c", "c"], "method_a": ["x", "x", "y"],
                             "method_b": ["y", "z", "z"], "delta": [0.1, -0.2, 0.05],
                             "significant": [True, True, False]})
    out = significant_comparisons(pairwise)
    assert out.rows() == [("c", "x", "y", 0.1), ("c", "z", "x", 0.2)]


@pytest.mark.parametrize(("options", "message"), [
    ({"depth": 0}, "depth: must be an int in 1..3"),
    ({"top_k": True}, "top_k: must be an int in 1..200"),
    ({"clusters": "many"}, "clusters: must be 'auto' or an int in 0..64"),
    ({"targets": ("failure", "failure")}, "targets: must be a non-empty list"),
])
def test_options_check_themselves(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        DiscoveryOptions(**options)


def test_options_from_a_manifest_name_unknown_keys() -> None:
    with pytest.raises(ValueError, match="top_kk: unknown key; did you mean 'top_k'"):
        DiscoveryOptions.from_mapping({"top_kk": 3})
    assert DiscoveryOptions.from_mapping({"columns": ["x"]}).columns == ("x",)


def test_unknown_columns_are_named() -> None:
    d = planted_results(300, np.random.default_rng(7), columns=2)
    with pytest.raises(ValueError, match=r"columns: \['nope'\] not in the predictions"):
        _run(d, columns=("nope",))
