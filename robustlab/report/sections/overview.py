"""Section 1: the study in one paragraph, and the headline accuracy table."""

from __future__ import annotations

from typing import Any

import polars as pl

from robustlab.report.adequacy import adequacy, flag_labels
from robustlab.report.analysis import Analysis, seed_note
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Family, Section, families, records
from robustlab.stats.adequacy import Verdict


def build(results: Results, analysis: Analysis) -> Section:
    groups = families(results.predictions, results.study)
    conditions = [c for g in groups for c, _ in g.conditions]
    table = analysis.accuracy
    best = (table.group_by("condition").agg(pl.col("accuracy").max().alias("best")))
    table = table.join(best, on="condition").with_columns(
        is_best=pl.col("accuracy") >= pl.col("best"))
    cells = {(r["method"], r["condition"]): r for r in table.to_dicts()}
    verdicts = adequacy(results, analysis).verdicts
    marks = {m: adequacy_mark(verdicts.get(m)) for m in results.methods}
    rows = [{"method": m, "cells": [cells.get((m, c)) for c in conditions],
             "adequacy": marks[m]} for m in results.methods]
    return Section(
        id="overview", title="Study and headline",
        view={"paragraph": paragraph(results, analysis), "groups": _header(groups),
              "conditions": conditions, "rows": rows,
              "any_flagged": any(k and k["flagged"] for k in marks.values())},
        data={"accuracy": records(analysis.accuracy)},
    )


def _header(groups: list[Family]) -> list[dict[str, Any]]:
    """The headline's two header rows: one cell per family (operator · modality, spanning its
    levels), then one per level (the clean column spans both rows)."""
    return [{"label": g.label, "axis": g.axis, "clean": g.op == "clean",
             "levels": [{"condition": c, "level": level} for c, level in g.conditions]}
            for g in groups]


def adequacy_mark(verdict: Verdict | None) -> dict[str, Any] | None:
    """The mark beside a method's name: flagged (⚠) or adequate (✓), with a tooltip."""
    if verdict is None:
        return None
    labels = flag_labels(verdict)
    skipped = sum(f.status == "not_assessed" for f in verdict.findings)
    more = f"; {skipped} of {len(verdict.findings)} rules not assessed" if skipped else ""
    title = (f"budget not adequate: {', '.join(labels)}" if labels else
             "budget adequate: no rule flagged") + more + " (details: Budget adequacy)"
    return {"flagged": bool(labels), "title": title}


def paragraph(results: Results, analysis: Analysis) -> list[str]:
    """The study in a few sentences, from the manifest where it says, else from predictions."""
    pred, study = results.predictions, results.study
    name = study.get("name", results.folder.name)
    data = study.get("data", {}) if isinstance(study.get("data"), dict) else {}
    task = study.get("task", {}) if isinstance(study.get("task"), dict) else {}
    n_examples = pred.select(pl.col("example_id").n_unique()).item()
    seeds = sorted(pred["seed"].unique().to_list())
    s = analysis.settings
    return [
        f"Study “{name}”: {data.get('kind', 'unspecified')} data, "
        f"{n_examples} test examples, {task.get('protocol', 'unspecified')} protocol"
        + (f" (target {task['target']})." if "target" in task else ".")
        + _class_match(analysis, task),
        f"{len(results.methods)} methods ({', '.join(results.methods)}), "
        f"{_budget(study.get('budget'))}, each final config evaluated on seeds "
        f"{', '.join(map(str, seeds))}.",
        f"{pred['condition'].n_unique()} conditions: {_grid(pred)}.",
        "Accuracy intervals are 95 % bootstrap BCa intervals "
        f"({s.n_resamples:,} resamples) where a slice has at least 10 successes and 10 "
        "failures, exact Clopper–Pearson intervals where it has fewer, and, for a method with "
        "several seeds, intervals over seeds and examples together; pairwise differences get "
        "the interval of the test that decides them, so a difference is significant exactly "
        f"when its interval excludes 0 (docs/statistics.md); α = {s.alpha:g}. The "
        f"confirmatory tests are the {analysis.verdicts.family_size} declared contrasts of the "
        "verdict (" + ("uncorrected, study setting" if s.correction == "none" else
                       "family-wise error by Bonferroni") + "); the pairwise and per-slice "
        "tables are exploratory (Benjamini–Hochberg); hidden failures are corrected by "
        f"{_correction_name('holm' if s.correction == 'none' else s.correction)}.",
        *([note] if (note := seed_note(analysis)) else []),
    ]


def _class_match(analysis: Analysis, task: dict[str, Any]) -> str:
    """The chance line of class-level retrieval (`task.match: label`), else nothing."""
    if task.get("match") != "label":
        return ""
    value = analysis.chance.value
    chance = (f"chance {100 * value:.1f} %: {analysis.chance.how}" if value is not None
              else "chance not derivable")
    return (" Class-level retrieval: a hit when the retrieved item's class equals the "
            f"query's ({chance}).")


def _budget(budget: Any) -> str:
    if not isinstance(budget, dict) or "trials" not in budget:
        return "tuning budget not recorded in the manifest"
    return (f"each tuned on the same budget: {budget['trials']} trials × "
            f"{budget.get('epochs', '?')} epochs, {budget.get('scheduler', 'no')} scheduler, "
            f"selecting on {budget.get('metric', '?')}")


def _grid(pred: pl.DataFrame) -> str:
    """e.g. "clean; missing on b at 0.5, 1; gaussian_noise on c at 1, 2, 3"."""
    grid = (pred.filter(pl.col("cond_op") != "clean")
            .group_by("cond_op", "cond_modality")
            .agg(pl.col("cond_level").unique().sort())
            .sort("cond_op", "cond_modality"))
    parts = ["clean"] if (pred["cond_op"] == "clean").any() else []
    parts += [f"{r['cond_op']} on {r['cond_modality']} at "
              + ", ".join(f"{v:g}" for v in r["cond_level"]) for r in grid.to_dicts()]
    return "; ".join(parts)


def _correction_name(correction: str) -> str:
    return {"holm": "Holm", "bh": "Benjamini–Hochberg"}.get(correction, correction)
