"""Section 5: fairness — whether each method's budget was adequate (docs/adequacy.md), the
tuning budget each method used, its best config, trial curves."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from robustlab.report.adequacy import Adequacy, adequacy
from robustlab.report.analysis import Analysis
from robustlab.report.charts import InlineSvg, trial_chart
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, json_safe
from robustlab.stats.adequacy import LABELS, RULES

STATUSES = ("completed", "stopped", "failed")


def build(results: Results, analysis: Analysis) -> Section:
    budget = results.study.get("budget", {})
    budget = budget if isinstance(budget, dict) else {}
    metric = str(budget.get("metric", "metric"))
    descending = budget.get("mode", "max") != "min"
    rows = [_row(results, method, descending) for method in results.methods]
    trial_counts = {r["trials"] for r in rows if r["trials"] is not None}
    notes = results.manifest.get("notes", [])  # e.g. the runner's note on ASHA scores
    judged = adequacy(results, analysis)
    return Section(
        id="fairness", title="Fairness: tuning budget",
        view={"rows": rows, "budget": budget, "metric": metric,
              "has_trials": results.trials is not None,
              "unequal": len(trial_counts) > 1, "chart": _chart(results, metric),
              "notes": [str(n) for n in notes] if isinstance(notes, list) else [],
              "adequacy": adequacy_view(judged)},
        data={"budget": json_safe(budget), "methods": json_safe(rows),
              "adequacy": {k: v.to_json() for k, v in judged.verdicts.items()}},
    )


def adequacy_view(judged: Adequacy) -> dict[str, Any]:
    """Per variant: its flagged findings (message + remedies), the rules not assessed."""
    variants = []
    for name, verdict in judged.verdicts.items():
        flagged = [{"label": LABELS[f.rule], "message": f.message,
                    "remedies": [r.text for r in f.remedies]} for f in verdict.flagged]
        skipped = [f"{LABELS[f.rule]} ({f.message})" for f in verdict.findings
                   if f.status == "not_assessed"]
        variants.append({"method": name, "flagged": flagged, "not_assessed": skipped})
    judged_ok = [v for v in variants if not v["flagged"]]
    return {"variants": variants, "all_adequate": bool(variants) and not any(
                v["flagged"] for v in variants),
            "adequate": [v["method"] for v in judged_ok], "rules": [LABELS[r] for r in RULES],
            "recomputed": list(judged.recomputed), "chance": judged.chance}


def _row(results: Results, method: str, descending: bool) -> dict[str, Any]:
    info = results.manifest.get("methods", {}).get(method, {})
    info = info if isinstance(info, dict) else {}
    row: dict[str, Any] = {
        "method": method, "registry": info.get("registry", ""),
        "param_count": info.get("param_count"), "trials": None, "statuses": "",
        "epochs": None, "wall_time_s": None, "best_metric": None, "resources": "",
        "best_config": _config_text(info.get("best_config")),
    }
    if results.trials is None:
        return row
    mine = results.trials.filter(pl.col("method") == method)
    counts = {s: int((mine["status"] == s).sum()) for s in STATUSES}
    scored = mine.filter((pl.col("status") != "failed") & pl.col("metric").is_not_nan())
    best = scored.sort("metric", descending=descending).head(1)
    row.update(
        trials=mine.height, statuses=", ".join(f"{n} {s}" for s, n in counts.items() if n),
        epochs=int(mine["epochs"].sum()), wall_time_s=float(mine["wall_time_s"].sum()),
        resources=_resources(mine),
        best_metric=float(best["metric"].item()) if best.height else None,
    )
    if not row["best_config"] and best.height:  # manifest silent: the best trial's config
        row["best_config"] = _config_text(best["config"].item())
    return row


def _resources(trials: pl.DataFrame) -> str:
    if trials.height == 0:
        return ""
    cpu, gpu = float(trials["cpu"].max()), float(trials["gpu"].max())  # type: ignore[arg-type]
    return f"{cpu:g} CPU, {gpu:g} GPU per trial"


def _config_text(config: Any) -> str:
    """A config as compact sorted JSON for people (a JSON string is parsed first): floats to
    3 significant digits, `2.66` rather than `2.659260036932778` (manifest.json keeps them
    whole)."""
    if config is None or config == "":
        return ""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError:
            return config
    return json.dumps(rounded(json_safe(config)), sort_keys=True)


def rounded(value: Any, digits: int = 3) -> Any:
    """`value` with every float rounded to `digits` significant digits (nested too)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def _chart(results: Results, metric: str) -> InlineSvg | None:
    trials = results.trials
    if trials is None or "metric_history" not in trials.columns:
        return None
    histories = []
    for m, method in enumerate(results.methods):
        runs = [h for h in trials.filter(pl.col("method") == method)["metric_history"].to_list()
                if h]
        histories.append((m, method, runs))
    if not any(runs for _, _, runs in histories):
        return None
    return trial_chart("trials", histories, metric)
