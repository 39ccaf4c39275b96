"""End to end through the CLI, each study in its own subprocess (its own Ray driver):
the default study's smoke run and its files; an interrupted run resumed to the same results
as an uninterrupted one (which is also the determinism check: same file, same predictions)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import polars as pl
import pytest

from robustlab.results import TRIAL_COLUMNS, check_columns, check_predictions
from robustlab.stats.adequacy import RULES

from .conftest import kill_tree
from .test_discovery_spec import check_discovery_outputs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

ROOT = Path(__file__).resolve().parents[2]


def test_missing_modality_smoke_writes_the_results(tmp_path: Path, cli: Any) -> None:
    out, home = tmp_path / "mm", tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    start = time.perf_counter()
    done = cli("studies/missing_modality.yaml", "--smoke", "--out", str(out), timeout=900,
               env={**env, "HOME": str(home)})
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"missing_modality --smoke wall time: {wall:.1f} s")
    assert not [p for p in home.rglob("*") if "ray" in p.name.lower()], "Ray wrote to $HOME"
    manifest = json.loads((out / "manifest.json").read_text())
    variants = ["clip", "symile", "gated_symile", "gram", "triangle", "comm", "coral",
                "symile_missing", "gated_symile_missing_hard"]  # the smoke block's
    n_test = manifest["dataset"]["sizes"]["test"]
    conditions = manifest["conditions"]
    assert conditions[0] == "clean" and len(conditions) == 7  # + b or c missing at 3 shares
    predictions = pl.read_parquet(out / "predictions.parquet")
    check_predictions(predictions)
    # 2 seeds each, then one look's third seed for the variants of undecided contrasts
    looks = manifest["sequential"]["looks"]
    seeds = {v: 2 for v in variants} | {v: len(s) for v, s in looks[-1]["variant_seeds"].items()}
    assert manifest["sequential"]["design"]["looks"] == [2, 3]
    assert predictions.height == sum(seeds.values()) * len(conditions) * n_test
    assert predictions.group_by("method").agg(pl.col("seed").n_unique()).sort("method").rows() \
        == sorted(seeds.items())
    assert sorted(predictions["method"].unique()) == sorted(variants)
    assert "corrupted_modality" in predictions.columns  # the dataset's slice column
    half_b = predictions.filter(pl.col("condition") == "missing(b, fraction=0.5)")
    assert half_b["perturbed"].mean() == pytest.approx(0.5)
    assert set(half_b.filter("perturbed")["perturbed_modality"]) == {"b"}
    clean = predictions.filter(pl.col("condition") == "clean")
    assert not clean["perturbed"].any() and set(clean["cond_op"]) == {"clean"}
    trials = pl.read_parquet(out / "trials.parquet")
    check_columns(trials, TRIAL_COLUMNS, "trials.parquet")
    assert trials.group_by("method").len().sort("method")["len"].to_list() == [2] * len(variants)
    for name in variants:  # equal budgets, recorded
        budget = manifest["methods"][name]["budget"]
        assert budget["trials"] == 2 and budget["epochs"] == 4, (name, budget)
        assert manifest["methods"][name]["param_count"] > 0
    study_methods = manifest["study"]["methods"]
    assert study_methods["symile_missing"]["train_perturbations"][0]["fraction"] == 0.2
    assert manifest["study"]["train"]["perturbation_draw"] == "epoch"
    for name in ("comm", "coral"):  # pair_views: auto, resolved for retrieval
        assert manifest["methods"][name]["options"]["pair_views"] is True
    assert manifest["methods"]["gated_symile_missing_hard"]["options"]["hard_missing"] is True
    assert manifest["status"] == "complete" and manifest["smoke"] is True
    assert manifest["study"]["budget"] == {**manifest["study"]["budget"], "trials": 2,
                                           "epochs": 2, "scheduler": "fifo"}
    studies = optuna.get_all_study_summaries(f"sqlite:///{out / 'optuna.db'}")
    assert sorted(s.study_name for s in studies) == sorted(variants)
    assert all(s.n_trials == 2 for s in studies)
    assert manifest["report"]["status"] in {"written", "skipped"}, manifest["report"]
    if manifest["report"]["status"] == "written":
        assert (out / "report.html").stat().st_size > 1000
    _check_adequacy(out, manifest, trials, variants)
    check_discovery_outputs(out, variants, 2, n_test)  # issue 23: embeddings, clusters searched


def _check_adequacy(out: Path, manifest: dict[str, Any], trials: pl.DataFrame,
                    variants: list[str]) -> None:
    """Budget adequacy: every variant judged on every rule, stored in manifest.json and
    trials.parquet, and shown in the report (docs/adequacy.md)."""
    n_test = manifest["dataset"]["sizes"]["test"]
    summary = manifest["adequacy"]
    assert summary["chance"]["level"] == pytest.approx(1 / n_test)  # retrieval among all
    for name in variants:
        record = manifest["methods"][name]
        verdict = record["adequacy"]
        findings = {f["rule"]: f for f in verdict["findings"]}
        assert list(findings) == list(RULES)
        assert verdict["flagged"] == [r for r, f in findings.items() if f["status"] == "flagged"]
        assert summary["flagged"][name] == verdict["flagged"]
        assert verdict["adequate"] == (not verdict["flagged"])
        # 2 smoke epochs are too few to tell a rising curve from noise
        assert findings["under_trained"]["status"] == "not_assessed"
        for f in findings.values():
            assert all(r["field"] for r in f["remedies"]), f
        # the study narrows lr inside the methods' declared range; both are recorded
        assert record["search_ranges"]["lr"] == {
            "kind": "float", "low": 1e-3, "high": 2e-2, "log": True, "declared_low": 1e-4,
            "declared_high": 3e-2, "field": "search.lr"}
        for info in record["finals"].values():
            assert len(info["val_history"]) == info["epochs"] == 2
        mine = trials.filter(pl.col("method") == name)
        assert mine["adequacy"].to_list() == [verdict["flagged"]] * mine.height
    assert trials["still_rising"].is_null().all()  # too short to judge
    assert trials["finished_at"].is_not_null().all()
    html = (out / "report.html").read_text()
    assert '<h3 id="adequacy">Budget adequacy</h3>' in html
    for name in variants:
        flagged = bool(manifest["methods"][name]["adequacy"]["flagged"])
        mark = "flagged" if flagged else "adequate"
        assert re.search(rf'<td class="text method">{name}<a href="#adequacy" '
                         rf'class="adequacy-mark {mark}"', html), name
    for name, rules in summary["flagged"].items():
        if rules:
            assert f"<summary><strong>{name}</strong>: " in html


def _run_until(args: list[str], out: Path, ready: Any, timeout: float = 600) -> None:
    """Start the CLI; SIGKILL it (and its children) once `ready()` is true."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "robustlab.study", *args], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the run ended before the kill point: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point never came")
            time.sleep(0.2)
    finally:
        kill_tree(proc, out)


