"""The rendered report: section order, numbers that match the raw data, self-containment,
determinism, and the sections that read trials.parquet and the manifest."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from robustlab.report import render_report
from robustlab.report.sections import failures
from robustlab.results import PREDICTIONS_FILE, TRIALS_FILE

SECTIONS = ["verdict", "hidden-failures", "discovered-slices", "overview", "curves",
            "slice-accuracy", "pairwise", "fairness", "provenance"]
# matplotlib's SVG declares these XML namespaces; a namespace is a name, not a request.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}">')
    return html[start:html.index("</section>", start)]


def test_sections_come_in_the_issue_order(report_html: str) -> None:
    assert re.findall(r'<section id="([^"]+)"', report_html) == SECTIONS


def test_headline_accuracies_are_the_raw_means(report_html: str, results_dir: Path,
                                               data_of) -> None:
    raw = (pl.read_parquet(results_dir / PREDICTIONS_FILE)
           .group_by("method", "condition").agg(pl.col("correct").mean().alias("raw")))
    shown = pl.DataFrame(data_of(report_html)["overview"]["accuracy"])
    both = shown.join(raw, on=["method", "condition"], how="full", coalesce=True)
    assert both.height == 3 * 6
    assert (both["accuracy"] - both["raw"]).abs().max() < 1e-12
    assert ((both["ci_low"] <= both["accuracy"]) & (both["accuracy"] <= both["ci_high"])).all()


def test_headline_marks_the_best_method_of_each_condition(report_html: str, data_of) -> None:
    table = pl.DataFrame(data_of(report_html)["overview"]["accuracy"])
    expected = {(r["method"], r["condition"]) for r in table.filter(
        pl.col("accuracy") == pl.col("accuracy").max().over("condition")).to_dicts()}
    headline = section(report_html, "overview")
    body = headline.split("</thead>")[1]
    marked = set()
    for row in body.split("<tr>")[1:]:
        # the name cell: the method, then its budget-adequacy mark (a link to the verdict)
        method = re.search(r'<td class="text method">([^<]*)(?:<a [^>]*>[^<]*</a>)?</td>',
                           row).group(1)
        cells = re.findall(r'<td( class="best")? title="([^"]+): n = ', row)
        assert len(cells) == 6  # one per condition
        marked |= {(method, html.unescape(c)) for best, c in cells if best}
    assert marked == expected and len(marked) >= 6


def test_planted_hidden_failure_is_listed_first_class(report_html: str, synth, data_of) -> None:
    """gated_symile fails on site = west in every condition, against both opponents; a hidden
    failure needs the verdicts to have called its average win, so it is one in the conditions
    where they did (at 3 seeds, not all) and worth a look in the rest — never elsewhere."""
    rows = data_of(report_html)["hidden-failures"]["hidden_failures"]
    hidden = [r for r in rows if r["kind"] == "hidden_failure"]
    planted = [r for r in hidden if r["slice_column"] == "site"
               and r["slice_value"] == synth.FAILING_SITE and "gated_symile" in
               (r["method_a"], r["method_b"])]
    assert len(planted) >= 3 and planted == hidden  # and nothing else is a hidden failure
    looks = [r for r in rows if r["kind"] == "worth_a_look"]
    assert all(r["slice_value"] == synth.FAILING_SITE for r in looks)
    visible = section(report_html, "hidden-failures")
    assert f"<strong>site = {synth.FAILING_SITE}</strong>" in visible
    findings = {r["finding"] for r in rows}  # one card per finding (its opponents listed)
    assert visible.count('<div class="failure">') == min(len(findings), failures.MAX_CARDS)
    table = visible.split("<thead>")[1].split("</table>")[0]  # both tbodies (shown + folded)
    assert table.count("<tr>") == len(rows) + 1
    verdicts = {(r["condition"], frozenset((r["method_a"], r["method_b"]))): r["verdict"]
                for r in data_of(report_html)["verdict"]["contrasts"]}
    for r in planted:  # gated_symile wins overall, significantly, and loses here
        sign = 1 if r["method_a"] == "gated_symile" else -1
        assert sign * r["aggregate_delta"] > 0 > sign * r["delta"]
        assert r["aggregate_p_adjusted"] < 0.05 and r["p_adjusted"] < 0.05
        assert r["focal_method"] == "gated_symile"
        pair = frozenset((r["method_a"], r["method_b"]))
        assert verdicts[(r["condition"], pair)] in ("better", "worse")  # the verdicts called it
    pairs = [(r["condition"], r["slice_value"], frozenset((r["method_a"], r["method_b"])))
             for r in rows]
    assert len(pairs) == len(set(pairs))  # no pair twice


def test_quiet_data_says_none_found_and_no_trials_is_reported(tmp_path: Path, synth,
                                                              data_of) -> None:
    folder = synth.write_results(tmp_path / "quiet", n=160, failure_logit=0.0, n_resamples=500)
    (folder / TRIALS_FILE).unlink()
    html = render_report(folder).read_text(encoding="utf-8")
    assert data_of(html)["hidden-failures"]["hidden_failures"] == []
    assert "None found" in section(html, "hidden-failures")
    fairness = section(html, "fairness")
    assert "No <code>trials.parquet</code>" in fairness and "<svg" not in fairness


def test_page_is_self_contained(report_html: str) -> None:
    lowered = report_html.lower()
    for tag in ("<link", "<img", "<iframe", "<object", "<embed", "<audio", "<video", "@import"):
        assert tag not in lowered, tag
    refs = re.findall(r'\b(?:src|href|xlink:href)\s*=\s*["\']([^"\']*)', report_html)
    assert refs and all(r.startswith(("#", "data:")) for r in refs), refs
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", report_html))
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", report_html))
    assert urls <= NAMESPACES, urls - NAMESPACES
    for url in urls:  # every remaining URL sits in an xmlns declaration
        assert all(m.group(1).startswith("xmlns") for m in re.finditer(
            rf'([\w:]+)="{re.escape(url)}"', report_html))
    assert report_html.count("<svg") == 3  # two curve families + the trial curves


def test_same_seed_same_bytes_other_seed_other_intervals(results_dir: Path, report_html: str,
                                                         tmp_path: Path) -> None:
    again = render_report(results_dir, out=tmp_path / "again.html", seed=0)
    other = render_report(results_dir, out=tmp_path / "other.html", seed=1)
    assert again.read_text(encoding="utf-8") == report_html
    assert other.read_text(encoding="utf-8") != report_html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.html", "other.html"]


def test_fairness_shows_the_budget_each_method_used(report_html: str, results_dir: Path,
                                                    data_of) -> None:
    trials = pl.read_parquet(results_dir / TRIALS_FILE)
    rows = {r["method"]: r for r in data_of(report_html)["fairness"]["methods"]}
    assert list(rows) == ["clip", "symile", "gated_symile"]
    for method, row in rows.items():
        mine = trials.filter(pl.col("method") == method)
        assert row["trials"] == mine.height == 4
        assert row["epochs"] == mine["epochs"].sum()
        assert row["wall_time_s"] == pytest.approx(mine["wall_time_s"].sum())
        assert row["param_count"] == 200_000 + 1000 * len(method)
        assert row["best_config"].startswith('{"lr": ')
        for value in json.loads(row["best_config"]).values():  # rounded for people
            assert value == float(f"{value:.3g}"), row["best_config"]
    assert rows["gated_symile"]["statuses"] == "2 completed, 1 stopped, 1 failed"
    fairness = section(report_html, "fairness")
    assert fairness.count("<svg") == 1
    assert "Note from the study runner: synthetic fixture: the trials below" in fairness


def test_curves_cover_each_family_and_reference(report_html: str, data_of) -> None:
    data = data_of(report_html)["curves"]
    families = {(r["cond_op"], r["cond_modality"]) for r in data["robustness"]}
    assert families == {("missing", "b"), ("gaussian_noise", "c")}
    reference = [r for r in data["robustness"] if r["method"] == "clip"]
    assert all(r["effective_robustness"] == pytest.approx(0.0, abs=1e-12) for r in reference)
    assert section(report_html, "curves").count("<svg") == 2


def test_provenance_pins_the_input_files(report_html: str, results_dir: Path) -> None:
    digest = hashlib.sha256((results_dir / PREDICTIONS_FILE).read_bytes()).hexdigest()
    provenance = section(report_html, "provenance")
    assert digest in provenance and "0000000 (synthetic)" in provenance


@pytest.mark.parametrize(("keep", "says"), [
    (pl.col("method") == "clip", "Fewer than two methods: no pair."),
    (pl.col("condition") == "clean", "The study has no perturbed condition"),
])
def test_degenerate_studies_still_render(results_dir: Path, tmp_path: Path, keep: pl.Expr,
                                         says: str) -> None:
    folder = Path(shutil.copytree(results_dir, tmp_path / "study", ignore=shutil.ignore_patterns(
        "report.html")))
    pred = pl.read_parquet(folder / PREDICTIONS_FILE).filter(keep)
    pred.write_parquet(folder / PREDICTIONS_FILE)
    html = render_report(folder).read_text(encoding="utf-8")
    assert says in html
    assert re.findall(r'<section id="([^"]+)"', html) == SECTIONS


def test_long_failure_lists_spell_out_the_strongest(results_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   data_of) -> None:
    monkeypatch.setattr(failures, "MAX_CARDS", 1)
    html = render_report(results_dir, out=tmp_path / "r.html").read_text(encoding="utf-8")
    visible = section(html, "hidden-failures")
    rows = visible.split("<thead>")[1].split("</table>")[0].count("<tr>") - 1
    shown = data_of(html)["hidden-failures"]["hidden_failures"]
    findings = len({r["finding"] for r in shown if r["kind"] == "hidden_failure"})
    assert visible.count('<div class="failure">') == 1 and rows == len(shown) and findings > 1
    assert f"… and {findings - 1} more findings (strongest first)" in " ".join(visible.split())


def test_long_tables_show_the_top_rows_and_fold_the_rest(results_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         data_of) -> None:
    """No script: the rows past the first MAX_ROWS sit in a second tbody that CSS hides until
    the "show all" checkbox is ticked (checked in a real browser in test_browser.py)."""
    monkeypatch.setattr(failures, "MAX_ROWS", 2)
    html_text = render_report(results_dir, out=tmp_path / "r.html").read_text(encoding="utf-8")
    visible = section(html_text, "hidden-failures")
    shown = data_of(html_text)["hidden-failures"]["hidden_failures"]
    assert len(shown) > 2
    top, rest = visible.split('<tbody class="more">')[0], visible.split('<tbody class="more">')[1]
    assert top.split("<tbody>")[-1].count("<tr>") == 2
    assert rest.split("</tbody>")[0].count("<tr>") == len(shown) - 2
    assert f'<span class="show">show all {len(shown)} rows</span>' in visible
    assert '<input type="checkbox" class="more-toggle" id="more-hidden">' in visible
    css = html_text.split("<style>")[1].split("</style>")[0]
    assert ".more-toggle:not(:checked) ~ .scroll tbody.more { display: none; }" in css
