"""Section 6: every pair per condition and per slice — an exploratory screen (BH); the
confirmatory answers are the declared contrasts of the verdict."""

from __future__ import annotations

from typing import Any

import polars as pl

from robustlab.report.analysis import Analysis, seed_note
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, condition_order, records

# Marks on the corrected p-value of a significant comparison (significant = p_adj < alpha).
MARKS = ((0.001, "***"), (0.01, "**"))


def mark(row: dict[str, Any], alpha: float) -> str:
    """"***" / "**" / "*" for a significant row (by its corrected p), "" otherwise."""
    p = row.get("p_adjusted")
    if not row.get("significant") or p is None:
        return ""
    return next((m for cut, m in MARKS if p < cut and cut < alpha), "*")


def build(results: Results, analysis: Analysis) -> Section:
    alpha = analysis.settings.alpha
    blocks = []
    for condition in condition_order(results.predictions):
        mine = pl.col("condition") == condition
        overall = records(analysis.pairwise.filter(mine))
        slices = [] if analysis.slice_pairwise is None else records(
            analysis.slice_pairwise.filter(mine).sort("slice_column", "slice_value",
                                                      "method_a", "method_b"))
        for row in (*overall, *slices):
            row["mark"] = mark(row, alpha)
        blocks.append({"condition": condition, "overall": overall, "slices": slices,
                       "n_significant": sum(bool(r["significant"]) for r in overall),
                       "n_slice_significant": sum(bool(r["mark"]) for r in slices)})
    return Section(
        id="pairwise", title="Pairwise comparisons (exploratory)",
        view={"blocks": blocks, "alpha": alpha, "correction": "bh",
              "seed_note": seed_note(analysis), "level_pct": f"{100 * (1 - alpha):g}"},
        data={"pairwise": records(analysis.pairwise),
              "slice_pairwise": records(analysis.slice_pairwise)},
    )
