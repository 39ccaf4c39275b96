"""End to end through the CLI, each study in its own subprocess (its own Ray driver):
the default study's smoke run and its files; an interrupted run resumed to the same results
as an uninterrupted one (which is also the determinism check: same file, same predictions)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import polars as pl
import pytest

from robustlab.results import TRIAL_COLUMNS, check_columns, check_predictions
from robustlab.tune.cluster import ray_temp_dir

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
    variants = ["clip", "symile", "gated_symile", "gram", "triangle", "comm", "coral"]
    n_test = manifest["dataset"]["sizes"]["test"]
    conditions = manifest["conditions"]
    assert conditions[0] == "clean" and len(conditions) == 13
    predictions = pl.read_parquet(out / "predictions.parquet")
    check_predictions(predictions)
    assert predictions.height == len(variants) * 2 * len(conditions) * n_test
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
    assert manifest["status"] == "complete" and manifest["smoke"] is True
    assert manifest["study"]["budget"] == {**manifest["study"]["budget"], "trials": 2,
                                           "epochs": 2, "scheduler": "fifo"}
    studies = optuna.get_all_study_summaries(f"sqlite:///{out / 'optuna.db'}")
    assert sorted(s.study_name for s in studies) == sorted(variants)
    assert all(s.n_trials == 2 for s in studies)
    assert manifest["report"]["status"] in {"written", "skipped"}, manifest["report"]
    if manifest["report"]["status"] == "written":
        assert (out / "report.html").stat().st_size > 1000


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (Linux), children before their parents."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found[::-1]


def _session_processes(marker: str) -> list[int]:
    """Processes whose command line names `marker` (this run's Ray temp dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _kill_tree(proc: subprocess.Popen[str], out: Path) -> None:
    """Kill the CLI and every process it started (its Ray instance), by process id: its
    descendants, then any straggler naming this run's Ray temp dir."""
    marker = str(ray_temp_dir(out)[0])
    for pid in [*_descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1.0)
    for pid in _session_processes(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(marker, ignore_errors=True)


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
        _kill_tree(proc, out)


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
    first_tuning = resumed / "parts" / "tuning" / "clip.parquet"
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
