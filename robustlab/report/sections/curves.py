"""Section 3: robustness curves per operator family and modality, and their summaries."""

from __future__ import annotations

from typing import Any

import polars as pl

from robustlab.report.analysis import Analysis
from robustlab.report.charts import Series, curve_chart
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, level_name, ordered, records


def build(results: Results, analysis: Analysis) -> Section:
    curves = analysis.curves.filter(pl.col("cond_op") != "clean")
    families = (curves.select("cond_op", "cond_modality").unique()
                .sort("cond_op", "cond_modality").rows())
    panels = [_panel(results, analysis, op, modality, i)
              for i, (op, modality) in enumerate(families)]
    return Section(
        id="curves", title="Robustness curves",
        view={"panels": panels, "reference": analysis.settings.reference,
              "chance": analysis.chance.value, "chance_how": analysis.chance.how},
        data={"curves": records(analysis.curves), "robustness": records(analysis.robustness),
              "chance": {"value": analysis.chance.value, "how": analysis.chance.how}},
    )


def _panel(results: Results, analysis: Analysis, op: str, modality: str,
           index: int) -> dict[str, Any]:
    family = (pl.col("cond_op") == op) & (pl.col("cond_modality") == modality)
    curve = analysis.curves.filter(family)
    series = []
    for m, method in enumerate(results.methods):
        line = curve.filter(pl.col("method") == method).sort("cond_level")
        if line.height:
            series.append((m, Series(method, line["cond_level"].to_numpy(),
                                     line["accuracy"].to_numpy(), line["ci_low"].to_numpy(),
                                     line["ci_high"].to_numpy())))
    summary = ordered(analysis.robustness.filter(family), "method", results.methods)
    return {
        "op": op, "modality": modality,
        "chart": curve_chart(f"curve-{index}", series, x_label=level_name(results.study, op)),
        "summary": records(summary),
    }
