"""Section 1: the verdict — per condition family, which methods are best or statistically tied
with the best — read in a minute, before any table.

The rule is the pairwise table's decision, not the point estimates: in each condition the
method with the highest accuracy is the best, and a method is tied with it when their
difference in the confirmatory pairwise table (`analysis.pairwise`: every pair of every
condition one family, the study's correction) is not significant. A method is then "best or
tied" at a level, and the family's row lists who is so at every level and who only at some.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from robustlab.report.adequacy import adequacy
from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Family, Section, families, json_safe
from robustlab.report.sections.overview import adequacy_mark

CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no"}


def build(results: Results, analysis: Analysis) -> Section:
    marks = {m: adequacy_mark(v) for m, v in adequacy(results, analysis).verdicts.items()}
    rows = [_family_row(f, results, analysis) for f in families(results.predictions,
                                                                 results.study)]
    return Section(
        id="verdict", title="Verdict",
        view={"rows": rows, "marks": marks, "rule": rule(analysis), "facts": _facts(results),
              "flagged": [m for m in results.methods if (marks.get(m) or {}).get("flagged")],
              "hidden": _hidden_count(analysis)},
        data={"families": json_safe(rows)},
    )


def winners(analysis: Analysis, condition: str, order: list[str]) -> tuple[str | None,
                                                                           list[str]]:
    """(the condition's best method, the methods tied with it), in the report's method
    order; (None, []) when the condition has no accuracy row."""
    acc = analysis.accuracy.filter(pl.col("condition") == condition)
    if acc.height == 0:
        return None, []
    top = acc["accuracy"].max()
    best = next(m for m in order if m in set(acc.filter(pl.col("accuracy") == top)["method"]))
    pairs = analysis.pairwise.filter(
        (pl.col("condition") == condition)
        & ((pl.col("method_a") == best) | (pl.col("method_b") == best)))
    tied = {r["method_b"] if r["method_a"] == best else r["method_a"]
            for r in pairs.iter_rows(named=True) if not r["significant"]}
    return best, [m for m in order if m in tied]


def _family_row(family: Family, results: Results, analysis: Analysis) -> dict[str, Any]:
    order = results.methods
    levels: list[dict[str, Any]] = []
    hits: dict[str, list[str]] = {m: [] for m in order}
    for condition, level in family.conditions:
        best, tied = winners(analysis, condition, order)
        if best is None:
            continue
        cell = analysis.accuracy.filter((pl.col("condition") == condition)
                                        & (pl.col("method") == best)).row(0, named=True)
        chance = analysis.chance.value
        levels.append({"level": level, "condition": condition, "best": best,
                       "accuracy": cell["accuracy"], "tied": tied,
                       "at_chance": chance is not None and cell["ci_low"] <= chance})
        for m in (best, *tied):
            hits[m].append(level)
    n = len(levels)
    everywhere = [m for m in order if n and len(hits[m]) == n]
    some = [{"method": m, "levels": ", ".join(hits[m]) if family.axis else ""}
            for m in order if 0 < len(hits[m]) < n]
    return {"family": family.label, "axis": family.axis, "levels": levels,
            "everywhere": everywhere, "some": some,
            "behind": len(order) - len(everywhere) - len(some)}


def rule(analysis: Analysis) -> str:
    """The significance rule, in one sentence."""
    s = analysis.settings
    name = CORRECTION_NAMES.get(s.correction, s.correction)
    corrected = ("uncorrected (study setting)" if s.correction == "none" else
                 f"{name}-corrected over every pair of every condition")
    seeds = max(analysis.seeds.values(), default=1)
    test = ("Tango's score test (one seed: the trained models are taken as fixed)"
            if seeds <= 1 else
            "the test of equal mean accuracy over seeds and examples")
    return (f"Best = highest accuracy in the condition. Tied = the pairwise difference with the "
            f"best is not significant: {test}, {corrected}, α = {s.alpha:g} (the decision of "
            "the pairwise tables, not of the point estimates).")


def _facts(results: Results) -> list[str]:
    pred = results.predictions
    n = pred.select(pl.col("example_id").n_unique()).item()
    seeds = sorted(pred["seed"].unique().to_list())
    facts = [f"{len(results.methods)} methods", f"{pred['condition'].n_unique()} conditions",
             f"{n:,} test examples", f"seeds {', '.join(map(str, seeds))}"]
    if results.unscored:
        facts.append(f"{results.unscored:,} queries not scored (their target is missing in "
                     "the data)")
    return facts


def _hidden_count(analysis: Analysis) -> Mapping[str, Any]:
    frame = analysis.hidden
    if frame is None:
        return {"searched": False, "findings": 0, "methods": []}
    hidden = frame.filter(pl.col("kind") == "hidden_failure")
    return {"searched": True, "findings": hidden["finding"].n_unique(),
            "methods": hidden["focal_method"].unique(maintain_order=True).to_list()}
