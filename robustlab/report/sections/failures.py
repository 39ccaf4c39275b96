"""Section 2: hidden failures — slices where the average winner loses, significantly."""

from __future__ import annotations

from typing import Any

from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, records

MAX_CARDS = 12  # failures spelled out in words; the table below lists every one


def build(results: Results, analysis: Analysis) -> Section:
    s = analysis.settings
    rows = [_row(r) for r in records(analysis.hidden)]
    return Section(
        id="hidden-failures", title="Hidden failures",
        view={"rows": rows, "slices": list(s.slices), "min_size": s.min_slice_size,
              "alpha": s.alpha, "correction": "holm" if s.correction == "none" else s.correction,
              "searched": analysis.hidden is not None, "max_cards": MAX_CARDS},
        data={"hidden_failures": records(analysis.hidden)},
    )


def _row(r: dict[str, Any]) -> dict[str, Any]:
    """The failure from the average winner's side: it wins overall, loses on the slice."""
    sign = 1.0 if (r["aggregate_delta"] or 0.0) > 0 else -1.0
    winner, loser = (r["method_a"], r["method_b"]) if sign > 0 else (r["method_b"], r["method_a"])
    bounds = sorted((sign * r["ci_low"], sign * r["ci_high"]))
    return {**r, "winner": winner, "loser": loser, "win_overall": sign * r["aggregate_delta"],
            "win_slice": sign * r["delta"], "win_ci": bounds}
