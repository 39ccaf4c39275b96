"""The polars layer on tiny hand-checkable predictions frames."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from robustlab.stats import (
    accuracy_table,
    curve_table,
    holm,
    pairwise_table,
    relative_robustness,
    robustness_table,
    score_p,
)

A = np.array([1, 1, 1, 0, 1, 0, 1, 1, 0, 1], bool)
B = np.array([1, 0, 0, 0, 1, 0, 1, 0, 0, 1], bool)
LEVELS = {"clean": ("clean", "none", 0.0), "noise1": ("noise", "b", 1.0),
          "noise3": ("noise", "b", 3.0), "miss": ("missing", "c", 0.5)}


def _curves(make_pred, n: int = 120, seeds=(0, 1)) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    probs = {"clip": [0.8, 0.6, 0.3, 0.5], "symile": [0.9, 0.8, 0.7, 0.4]}
    data = {(m, s, c): rng.random(n) < p for m, ps in probs.items() for s in seeds
            for c, p in zip(LEVELS, ps, strict=True)}
    return make_pred(data, LEVELS)


def test_accuracy_table_hand_checked(make_pred) -> None:
    pred = make_pred({("a", 0, "clean"): A, ("a", 1, "clean"): B, ("b", 0, "clean"): B})
    out = accuracy_table(pred, ["condition"], rng=np.random.default_rng(0), n_resamples=500)
    assert out.columns == ["condition", "method", "n", "n_seeds", "accuracy", "ci_low",
                           "ci_high", "ci_method", "df"]
    # 10 examples: too few successes and failures for the bootstrap; 2 seeds: Cochran–Cox
    assert out.select("method", "n", "n_seeds", "accuracy", "ci_method").rows() == [
        ("a", 10, 2, 0.55, "crossed_cc"), ("b", 10, 1, 0.4, "clopper_pearson")]
    assert (out["ci_low"] <= out["accuracy"]).all() and (out["accuracy"] <= out["ci_high"]).all()


def test_accuracy_table_by_a_slice_column(make_pred) -> None:
    site = ["n", "s"] * 5
    pred = make_pred({("a", 0, "clean"): A}, extra={"site": site})
    out = accuracy_table(pred, ["condition", "site"], rng=np.random.default_rng(0))
    assert out.select("site", "n", "accuracy").rows() == [("n", 5, 0.8), ("s", 5, 0.6)]


def test_pairwise_table_hand_checked(make_pred) -> None:
    pred = make_pred({("b", 0, "c1"): B, ("a", 0, "c1"): A, ("b", 0, "c2"): A,
                      ("a", 0, "c2"): A})
    out = pairwise_table(pred, ["condition"], alpha=0.05)
    assert out.columns == ["condition", "method_a", "method_b", "n", "n_seeds", "acc_a", "acc_b",
                           "delta", "ci_low", "ci_high", "ci_method", "df", "p_value",
                           "p_adjusted", "significant", "n_01", "n_10"]
    first = out.row(0, named=True)  # method order is first appearance: b before a
    assert (first["method_a"], first["method_b"], first["n_01"], first["n_10"]) == ("b", "a", 3, 0)
    assert first["delta"] == pytest.approx(B.mean() - A.mean())
    # McNemar's score statistic: z = (0 − 3)/√3, p = 2 Φ(−√3) = 0.0833
    assert first["p_value"] == pytest.approx(float(score_p(0, 3))) == pytest.approx(0.083265, 1e-4)
    assert first["ci_low"] < first["delta"] < 0 < first["ci_high"]  # p > α ⟺ CI holds 0
    np.testing.assert_allclose(out["p_adjusted"], holm(out["p_value"].to_numpy()))
    assert out["significant"].to_list() == (out["p_adjusted"] < 0.05).to_list()
    same = out.row(1, named=True)  # identical methods: Δ = 0, yet never a zero-width interval
    assert (same["ci_method"], same["delta"], same["p_value"]) == ("tango", 0.0, 1.0)
    assert same["ci_low"] < 0 < same["ci_high"]


def test_pairwise_with_different_seed_sets(make_pred) -> None:
    rng = np.random.default_rng(1)
    data = {("a", s, "clean"): rng.random(80) < 0.8 for s in (0, 1, 2)}
    data |= {("b", s, "clean"): rng.random(80) < 0.5 for s in (0, 1)}
    out = pairwise_table(make_pred(data), ["condition"])
    row = out.row(0, named=True)
    # b's two seeds give a seed variance on 1 df: the Cochran–Cox critical value
    assert row["delta"] > 0.15 and row["ci_low"] > 0 and row["ci_method"] == "crossed_cc"
    assert row["n_seeds"] == 3 and row["df"] > 1 and row["significant"]


def test_curve_table_puts_clean_on_every_curve(make_pred) -> None:
    pred = _curves(make_pred)
    out = curve_table(pred, rng=np.random.default_rng(0), n_resamples=500)
    acc = accuracy_table(pred, ["condition"], rng=np.random.default_rng(0), n_resamples=500)
    clip = out.filter(pl.col("method") == "clip")
    assert clip.select("cond_op", "cond_modality", "cond_level").rows() == [
        ("missing", "c", 0.0), ("missing", "c", 0.5),
        ("noise", "b", 0.0), ("noise", "b", 1.0), ("noise", "b", 3.0)]
    clean = acc.filter((pl.col("condition") == "clean") & (pl.col("method") == "clip"))
    assert set(clip.filter(pl.col("cond_level") == 0)["accuracy"]) == {clean["accuracy"][0]}


def test_robustness_table_matches_the_array_functions(make_pred) -> None:
    pred = _curves(make_pred)
    out = robustness_table(pred, reference="clip", rng=np.random.default_rng(0), n_resamples=500)
    assert out.select("cond_op", "method").rows() == [
        ("missing", "clip"), ("missing", "symile"), ("noise", "clip"), ("noise", "symile")]
    sym = pred.filter(pl.col("method") == "symile").sort("condition", "seed", "example_id")
    curve = np.stack([sym.filter(pl.col("condition") == c)["correct"].to_numpy().reshape(2, -1)
                      for c in ("clean", "noise1", "noise3")])  # (L, S, n)
    rr = relative_robustness(np.array([0.0, 1.0, 3.0]), curve, rng=np.random.default_rng(0))
    row = out.filter((pl.col("cond_op") == "noise") & (pl.col("method") == "symile"))
    assert row["relative_robustness"][0] == pytest.approx(rr.estimate)
    ref = out.filter(pl.col("method") == "clip")
    assert ref["effective_robustness"].to_list() == [0.0, 0.0]


def test_same_rng_seed_same_frame(make_pred) -> None:
    pred = _curves(make_pred, seeds=(0,))  # one seed: the bootstrapped (BCa) intervals
    first = robustness_table(pred, reference="clip", rng=np.random.default_rng(3),
                             n_resamples=300)
    again = robustness_table(pred, reference="clip", rng=np.random.default_rng(3),
                             n_resamples=300)
    other = robustness_table(pred, reference="clip", rng=np.random.default_rng(4),
                             n_resamples=300)
    assert first.equals(again)
    assert not first["rr_ci_low"].equals(other["rr_ci_low"])


def test_errors_name_the_problem(make_pred) -> None:
    rng = np.random.default_rng(0)
    pred = _curves(make_pred)
    with pytest.raises(ValueError, match="lacks column"):
        accuracy_table(pred.drop("correct"), ["condition"], rng=rng)
    with pytest.raises(ValueError, match="add 'condition'"):
        accuracy_table(pred, ["cond_modality"], rng=rng)
    with pytest.raises(ValueError, match=r"different (numbers of examples|example ids)"):
        accuracy_table(pred.filter((pl.col("seed") == 0) | (pl.col("example_id") > 3)),
                       ["condition"], rng=rng)
    with pytest.raises(ValueError, match="reference 'comm'"):
        robustness_table(pred, reference="comm", rng=rng)
    clash = pred.with_columns(pl.when(pl.col("condition") == "noise3").then(1.0)
                              .otherwise(pl.col("cond_level")).alias("cond_level"))
    with pytest.raises(ValueError, match="taken by another condition"):
        curve_table(clash, rng=rng)
    with pytest.raises(ValueError, match="not slice columns"):
        accuracy_table(pred, ["seed"], rng=rng)


def test_tables_without_pairs_or_curves_are_typed_and_empty(make_pred) -> None:
    pred = make_pred({("a", 0, "clean"): A})
    pairs = pairwise_table(pred, ["condition"])
    rob = robustness_table(pred, reference="a", rng=np.random.default_rng(0))
    assert pairs.height == 0 and pairs.schema["delta"] == pl.Float64
    assert rob.height == 0 and rob.schema["method"] == pl.String
