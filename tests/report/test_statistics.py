"""What the report says about its statistics (issue 10): the chance level and the effective-
robustness guard, the note on few seeds, the worth-a-look list kept apart from findings, and
pairwise intervals that agree with their test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from robustlab.report import render_report
from robustlab.report.analysis import analyse, settings_from
from robustlab.report.chance import chance_level
from robustlab.report.inputs import load_results
from robustlab.results import MANIFEST_FILE, PREDICTIONS_FILE


def section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}">')
    return html[start:html.index("</section>", start)]


@pytest.fixture
def folder(results_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(results_dir, tmp_path / "study",
                                ignore=shutil.ignore_patterns("report.html")))


def _task(folder: Path, **task: object) -> None:
    path = folder / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["study"]["task"].update(task)
    manifest["study"]["report"]["n_resamples"] = 300
    path.write_text(json.dumps(manifest))


def _at_chance(folder: Path, method: str, rate: float) -> None:
    """Make `method` guess at `rate` on the clean condition (seeded, every seed)."""
    path = folder / PREDICTIONS_FILE
    pred = pl.read_parquet(path)
    rng = np.random.default_rng(0)
    guess = pl.Series(rng.random(pred.height) < rate)
    mine = (pl.col("method") == method) & (pl.col("cond_op") == "clean")
    pred.with_columns(correct=pl.when(mine).then(guess).otherwise(pl.col("correct"))).write_parquet(
        path)


def _robustness(html: str, data_of) -> dict[str, list[dict]]:
    rows = data_of(html)["curves"]["robustness"]
    return {m: [r for r in rows if r["method"] == m] for m in {r["method"] for r in rows}}


def test_near_chance_method_gets_no_effective_robustness(folder: Path, data_of) -> None:
    _task(folder, candidates=4)  # chance = 1/4
    _at_chance(folder, "symile", 0.25)
    html = render_report(folder).read_text(encoding="utf-8")
    rows = _robustness(html, data_of)
    assert all(r["effective_robustness"] is None and r["er_note"] == "near chance"
               for r in rows["symile"])
    assert all(r["clean_ci_low"] <= 0.25 for r in rows["symile"])
    assert all(r["effective_robustness"] is not None and r["er_note"] == ""
               for r in rows["gated_symile"] + rows["clip"])
    curves = section(html, "curves")
    assert "— (near chance)" in curves and "25.00 %" in curves
    assert "4 candidates per query" in curves


def test_reference_near_chance_withholds_every_comparison(folder: Path, data_of) -> None:
    _task(folder, candidates=4)
    _at_chance(folder, "clip", 0.25)  # clip is the reference
    rows = _robustness(render_report(folder).read_text(encoding="utf-8"), data_of)
    assert {r["er_note"] for r in rows["symile"] + rows["gated_symile"]} == {
        "reference near chance"}
    assert all(r["effective_robustness"] is None for r in rows["symile"])


def test_unknown_chance_is_said(folder: Path) -> None:
    _task(folder, protocol="something_else")
    html = render_report(folder).read_text(encoding="utf-8")
    assert "Chance accuracy is not derivable" in section(html, "curves")
    assert "unknown task protocol" in section(html, "curves")


@pytest.mark.parametrize(("task", "expected", "says"), [
    ({"candidates": 8}, 1 / 8, "8 candidates per query"),
    ({"candidates": "all"}, None, "the largest rank observed"),  # 1 / max rank, computed below
    ({"protocol": "probe"}, None, "majority-class share"),
    ({"candidates": 8, "match": "label"}, None, "class-level retrieval"),
])
def test_chance_level_rules(folder: Path, task: dict, expected, says: str) -> None:
    _task(folder, **task)
    results = load_results(folder)
    chance = chance_level(results)
    pred = results.predictions
    clean = pred.filter((pl.col("cond_op") == "clean") & (pl.col("method") == "clip")
                        & (pl.col("seed") == 0))
    shares = clean["label"].value_counts()["count"].to_numpy() / clean.height
    if task.get("protocol") == "probe":
        expected = shares.max()
    elif task.get("match") == "label":
        expected = 1 / 8 + (1 - 1 / 8) * (shares**2).sum()
    elif expected is None:
        expected = 1 / pred["rank"].max()
    assert chance.value == pytest.approx(expected) and says in chance.how


def test_probe_without_labels_has_no_chance_level(folder: Path) -> None:
    _task(folder, protocol="probe")
    path = folder / PREDICTIONS_FILE
    pl.read_parquet(path).drop("label").write_parquet(path)
    assert chance_level(load_results(folder)).value is None


@pytest.mark.parametrize(("seeds", "says"), [
    ((0,), "trained once"), ((0, 1), "Cochran–Cox"), ((0, 1, 2), "only 3 training seeds")])
def test_few_seeds_are_said_plainly(folder: Path, seeds: tuple[int, ...], says: str) -> None:
    path = folder / PREDICTIONS_FILE
    pl.read_parquet(path).filter(pl.col("seed").is_in(seeds)).write_parquet(path)
    html = render_report(folder).read_text(encoding="utf-8")
    assert says in section(html, "overview") and says in section(html, "pairwise")


def test_worth_a_look_is_a_separate_labelled_list(report_html: str, data_of) -> None:
    data = data_of(report_html)["hidden-failures"]
    look, hidden = data["worth_a_look"], data["hidden_failures"]
    assert look and all(r["kind"] == "worth_a_look" for r in look)
    key = lambda r: (r["condition"], r["slice_value"], r["method_a"], r["method_b"])  # noqa: E731
    assert not {key(r) for r in look} & {key(r) for r in hidden}
    visible = section(report_html, "hidden-failures")
    head, tail = visible.split("Worth a look (exploratory, not findings)")
    assert head.count('<div class="failure">') > 0 and '<div class="failure">' not in tail
    assert tail.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == len(look)


def test_worth_a_look_says_which_overall_differences_the_verdict_called(
        report_html: str, data_of) -> None:
    # a hidden failure needs an overall difference the verdict called; a lead whose pair the
    # verdict did not call shows "not called", never a "corrected p" of 1.000
    look = data_of(report_html)["hidden-failures"]["worth_a_look"]
    alpha = data_of(report_html)["verdict"]["alpha"]
    rows = section(report_html, "hidden-failures").split("Worth a look")[1]
    rows = rows.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    uncalled = [r["aggregate_p_adjusted"] >= alpha for r in look]
    assert any(uncalled)
    assert [("<td>not called</td>" in row) for row in rows] == uncalled
    assert "called better or worse" in section(report_html, "hidden-failures")


def test_without_declared_contrasts_the_family_is_named_the_default(folder: Path) -> None:
    path = folder / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    del manifest["study"]["report"]["contrasts"]
    path.write_text(json.dumps(manifest))
    verdict = section(render_report(folder).read_text(encoding="utf-8"), "verdict")
    methods = pl.read_parquet(folder / PREDICTIONS_FILE)
    m, c = methods["method"].n_unique(), methods["condition"].n_unique()
    # each variant against the first one, under every condition: (m − 1) · c contrasts
    assert f"<strong>{(m - 1) * c} default contrasts</strong>" in verdict
    assert "declared contrasts" not in verdict
    assert "The study declares no contrasts" in verdict


def test_pairwise_intervals_agree_with_their_test(results_dir: Path) -> None:
    results = load_results(results_dir)
    analysis = analyse(results, settings_from(results))
    for table in (analysis.pairwise, analysis.slice_pairwise):
        assert table is not None and table.height
        excludes = (table["ci_low"] > 0) | (table["ci_high"] < 0)
        assert (excludes == (table["p_value"] < 0.05)).all()
        assert (table["ci_high"] > table["ci_low"]).all()
