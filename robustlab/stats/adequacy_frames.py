"""Budget adequacy from the results files (DESIGN §9): trials.parquet, the manifest's record
of each variant and predictions.parquet in, one `adequacy.Verdict` per variant out.

The study runner calls `assess` once every final run is in and stores the verdicts in
manifest.json (`methods.<variant>.adequacy`) and trials.parquet (`trial_columns`); the
report reads them back, and recomputes them with the same function for a results folder
written before they existed. What each variant's manifest record must hold:

    best_config     the chosen config (None when every trial failed)
    best_metric     its tuning score (best-so-far validation metric)
    finals          seed (str) -> the final run's info: val_metric, epochs, best_epoch,
                    val_history (per-epoch validation scores), or error
    search_ranges   name -> {"kind": "float" | "int", low, high, log, declared_low,
                    declared_high, field} for each searched numeric range ("choice" and
                    "fixed" entries are recorded too, and skipped by the boundary rule)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from robustlab.stats.adequacy import (
    DEFAULT,
    Curve,
    SearchRange,
    Thresholds,
    Verdict,
    check_curve,
    near_chance,
    search_boundary,
    tuning_not_converged,
    under_trained,
    unstable,
)
from robustlab.stats.frames import pairwise_table

CLEAN = "clean"  # the clean condition's id (robustlab.study.grid.CLEAN)


@dataclass(frozen=True)
class StudyFacts:
    """What every variant is judged against: the budget and the clean-test facts."""

    budget_epochs: int
    chance: float | None  # None: unknown (near chance is then not assessed)
    seed_accuracy: Mapping[str, Mapping[int, float]]  # variant -> seed -> clean accuracy
    n_examples: Mapping[str, int]  # variant -> clean test examples per seed
    resolution: Mapping[str, float]  # variant -> smallest significant clean |Δ| (if any)


def clean_facts(predictions: pl.DataFrame) -> tuple[dict[str, dict[int, float]], dict[str, int]]:
    """Per variant: clean test accuracy by seed, and the number of clean examples per seed."""
    clean = predictions.filter(pl.col("condition") == CLEAN)
    by_seed = clean.group_by("method", "seed").agg(pl.col("correct").mean(), pl.len())
    acc: dict[str, dict[int, float]] = {}
    n: dict[str, int] = {}
    for row in by_seed.sort("method", "seed").iter_rows(named=True):
        acc.setdefault(row["method"], {})[int(row["seed"])] = float(row["correct"])
        n[row["method"]] = int(row["len"])
    return acc, n


def significance_table(predictions: pl.DataFrame, alpha: float, correction: str) -> pl.DataFrame:
    """The report's confirmatory pairwise table (every condition one family, the study's α and
    correction; `none` = raw p): the same procedure and family as the report's table."""
    table = pairwise_table(predictions, ["condition"],
                           correction="holm" if correction == "none" else correction,  # type: ignore[arg-type]
                           alpha=alpha)
    if correction == "none":
        table = table.with_columns(significant=pl.col("p_value") < alpha)
    return table


def clean_resolution(pairwise: pl.DataFrame) -> dict[str, float]:
    """Per method: the smallest |Δ| on the clean condition among the differences with another
    method that `pairwise` marks significant (methods with none are absent)."""
    sig = pairwise.filter((pl.col("condition") == CLEAN) & pl.col("significant"))
    out: dict[str, float] = {}
    for row in sig.iter_rows(named=True):
        for m in (row["method_a"], row["method_b"]):
            out[m] = min(out.get(m, math.inf), abs(float(row["delta"])))
    return out


def assess(methods: Mapping[str, Mapping[str, Any]], trials: pl.DataFrame | None,
           facts: StudyFacts, th: Thresholds = DEFAULT) -> dict[str, Verdict]:
    """One verdict per variant of `methods` (the manifest's `methods` object)."""
    return {name: assess_variant(name, record, trials, facts, th)
            for name, record in methods.items()}


