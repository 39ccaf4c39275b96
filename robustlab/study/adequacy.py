"""Budget adequacy in the study runner (rules: `robustlab.stats.adequacy`, docs/adequacy.md).

What the manifest records so the verdicts can be recomputed from the results files alone —
each variant's searched ranges with the method's declared bounds and the study-file field that
sets them, and the study's chance level — and the verdicts themselves once the finals are in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from robustlab.search_space import Choice, Distribution, FloatRange, IntRange
from robustlab.stats.adequacy import DEFAULT, Verdict
from robustlab.stats.adequacy_frames import (
    StudyFacts,
    assess,
    clean_facts,
    clean_resolution,
    significance_table,
    trial_columns,
)
from robustlab.study.resolve import Plan, Variant


def search_ranges(plan: Plan, variant: Variant) -> dict[str, dict[str, Any]]:
    """name -> the searched distribution (with the method's declared bounds and the study
    field that sets it), or the value the study fixed."""
    from robustlab.methods import METHODS

    declared = METHODS.get(variant.method).search_space()
    own = plan.spec.methods.get(variant.name, {}).get("search") or {}
    out: dict[str, dict[str, Any]] = {}
    for name, dist in variant.space.free.items():
        where = f"methods.{variant.name}.search.{name}" if name in own else f"search.{name}"
        out[name] = {**_distribution(dist), "field": where}
        bounds = declared.get(name)
        if not isinstance(dist, Choice) and isinstance(bounds, FloatRange | IntRange):
            out[name].update(declared_low=bounds.low, declared_high=bounds.high)
    out.update({k: {"kind": "fixed", "value": v} for k, v in variant.space.fixed.items()})
    return out


def _distribution(dist: Distribution) -> dict[str, Any]:
    if isinstance(dist, Choice):
        return {"kind": "choice", "values": list(dist.values)}
    kind = "float" if isinstance(dist, FloatRange) else "int"
    log = isinstance(dist, FloatRange) and dist.log
    return {"kind": kind, "low": dist.low, "high": dist.high, "log": log}


def chance_level(plan: Plan) -> dict[str, Any]:
    """The clean test accuracy of a random guess: 1/#candidates for retrieval, the commonest
    class's share of the test labels for the probe (the best constant classifier). With
    `task.match: label` a random candidate is a hit when it shares the query's class: over the
    whole test split as candidates that is Σ_c p_c² (p_c the test class shares), and with K
    sampled candidates 1/K + (1 − 1/K)·Σ_c p_c² (the true item plus K − 1 others)."""
    dataset, task = plan.dataset, plan.task
    test = dataset.split("test")
    if task.protocol == "probe":
        labels = np.asarray(test.label)
        share = float(np.bincount(labels - labels.min()).max() / labels.size)
        return {"level": share, "basis": "the commonest class's share of the test labels"}
    if task.candidates != "all":
        k = int(task.candidates)
        level, basis = 1.0 / k, f"1 of {k} candidates (task.candidates)"
    elif (bank := dataset.candidate_banks.get(task.target)) is not None:
        k = len(bank)
        level, basis = 1.0 / k, f"1 of {k} candidates (the dataset's fixed bank)"
    else:
        k = len(test)
        level, basis = 1.0 / k, f"1 of {k} candidates (every test item)"
    if getattr(task, "match", "item") != "label":
        return {"level": level, "basis": basis}
    labels = np.asarray(test.label)
    same = float(((np.bincount(labels - labels.min()) / labels.size) ** 2).sum())  # Σ p_c²
    if task.candidates == "all":
        return {"level": same, "basis": f"class-level retrieval among every test item: "
                                         f"Σ (class share)² = {same:.4g}"}
    return {"level": level + (1.0 - level) * same,
            "basis": f"class-level retrieval, {basis}: 1/K + (1 − 1/K)·Σ (class share)²"}


def assess_study(plan: Plan, methods: Mapping[str, Mapping[str, Any]], trials: pl.DataFrame,
                 predictions: pl.DataFrame) -> tuple[dict[str, Verdict], dict[str, Any]]:
    """Every variant's verdict, and the study-level summary for the manifest."""
    chance = chance_level(plan)
    accuracy, n = clean_facts(predictions)
    report = plan.spec.report
    table = significance_table(predictions, report.alpha, report.correction)
    facts = StudyFacts(budget_epochs=plan.spec.budget.epochs, chance=chance["level"],
                       seed_accuracy=accuracy, n_examples=n, resolution=clean_resolution(table))
    verdicts = assess(methods, trials, facts)
    summary = {"chance": chance, "thresholds": dataclasses.asdict(DEFAULT),
               "all_adequate": all(v.adequate for v in verdicts.values()),
               "flagged": {k: [f.rule for f in v.flagged] for k, v in verdicts.items()}}
    return verdicts, summary


def trials_with_adequacy(plan: Plan, trials: pl.DataFrame,
                         verdicts: Mapping[str, Verdict]) -> pl.DataFrame:
    """trials.parquet with its adequacy columns (results.TRIAL_ADEQUACY_COLUMNS)."""
    return trial_columns(trials, verdicts, plan.spec.budget.epochs)
