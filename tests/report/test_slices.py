"""Slices on the report's side: quantile bins of numeric columns (edges, labels, nulls),
the per-slice accuracy table, the verdict's rule, the method order, and queries whose target
is missing in the data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from robustlab import stats
from robustlab.report import render_report
from robustlab.report.analysis import analyse, settings_from
from robustlab.report.inputs import load_results, method_order
from robustlab.report.slicing import (
    MISSING_LABEL,
    SliceSpec,
    bin_labels,
    quantile_edges,
    with_bins,
)
from robustlab.results import MANIFEST_FILE, PREDICTIONS_FILE


def test_quantile_bins_are_labelled_by_their_ranges() -> None:
    ages = np.arange(18, 89)  # 71 values
    edges = quantile_edges(ages, 4)
    assert edges.tolist() == [18, 35, 53, 71, 88]  # observed values (inverted CDF)
    assert bin_labels(edges) == ["[18, 35)", "[35, 53)", "[53, 71)", "[71, 88]"]
    assert bin_labels(quantile_edges(np.array([0.1234, 0.1235, 0.9]), 2)) == [
        "[0.1234, 0.1235)", "[0.1235, 0.9]"]  # as many digits as keep edges apart
    assert bin_labels(quantile_edges(np.full(10, 3.0), 4)) == ["[3, 3]"]  # repeated edges merge


def test_every_example_falls_in_its_range_and_nulls_are_their_own_slice() -> None:
    ids = np.arange(100)
    age = pl.Series("age", [None if i % 25 == 0 else float(i) for i in ids])
    pred = pl.DataFrame({"example_id": ids, "age": age, "method": "m"})
    binned, order = with_bins(pred, [SliceSpec("age", 4)])
    assert order["age"][-1] == MISSING_LABEL and len(order["age"]) == 5
    for value, label in zip(age.to_list(), binned["age"].to_list(), strict=True):
        if value is None:
            assert label == MISSING_LABEL
            continue
        low, high = (float(x) for x in label[1:-1].split(", "))
        assert low <= value and (value < high or (label.endswith("]") and value == high))
    sizes = binned.group_by("age").len().filter(pl.col("age") != MISSING_LABEL)["len"]
    assert sizes.min() >= 20 and sizes.sum() == 96  # quartiles, close to equal


@pytest.fixture
def with_age(results_dir: Path, tmp_path: Path) -> Path:
    """The synthetic fixture with an `age` column and `report.slices` binning it."""
    folder = Path(shutil.copytree(results_dir, tmp_path / "study",
                                  ignore=shutil.ignore_patterns("report.html")))
    pred = pl.read_parquet(folder / PREDICTIONS_FILE)
    pred.with_columns(age=18 + pl.col("example_id") * 7 % 71).write_parquet(
        folder / PREDICTIONS_FILE)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["study"]["report"]["slices"] = ["site", {"column": "age", "bins": 4}]
    manifest["study"]["report"]["n_resamples"] = 500
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


def test_slice_accuracy_is_the_raw_mean_per_bin_with_an_interval(with_age: Path) -> None:
    results = load_results(with_age)
    analysis = analyse(results, settings_from(results))
    table = analysis.slice_accuracy
    assert analysis.value_order["age"] == ["[18, 35)", "[35, 53)", "[53, 71)", "[71, 88]"]
    binned, _ = with_bins(results.predictions, analysis.settings.slices)
    raw = (binned.group_by("method", "condition", "age")
           .agg(pl.col("correct").mean().alias("raw"), pl.len().alias("rows")))
    shown = table.filter(pl.col("slice_column") == "age").join(
        raw, left_on=["method", "condition", "slice_value"],
        right_on=["method", "condition", "age"])
    assert shown.height == 3 * 6 * 4
    assert (shown["accuracy"] - shown["raw"]).abs().max() < 1e-12
    assert (shown["n"] * 3 == shown["rows"]).all()  # n examples, 3 seeds each
    assert ((shown["ci_low"] < shown["accuracy"]) & (shown["accuracy"] < shown["ci_high"])).all()
    html = render_report(with_age).read_text(encoding="utf-8")
    page = html.split('<section id="slice-accuracy">')[1].split("</section>")[0]
    assert "age (4 quantile bins)" in page
    head = page.split("age (4 quantile bins)")[1].split("<thead>")[1].split("</thead>")[0]
    assert [head.index(b) for b in analysis.value_order["age"]] == sorted(
        head.index(b) for b in analysis.value_order["age"])
    hidden = html.split('<section id="hidden-failures">')[1].split("</section>")[0]
    assert "age (4 quantile bins)" in hidden  # the same bins are searched


def test_methods_follow_the_study_order_with_variants_next_to_their_base() -> None:
    manifest = {"method_order": ["clip", "symile", "gated_symile", "clip_corrupt",
                                 "symile_corrupt", "gated_symile_no_null"],
                "methods": {"clip_corrupt": {"registry": "clip"},
                            "symile_corrupt": {"registry": "symile"},
                            "gated_symile_no_null": {"registry": "gated_symile"},
                            "clip": {"registry": "clip"}}}
    found = sorted(manifest["method_order"])  # predictions.parquet is sorted by name
    assert method_order(found, manifest) == [
        "clip", "clip_corrupt", "symile", "symile_corrupt", "gated_symile",
        "gated_symile_no_null"]
    assert method_order(["b", "a"], {}) == ["b", "a"]  # no manifest order: first appearance
    first_variant = {"method_order": ["clip_corrupt", "symile", "clip"],
                     "methods": {"clip_corrupt": {"registry": "clip"}}}
    assert method_order(["clip", "clip_corrupt", "symile"], first_variant) == [
        "clip", "clip_corrupt", "symile"]  # the base leads its group


def test_unscored_queries_are_left_out_and_counted(results_dir: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(results_dir, tmp_path / "study",
                                  ignore=shutil.ignore_patterns("report.html")))
    pred = pl.read_parquet(folder / PREDICTIONS_FILE)
    flagged = pred.with_columns(target_missing=pl.col("example_id") < 13)
    flagged.write_parquet(folder / PREDICTIONS_FILE)
    html = render_report(folder).read_text(encoding="utf-8")
    data = json.loads(html.split('id="robustlab-data">')[1].split("</script>")[0])
    accuracy = pl.DataFrame(data["overview"]["accuracy"])
    assert (accuracy["n"] == 600 - 13).all()
    kept = pred.filter(pl.col("example_id") >= 13)
    raw = kept.group_by("method", "condition").agg(pl.col("correct").mean().alias("raw"))
    joined = accuracy.join(raw, on=["method", "condition"])
    assert (joined["accuracy"] - joined["raw"]).abs().max() < 1e-12
    assert "13 queries not scored" in html.split('<section id="verdict">')[1]
    with pytest.raises(ValueError, match="13 rows are flagged target_missing"):
        stats.accuracy_table(flagged.filter(pl.col("seed") == 0, pl.col("method") == "clip",
                                            pl.col("condition") == "clean"),
                             ["condition"], rng=np.random.default_rng(0))
