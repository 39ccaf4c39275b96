"""Budget adequacy in the report: the stored verdicts shown in the fairness section and as a
mark beside each method's name in the headline table; one line when every variant is
adequate; verdicts recomputed for a folder that has none; bad verdicts named."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from robustlab.report import ReportInputError, render_report
from robustlab.results import MANIFEST_FILE, TRIALS_FILE
from robustlab.stats.adequacy import (
    LABELS,
    RULES,
    Verdict,
    near_chance,
    search_boundary,
    tuning_not_converged,
    under_trained,
    unstable,
)
from robustlab.stats.adequacy_findings import Finding, Remedy

HOSTILE = "<script>alert(1)</script>"


def verdict(name: str, *, flagged: bool) -> Verdict:
    """A verdict with one flagged rule (under-trained), or every rule ok."""
    ok = [Finding(rule, "ok", f"{rule} fine") for rule in
          ("search_boundary", "tuning_not_converged", "unstable", "near_chance")]
    first = (Finding("under_trained", "flagged", f"2 of 3 curves still rising {HOSTILE}",
                     {"rising": 2},
                     (Remedy("budget.epochs", 24, "train longer: budget.epochs: 12 → 24"),))
             if flagged else Finding("under_trained", "ok", "stopped rising"))
    return Verdict(name, (first, *ok))


def with_verdicts(src: Path, dst: Path, flagged: set[str]) -> Path:
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST_FILE).read_text())
    for name, record in manifest["methods"].items():
        record["adequacy"] = verdict(name, flagged=name in flagged).to_json()
    manifest["adequacy"] = {"chance": {"level": 0.0025, "basis": "1 of 400 candidates"}}
    (dst / MANIFEST_FILE).write_text(json.dumps(manifest))
    return dst


def section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}">')
    return html[start:html.index("</section>", start)]


def name_cells(html: str) -> dict[str, tuple[str, str]]:
    """method -> (mark class, tooltip) of the headline table's name cells."""
    found = re.findall(r'<td class="text method">([^<]*)<a href="#adequacy" class="adequacy-mark '
                       r'(\w+)" title="([^"]*)">', section(html, "overview"))
    return {m: (cls, title) for m, cls, title in found}


def test_flagged_findings_show_evidence_remedy_and_a_mark(results_dir: Path,
                                                          tmp_path: Path, data_of) -> None:
    folder = with_verdicts(results_dir, tmp_path / "r", flagged={"symile"})
    html = render_report(folder).read_text(encoding="utf-8")
    fairness = section(html, "fairness")
    assert "<summary><strong>symile</strong>: under-trained</summary>" in fairness
    assert "2 of 3 curves still rising &lt;script&gt;" in fairness and HOSTILE not in html
    assert "→ train longer: budget.epochs: 12 → 24" in fairness
    assert "Adequate at this budget: clip, gated_symile." in fairness
    assert "Chance level: 0.0025, 1 of 400 candidates." in fairness
    assert "adequacy-all" not in fairness  # not every variant is adequate
    marks = name_cells(html)
    assert marks["symile"][0] == "flagged" and "under-trained" in marks["symile"][1]
    assert marks["clip"][0] == marks["gated_symile"][0] == "adequate"
    assert 'class="failure">At least one method' in section(html, "overview")
    stored = data_of(html)["fairness"]["adequacy"]
    assert stored["symile"]["flagged"] == ["under_trained"] and stored["clip"]["adequate"]


def test_all_adequate_is_said_in_one_line(results_dir: Path, tmp_path: Path) -> None:
    folder = with_verdicts(results_dir, tmp_path / "r", flagged=set())
    html = render_report(folder).read_text(encoding="utf-8")
    fairness = section(html, "fairness")
    assert '<p class="ok adequacy-all">All 3 variants adequate at this budget.</p>' in fairness
    assert 'class="failure adequacy"' not in fairness
    assert {cls for cls, _ in name_cells(html).values()} == {"adequate"}
    assert "At least one method" not in section(html, "overview")


def test_a_folder_without_verdicts_is_judged_by_the_report(report_html: str, results_dir: Path,
                                                           data_of) -> None:
    """The synthetic fixture has no stored verdicts: the report applies the rules to its
    trials (histories still climbing at 6 epochs) and says it did."""
    fairness = section(report_html, "fairness")
    assert ("Judged from the results files by the report (the manifest holds no verdict): "
            "clip, symile, gated_symile.") in fairness
    trials = pl.read_parquet(results_dir / TRIALS_FILE)
    stored = data_of(report_html)["fairness"]["adequacy"]
    for name, raw in stored.items():
        findings = {f["rule"]: f for f in raw["findings"]}
        # no chance recorded: the report's own level (1 / the largest rank) judges it
        assert findings["near_chance"]["status"] == "ok"
        assert findings["search_boundary"]["status"] == "ok"  # no ranges recorded
        best = (trials.filter(pl.col("method") == name, pl.col("status") != "failed")
                .sort("metric", descending=True).row(0, named=True))
        assert findings["under_trained"]["evidence"]["curves"][0]["run"] == (
            f"best trial {best['trial_id']}")
    assert set(name_cells(report_html)) == {"clip", "symile", "gated_symile"}


def test_a_malformed_verdict_names_the_manifest(results_dir: Path, tmp_path: Path) -> None:
    folder = with_verdicts(results_dir, tmp_path / "r", flagged=set())
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["methods"]["clip"]["adequacy"] = {"findings": [{"rule": "vibes"}]}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ReportInputError, match=r"manifest.json: methods.clip.adequacy"):
        render_report(folder)


def test_rules_the_report_shows_are_the_rules_that_exist() -> None:
    """The page's legend lists the rules by their labels; a new rule must get one."""
    assert set(LABELS) == set(RULES)
    for rule, finding in zip(RULES, (under_trained([], 1), search_boundary(None, []),
                                     tuning_not_converged([]), unstable({}, {}, None, None),
                                     near_chance(None, 0, None, 1)), strict=True):
        assert finding.rule == rule
