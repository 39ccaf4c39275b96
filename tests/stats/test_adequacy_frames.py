"""Budget adequacy from results-file shaped inputs: trials frames, manifest records,
predictions (robustlab.stats.adequacy_frames)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from robustlab.results import TRIAL_OPTIONAL_COLUMNS
from robustlab.stats.adequacy_frames import (
    StudyFacts,
    assess,
    assess_variant,
    best_trial_id,
    clean_facts,
    clean_resolution,
    completion_scores,
    search_ranges,
    significance_table,
    trial_columns,
)

EPOCHS = 8
CLIMB = [0.3 + 0.05 * e for e in range(EPOCHS)]  # still rising at the end
FLAT = [0.3, 0.6, 0.7, 0.72, 0.71, 0.72, 0.715, 0.72]  # plateaued


def trials_frame(rows: list[dict]) -> pl.DataFrame:
    base = {"method": "clip", "config": "{}", "epochs": EPOCHS, "wall_time_s": 1.0,
            "cpu": 1.0, "gpu": 0.0, "error": None}
    return pl.DataFrame([{**base, **r} for r in rows],
                        schema_overrides={"error": pl.String, "finished_at": pl.Float64,
                                          "metric_history": pl.List(pl.Float64)})


def trial(i: int, metric: float | None, history: list[float], status: str = "completed",
          finished_at: float | None = None, method: str = "clip") -> dict:
    return {"method": method, "trial_id": f"{method}-{i:04d}", "status": status,
            "metric": metric, "metric_history": history,
            "epochs": len(history), "finished_at": finished_at}


def facts(**kw: object) -> StudyFacts:
    base: dict = {"budget_epochs": EPOCHS, "chance": 0.01, "seed_accuracy": {},
                  "n_examples": {}, "resolution": {}}
    return StudyFacts(**{**base, **kw})


RECORD = {
    "best_config": {"lr": 2.9e-3, "negatives": "n", "weight_decay": 1e-4},
    "best_metric": 0.8,
    "search_ranges": {
        "lr": {"kind": "float", "low": 1e-4, "high": 3e-3, "log": True,
               "declared_low": 1e-4, "declared_high": 3e-3, "field": "search.lr"},
        "weight_decay": {"kind": "float", "low": 1e-6, "high": 1e-2, "log": True,
                         "field": "search.weight_decay"},
        "negatives": {"kind": "choice", "values": ["n", "n_squared"], "field": "search.n"},
        "temperature": {"kind": "fixed", "value": 0.1},
    },
    "finals": {
        "0": {"val_metric": 0.78, "epochs": EPOCHS, "best_epoch": EPOCHS, "val_history": CLIMB},
        "1": {"val_metric": 0.79, "epochs": EPOCHS, "best_epoch": EPOCHS, "val_history": CLIMB},
        "2": {"error": "DivergedError: loss became nan"},
    },
}


def test_search_ranges_keep_numeric_ranges_only() -> None:
    ranges = search_ranges(RECORD)
    assert [r.name for r in ranges] == ["lr", "weight_decay"]
    lr = ranges[0]
    assert lr.log and lr.declared_high == 3e-3 and lr.field == "search.lr"
    assert ranges[1].declared_low == 1e-6  # no declared bounds recorded: the searched ones
    assert search_ranges({}) == []


def test_completion_order_follows_finished_at_with_failures_as_none() -> None:
    frame = trials_frame([trial(1, 0.9, FLAT, finished_at=30.0),
                          trial(2, 0.5, FLAT, finished_at=10.0),
                          trial(3, None, [], status="failed", finished_at=20.0),
                          trial(4, 0.6, FLAT, finished_at=None)])
    assert completion_scores(frame) == [0.5, None, 0.9, 0.6]
    assert completion_scores(frame.drop("finished_at")) == [0.9, 0.5, None, 0.6]


def test_best_trial_is_the_tuners_choice() -> None:
    frame = trials_frame([trial(1, 0.7, FLAT), trial(2, 0.8, FLAT), trial(3, 0.8, FLAT),
                          trial(4, 0.95, [0.95], status="failed")])
    assert best_trial_id(frame) == "clip-0002"
    assert best_trial_id(frame.filter(pl.col("status") == "failed")) is None


def test_a_variant_from_its_records() -> None:
    frame = trials_frame([trial(1, 0.5, FLAT, finished_at=1.0),
                          trial(2, 0.8, CLIMB, finished_at=2.0),
                          trial(3, 0.4, CLIMB[:2], status="stopped", finished_at=0.5)])
    verdict = assess_variant("clip", RECORD, frame, facts(
        seed_accuracy={"clip": {0: 0.75, 1: 0.76}}, n_examples={"clip": 400}))
    found = {f.rule: f for f in verdict.findings}
    assert found["under_trained"].status == "flagged"
    assert [c["run"] for c in found["under_trained"].evidence["curves"]] == [
        "best trial clip-0002", "final seed 0", "final seed 1"]  # the diverged final skipped
    assert found["search_boundary"].status == "flagged"
    assert [p["name"] for p in found["search_boundary"].evidence["params"]] == [
        "lr", "weight_decay"]  # the choice and the fixed value are not judged
    assert found["search_boundary"].remedies[0].value is None  # lr at its declared bound
    # in completion order 0.4 (stopped by ASHA), 0.5, then 0.8 in the last third
    assert found["tuning_not_converged"].status == "flagged"
    assert found["unstable"].status == "ok"
    assert found["near_chance"].status == "ok"
    assert verdict.flagged == (found["under_trained"], found["search_boundary"],
                               found["tuning_not_converged"])


def test_a_folder_without_the_new_records_is_judged_on_what_it_has() -> None:
    frame = trials_frame([trial(1, 0.8, FLAT)]).drop("finished_at")
    old = {"best_config": {"lr": 1e-3}, "best_metric": 0.8,
           "finals": {"0": {"val_metric": 0.78, "epochs": EPOCHS, "best_epoch": 6}}}
    verdict = assess_variant("clip", old, frame, facts(chance=None))
    status = {f.rule: f.status for f in verdict.findings}
    assert status == {"under_trained": "ok",  # the best trial's curve alone
                      "search_boundary": "ok",  # no numeric range recorded
                      "tuning_not_converged": "flagged",  # one trial
                      "unstable": "ok",  # val 0.78 vs best 0.8
                      "near_chance": "not_assessed"}
    nothing = assess_variant("gone", {}, None, facts())
    assert {f.status for f in nothing.findings} == {"not_assessed"}


def test_trial_columns_mark_each_trial_and_its_variants_verdict() -> None:
    frame = trials_frame([
        trial(1, 0.8, CLIMB), trial(2, 0.7, FLAT), trial(3, 0.4, CLIMB[:3], status="stopped"),
        trial(4, None, [], status="failed"), trial(1, 0.8, FLAT, method="symile")])
    verdicts = assess({"clip": RECORD, "symile": {"best_config": {}, "best_metric": 0.8}},
                      frame, facts())
    out = trial_columns(frame, verdicts, EPOCHS)
    assert out["still_rising"].to_list() == [True, False, None, None, False]
    assert out["adequacy"].to_list()[0] == [f.rule for f in verdicts["clip"].flagged]
    assert out["adequacy"].to_list()[4] == [f.rule for f in verdicts["symile"].flagged]
    for name, dtype in TRIAL_OPTIONAL_COLUMNS.items():
        if name in out.columns and name != "finished_at":
            assert out.schema[name] == dtype, name


def test_clean_facts(make_pred) -> None:
    rng = np.random.default_rng(0)
    pred = make_pred({("clip", s, c): rng.random(50) < p for s, p in ((0, 0.8), (1, 0.6))
                      for c in ("clean", "noise")},
                     levels={"noise": ("gaussian_noise", "b", 1.0)})
    acc, n = clean_facts(pred)
    expected = pred.filter(pl.col("condition") == "clean", pl.col("seed") == 1)["correct"].mean()
    assert n == {"clip": 50} and acc["clip"][1] == pytest.approx(expected)


def test_resolution_is_the_smallest_significant_clean_difference(make_pred) -> None:
    rng = np.random.default_rng(1)
    u, v = rng.random(400), rng.random(400)  # c's errors are independent of a's and b's
    a, b, c = u < 0.9, u < 0.5, v < 0.48
    pred = make_pred({("a", 0, "clean"): a, ("b", 0, "clean"): b, ("c", 0, "clean"): c})
    table = significance_table(pred, alpha=0.05, correction="holm")
    assert table.filter(method_a="b", method_b="c")["significant"].to_list() == [False]
    res = clean_resolution(table)
    delta_ab, delta_ac = float(a.mean() - b.mean()), float(a.mean() - c.mean())
    assert res == {"a": pytest.approx(min(delta_ab, delta_ac)), "b": pytest.approx(delta_ab),
                   "c": pytest.approx(delta_ac)}  # b vs c is not significant
    raw = significance_table(pred, alpha=0.05, correction="none")
    assert (raw["significant"] == (raw["p_value"] < 0.05)).all()
    hand = pl.DataFrame({"condition": ["clean", "clean", "noise"], "method_a": ["x", "x", "y"],
                         "method_b": ["y", "z", "z"], "delta": [-0.1, 0.03, 0.001],
                         "significant": [True, False, True]})
    assert clean_resolution(hand) == {"x": 0.1, "y": 0.1}
    json.dumps(res)  # plain floats
