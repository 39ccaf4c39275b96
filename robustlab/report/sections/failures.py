"""Section 2: hidden failures — a significant average difference that a slice significantly
reverses — grouped into findings, and, separately, slices worth a look."""

from __future__ import annotations

from typing import Any

import polars as pl

from robustlab.report.analysis import Analysis, seed_note
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, records

MAX_CARDS = 6  # findings spelled out in words; the table below lists every row
MAX_ROWS = 10  # table rows shown before "show all"


def build(results: Results, analysis: Analysis) -> Section:
    s = analysis.settings
    frame = analysis.hidden
    hidden = look = None
    if frame is not None:
        hidden = frame.filter(pl.col("kind") == "hidden_failure")
        look = frame.filter(pl.col("kind") == "worth_a_look")
    rows = records(hidden)
    return Section(
        id="hidden-failures", title="Hidden failures",
        view={"findings": _findings(rows), "rows": rows, "look": records(look),
              "slices": [spec.describe() for spec in s.slices],
              "min_size": s.min_slice_size, "alpha": s.alpha,
              "correction": "holm" if s.correction == "none" else s.correction,
              "searched": frame is not None, "max_cards": MAX_CARDS, "max_rows": MAX_ROWS,
              "seed_note": seed_note(analysis)},
        data={"hidden_failures": rows, "worth_a_look": records(look)},
    )


def _findings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One card per finding (rows sharing condition, slice and focal method), in row order."""
    cards: dict[int, dict[str, Any]] = {}
    for r in rows:
        card = cards.setdefault(r["finding"], {
            "method": r["focal_method"], "condition": r["condition"],
            "slice_column": r["slice_column"], "slice_value": r["slice_value"],
            "aliases": r["aliases"], "n": r["n"], "opponents": []})
        card["opponents"].append(_from_focal(r))
    return list(cards.values())


def _from_focal(r: dict[str, Any]) -> dict[str, Any]:
    """The row seen from the focal method: its overall and slice Δ against the opponent."""
    sign = 1.0 if r["method_a"] == r["focal_method"] else -1.0
    return {"name": r["opponent"], "overall": sign * r["aggregate_delta"],
            "slice": sign * r["delta"], "ci": sorted((sign * r["ci_low"], sign * r["ci_high"])),
            "p_adjusted": r["p_adjusted"], "aggregate_p_adjusted": r["aggregate_p_adjusted"]}
