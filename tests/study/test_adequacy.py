"""What the runner records for budget adequacy (no Ray): each variant's searched ranges with
the method's declared bounds and the study field that sets them, and the study's chance level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robustlab.study import load_plan
from robustlab.study.adequacy import chance_level, search_ranges


def plan_of(tmp_path: Path, writer: Any, study: dict[str, Any]) -> Any:
    return load_plan(writer(tmp_path, study))


def test_ranges_record_bounds_fields_choices_and_fixed(tmp_path: Path, tiny: dict[str, Any],
                                                       writer: Any) -> None:
    tiny["methods"] = {
        "clip": {},
        "gs": {"method": "gated_symile", "gate_lr_mult": 2.0,  # pinned: not searched
               "search": {"lr": {"low": 3e-4}, "weight_decay": [1e-5, 1e-4]}},
        "symile": {"negatives": "n"},
    }
    tiny["search"] = {"lr": {"low": 5e-4, "high": 3e-3}, "logit_scale_init": 2.0}
    plan = plan_of(tmp_path, writer, tiny)
    ranges = {v.name: search_ranges(plan, v) for v in plan.variants}
    assert ranges["clip"]["lr"] == {"kind": "float", "low": 5e-4, "high": 3e-3, "log": True,
                                    "declared_low": 1e-4, "declared_high": 3e-2,
                                    "field": "search.lr"}
    assert ranges["clip"]["logit_scale_init"] == {"kind": "fixed", "value": 2.0}
    gs = ranges["gs"]
    assert "gate_lr_mult" not in gs  # the ablation pins it
    assert gs["lr"]["field"] == "methods.gs.search.lr" and gs["lr"]["low"] == 3e-4
    assert gs["weight_decay"] == {"kind": "choice", "values": [1e-5, 1e-4],
                                  "field": "methods.gs.search.weight_decay"}
    assert ranges["symile"]["weight_decay"]["low"] == 1e-6  # the declared range, unnarrowed


def test_chance_is_one_over_the_candidates_or_the_commonest_class(
        tmp_path: Path, tiny: dict[str, Any], writer: Any) -> None:
    everyone = chance_level(plan_of(tmp_path, writer, tiny))
    n_test = len(load_plan(tmp_path / "study.yaml").dataset.split("test"))
    assert everyone["level"] == pytest.approx(1 / n_test)
    tiny["task"] = {"protocol": "retrieval", "target": "a", "candidates": 16}
    assert chance_level(plan_of(tmp_path, writer, tiny))["level"] == 1 / 16
    tiny["data"] = {"kind": "symile_xor", "d": 3, "n": 400}
    tiny["task"] = {"protocol": "retrieval", "target": "b"}
    tiny["eval_grid"] = [{"op": "missing", "modality": ["c"], "fraction": [0.5]}]
    bank = chance_level(plan_of(tmp_path, writer, tiny))
    assert bank["level"] == 1 / 8 and "fixed bank" in bank["basis"]  # all 2^3 vectors


def test_probe_chance_is_the_commonest_test_class(tmp_path: Path, tiny: dict[str, Any],
                                                  writer: Any) -> None:
    tiny["data"] = {"kind": "pid", "setting": "synergy", "n": 400, "latent_dim": 4, "dim": 8}
    tiny["task"] = {"protocol": "probe"}
    tiny["budget"]["metric"] = "val_balanced_accuracy"
    tiny["eval_grid"] = []
    plan = plan_of(tmp_path, writer, tiny)
    labels = np.asarray(plan.dataset.split("test").label)
    chance = chance_level(plan)
    assert chance["level"] == pytest.approx(np.bincount(labels).max() / labels.size)
    assert chance["level"] >= 1 / len(np.unique(labels))


def test_class_level_chance_is_the_chance_of_a_same_class_candidate(
        tmp_path: Path, tiny: dict[str, Any], writer: Any) -> None:
    tiny["data"] = {"kind": "m3_lite", "w": 2, "n": 600}
    tiny["task"] = {"protocol": "retrieval", "target": "image", "match": "label"}
    tiny["eval_grid"] = []
    plan = plan_of(tmp_path, writer, tiny)
    labels = np.asarray(plan.dataset.split("test").label)
    same = ((np.bincount(labels) / labels.size) ** 2).sum()  # Σ p_c² over the test split
    everyone = chance_level(plan)
    assert everyone["level"] == pytest.approx(same) and "class-level" in everyone["basis"]
    tiny["task"]["candidates"] = 8
    sampled = chance_level(plan_of(tmp_path, writer, tiny))
    assert sampled["level"] == pytest.approx(1 / 8 + 7 / 8 * same)
