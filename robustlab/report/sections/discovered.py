"""Section: discovered slices — where a variant fails, or a significant comparison reverses,
found by searching the metadata and embedding clusters instead of a declared list, each finding
with the guarantee it carries (`robustlab.stats.discovery`, docs/discovery.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, json_safe, records

MAX_CARDS = 8  # findings spelled out in words; the table lists every candidate tested
MAX_ROWS = 10
MAX_IDS = 200  # example ids printed per finding (all of them are in the embedded data)
CORRECTIONS = {"holm": "Holm", "bh": "Benjamini–Hochberg"}


def build(results: Results, analysis: Analysis) -> Section:
    found = analysis.discovered
    if found is None:
        return Section(id="discovered-slices", title="Discovered slices",
                       view={"enabled": False}, data={"enabled": False})
    searched = found.searched
    rows = records(found.rows.drop("example_ids"))
    cards = _cards(records(found.rows.filter(found.rows["confirmed"])))
    view = {"enabled": True, "cards": cards[:MAX_CARDS], "more": max(len(cards) - MAX_CARDS, 0),
            "rows": rows, "searched": _searched(searched), "max_rows": MAX_ROWS,
            "holdout": searched.guarantee == "holdout",
            "correction": CORRECTIONS.get(searched.correction, searched.correction),
            "notes": searched.notes, "alpha": searched.alpha}
    data = {"enabled": True, "searched": json_safe(dataclasses.asdict(searched)),
            "findings": [{k: v for k, v in c.items() if k != "shown_ids"} for c in cards],
            "tested": rows}
    return Section(id="discovered-slices", title="Discovered slices", view=view, data=data)


def _cards(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One card per finding: its slice, condition, examples, and one entry per variant
    (failure) or opponent (reversal), in row order (strongest first)."""
    cards: dict[int, dict[str, Any]] = {}
    for r in rows:
        ids = r["example_ids"]
        card = cards.setdefault(r["finding"], {
            "id": r["finding"], "kind": r["kind"], "condition": r["condition"],
            "slice": r["slice"], "n": r["n"], "n_tested": r["n_tested"],
            "method": r["method"], "entries": [], "example_ids": ids,
            "shown_ids": ", ".join(str(i) for i in ids[:MAX_IDS]),
            "hidden_ids": max(len(ids) - MAX_IDS, 0)})
        card["entries"].append({k: r[k] for k in (
            "method", "opponent", "acc_slice", "acc_other", "overall_delta", "estimate",
            "ci_low", "ci_high", "ci_method", "p_adjusted", "n_tested")})
    return list(cards.values())


def _searched(s: Any) -> dict[str, Any]:
    """How much was searched, for the sentence under the findings."""
    metadata = [f"{name} ({levels})" for name, levels, kind in s.columns if kind == "metadata"]
    clusters = [f"{name} ({levels})" for name, levels, kind in s.columns if kind == "embedding"]
    return {"n": s.n_examples, "n_discovery": s.n_discovery, "n_confirmation": s.n_confirmation,
            "metadata": metadata, "clusters": clusters, "depth": s.depth,
            "min_count": s.min_count,
            "evaluated": {k: sum(v) for k, v in s.evaluated.items()},
            "targets": s.targets, "family": s.family}