def assess_variant(name: str, record: Mapping[str, Any], trials: pl.DataFrame | None,
                   facts: StudyFacts, th: Thresholds = DEFAULT) -> Verdict:
    """The verdict of variant `name` from its manifest record, the study's trials (all
    variants'; None when not recorded) and the study facts."""
    trials = _trials_of(trials, name)
    finals = _finals(record)
    ok_finals = {s: f for s, f in finals.items() if "error" not in f}
    curves = [*_best_trial_curve(trials, facts.budget_epochs),
              *(_final_curve(s, f, facts.budget_epochs) for s, f in ok_finals.items())]
    seed_acc = facts.seed_accuracy.get(name, {})
    accuracy = float(np.mean(list(seed_acc.values()))) if seed_acc else None
    final_val = {s: float(f["val_metric"]) for s, f in ok_finals.items()
                 if _number(f.get("val_metric"))}
    best = record.get("best_metric")
    tuning_best = float(best) if isinstance(best, int | float) and _number(best) else None
    return Verdict(name, (
        under_trained(curves, facts.budget_epochs, th),
        search_boundary(record.get("best_config"), search_ranges(record), th, tuning_best),
        tuning_not_converged(completion_scores(trials), th),
        unstable(seed_acc, final_val, tuning_best, facts.resolution.get(name), th),
        near_chance(accuracy, facts.n_examples.get(name, 0), facts.chance,
                    facts.budget_epochs, th),
    ))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _trials_of(trials: pl.DataFrame | None, name: str) -> pl.DataFrame:
    if trials is None:
        return pl.DataFrame({"method": [], "trial_id": [], "status": [], "metric": []},
                            schema={"method": pl.String, "trial_id": pl.String,
                                    "status": pl.String, "metric": pl.Float64})
    return trials.filter(pl.col("method") == name)


def _finals(record: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    finals = record.get("finals") or {}
    return {int(s): f for s, f in finals.items() if isinstance(f, Mapping) and f}


def completion_scores(trials: pl.DataFrame) -> list[float | None]:
    """The trials' scores in completion order (`finished_at`, ties and gaps by trial id; by
    trial id alone for a folder written before `finished_at` existed); None = failed."""
    keys = ["finished_at", "trial_id"] if "finished_at" in trials.columns else ["trial_id"]
    ordered = trials.sort(keys, nulls_last=True)
    return [None if status == "failed" or m is None or not math.isfinite(m) else float(m)
            for status, m in zip(ordered["status"], ordered["metric"], strict=True)]


def best_trial_id(trials: pl.DataFrame) -> str | None:
    """The tuner's choice: highest metric among non-failed trials, ties to the earliest id."""
    ok = trials.filter((pl.col("status") != "failed") & pl.col("metric").is_not_null()
                       & pl.col("metric").is_not_nan())
    if ok.height == 0:
        return None
    return str(ok.sort(["metric", "trial_id"], descending=[True, False])["trial_id"][0])


def _best_trial_curve(trials: pl.DataFrame, budget_epochs: int) -> list[Curve]:
    best = best_trial_id(trials)
    if best is None or "metric_history" not in trials.columns:
        return []
    row = trials.filter(pl.col("trial_id") == best).row(0, named=True)
    return [trial_curve(row, budget_epochs, f"best trial {best}")]


def trial_curve(row: Mapping[str, Any], budget_epochs: int, name: str) -> Curve:
    """A trial's curve; complete only when it ran the whole budget (not ASHA-stopped, not
    stopped early, not failed)."""
    history = tuple(row.get("metric_history") or ())
    complete = row["status"] == "completed" and len(history) >= budget_epochs
    return Curve(name, history, complete)


def _final_curve(seed: int, info: Mapping[str, Any], budget_epochs: int) -> Curve:
    history = tuple(float(v) for v in info.get("val_history") or ())
    complete = int(info.get("epochs") or 0) >= budget_epochs and len(history) >= budget_epochs
    return Curve(f"final seed {seed}", history, complete)


def search_ranges(record: Mapping[str, Any]) -> list[SearchRange]:
    """The numeric searched ranges of a variant's manifest record (choices, fixed skipped)."""
    out = []
    for name, r in (record.get("search_ranges") or {}).items():
        if not isinstance(r, Mapping) or r.get("kind") not in ("float", "int"):
            continue
        out.append(SearchRange(
            name=name, kind=r["kind"], low=float(r["low"]), high=float(r["high"]),
            log=bool(r.get("log", False)),
            declared_low=float(r.get("declared_low", r["low"])),
            declared_high=float(r.get("declared_high", r["high"])),
            field=str(r.get("field", f"search.{name}"))))
    return out


def trial_columns(trials: pl.DataFrame, verdicts: Mapping[str, Verdict], budget_epochs: int,
                  th: Thresholds = DEFAULT) -> pl.DataFrame:
    """trials.parquet's adequacy columns: `still_rising` (this trial's curve passes the
    under-trained test; null when it cannot be judged: stopped, failed, too short) and
    `adequacy` (the flagged rules of the trial's variant; [] when adequate)."""
    rising = []
    for row in trials.iter_rows(named=True):
        check = check_curve(trial_curve(row, budget_epochs, str(row["trial_id"])), th)
        rising.append(None if check is None else check.rising)
    flagged = [[f.rule for f in verdicts[m].flagged] if m in verdicts else None
               for m in trials["method"]]
    return trials.with_columns(
        still_rising=pl.Series(rising, dtype=pl.Boolean),
        adequacy=pl.Series(flagged, dtype=pl.List(pl.String)))