def test_interrupted_runs_resume_to_the_uninterrupted_results(
    tmp_path: Path, tiny: dict[str, Any], writer: Any, cli: Any
) -> None:
    tiny["final"] = {"seeds": [0]}  # 2 final runs: killed after the first
    tiny_study = writer(tmp_path, tiny)
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    done = cli(str(tiny_study), "--out", str(reference), "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    args = [str(tiny_study), "--out", str(resumed), "--quiet"]
    # 1) killed while the second variant is tuning (after the first finished)
    _run_until(args, resumed, lambda: (resumed / "ray" / "symile").is_dir())
    first_tuning = resumed / "parts" / "tuning" / "clip.trials.parquet"
    assert first_tuning.is_file()
    stamp = first_tuning.stat().st_mtime_ns
    # 2) killed again right after the first final run was written
    finals = resumed / "parts" / "finals"
    _run_until([*args, "--resume"], resumed, lambda: any(finals.glob("*/seed*.json")))
    written = {p: p.stat().st_mtime_ns for p in finals.glob("*/seed*.json")}
    assert written
    # 3) the same command finishes the study
    done = cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert first_tuning.stat().st_mtime_ns == stamp, "a finished tuning was redone"
    assert all(p.stat().st_mtime_ns == t for p, t in written.items()), "a final run was redone"
    a = pl.read_parquet(reference / "predictions.parquet")
    b = pl.read_parquet(resumed / "predictions.parquet")
    assert a.equals(b), "resumed results differ from the uninterrupted run"
    ta, tb = (pl.read_parquet(d / "trials.parquet").select("trial_id", "config", "metric",
                                                          "status", "epochs")
              for d in (reference, resumed))
    assert ta.equals(tb)
    # the resumed study judges the budget from its parts as the uninterrupted one did (all
    # but the tuning rule, which reads the trials' wall-clock completion order)
    va, vb = ({name: [f for f in m["adequacy"]["findings"] if f["rule"] != "tuning_not_converged"]
               for name, m in json.loads((d / "manifest.json").read_text())["methods"].items()}
              for d in (reference, resumed))
    assert va == vb and set(va) == {"clip", "symile"}


def test_folder_holding_another_study_is_refused(
    tmp_path: Path, tiny_study: Path, cli: Any
) -> None:
    out = tmp_path / "o"
    (out / "parts").mkdir(parents=True)
    (out / "parts" / "study.json").write_text(json.dumps({"name": "x", "fingerprint": "0"}))
    done = cli(str(tiny_study), "--out", str(out))
    assert done.returncode == 2 and "holds a different study" in done.stderr
    nothing = cli(str(tiny_study), "--out", str(tmp_path / "new"), "--resume")
    assert nothing.returncode == 2 and "no study to resume" in nothing.stderr
    assert not (tmp_path / "new").exists()
