"""Section 5: accuracy by slice — for every slice column, per condition, a method × slice
value table of accuracies with their intervals (the headline's procedure, per slice)."""

from __future__ import annotations

from typing import Any

import polars as pl

from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, condition_order, records


def build(results: Results, analysis: Analysis) -> Section:
    table, order = analysis.slice_accuracy, analysis.value_order or {}
    columns = []
    if table is not None:
        conditions = condition_order(results.predictions)
        for spec in analysis.settings.slices:
            mine = table.filter(pl.col("slice_column") == spec.column)
            blocks = [_block(mine.filter(pl.col("condition") == c), c,
                             order.get(spec.column, []), results.methods,
                             analysis.settings.min_slice_size) for c in conditions]
            shown = [b for b in blocks if len(b["slice_values"]) > 1]
            columns.append({"column": spec.column, "title": spec.describe(), "blocks": shown,
                            "single": len(blocks) - len(shown)})
    return Section(
        id="slice-accuracy", title="Accuracy by slice",
        view={"columns": columns, "min_size": analysis.settings.min_slice_size},
        data={"slice_accuracy": records(table)},
    )


def _block(table: pl.DataFrame, condition: str, order: list[str], methods: list[str],
           min_size: int) -> dict[str, Any]:
    """One condition's method × slice value table (the values the condition holds)."""
    present = set(table["slice_value"])
    values = [v for v in order if v in present] + sorted(present - set(order))
    cells = {(r["method"], r["slice_value"]): r for r in table.iter_rows(named=True)}
    sizes = {r["slice_value"]: r["n"] for r in table.iter_rows(named=True)}
    rows = [{"method": m, "cells": [cells.get((m, v)) for v in values]}
            for m in methods if any((m, v) in cells for v in values)]
    return {"condition": condition, "rows": rows, "slice_values": values,
            "sizes": [sizes.get(v) for v in values], "spread": _spread(table, min_size)}


def _spread(table: pl.DataFrame, min_size: int) -> dict[str, Any] | None:
    """The method whose accuracy differs most between slices of at least `min_size`
    examples: where the average hides the most."""
    big = table.filter(pl.col("n") >= min_size)
    if big["slice_value"].n_unique() < 2:
        return None
    widest = None
    for (method,), part in big.group_by("method", maintain_order=True):
        ranked = part.sort("accuracy", maintain_order=True)
        low, high = ranked.row(0, named=True), ranked.row(-1, named=True)
        gap = high["accuracy"] - low["accuracy"]
        if widest is None or gap > widest["gap"]:
            widest = {"method": method, "gap": gap, "low": low["accuracy"],
                      "low_value": low["slice_value"], "high": high["accuracy"],
                      "high_value": high["slice_value"]}
    return widest
