"""Provenance for manifest.json: package versions, git SHA, hardware, the study fingerprint."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from robustlab.study.spec import StudySpec

PACKAGES = ("robustlab", "torch", "numpy", "scipy", "polars", "ray", "optuna", "pydantic",
            "scikit-learn")

ASHA_NOTE = (
    "With the ASHA scheduler, a trial stopped early reaches Optuna as COMPLETE with a "
    "low-budget score. Every trial reports its best-so-far validation value; trials.parquet "
    "marks stopped trials 'stopped' and records the epochs each one ran.")


def fingerprint(spec: StudySpec) -> str:
    """SHA-256 of the resolved spec: a rerun continues a folder only for the same study.

    `report.discovery` is left out: it changes only what the report searches (a rerun
    re-renders with it), and folders made before it existed keep their fingerprint."""
    resolved = spec.model_dump(mode="json")
    resolved.get("report", {}).pop("discovery", None)
    text = json.dumps(resolved, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    import robustlab

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        if name == "robustlab":  # the one place the version lives (an editable install's
            out[name] = robustlab.__version__  # metadata keeps the version it was built with)
            continue
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_sha() -> str | None:
    """The commit of the robustlab checkout, if it is one (None for an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def hardware() -> dict[str, Any]:
    import torch

    gpus = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [])
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": processor_name(), "cpu_count": os.cpu_count(), "gpus": gpus,
            "torch_threads": torch.get_num_threads()}


def processor_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name where the platform gives one: Linux's /proc/cpuinfo ("model name",
    or "Hardware"/"Processor" on some ARM boards), macOS's sysctl brand string, else
    `platform.processor()` (often just "x86_64", or "" on Linux)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor()


UNSCORED_POLICY = (
    "A retrieval query whose target modality is missing in the data cannot be answered right: "
    "its rows stay in predictions.parquet with target_missing = true, and every statistic of "
    "the report (and the budget-adequacy check) leaves them out; the report counts them.")


def missingness(plan: Any) -> dict[str, Any]:
    """The data's own missing rows, before any perturbation: per split and modality, the rows
    marked missing; and the test queries left unscored because their target is missing."""
    dataset, task = plan.dataset, plan.spec.task
    missing = {split: {m: int((~part.masks[m]).sum()) for m in dataset.modalities}
               for split, part in dataset.splits.items()}
    unscored = (missing["test"][task.target] if task.protocol == "retrieval" else 0)
    return {"missing": missing, "unscored_queries": unscored,
            "unscored_policy": UNSCORED_POLICY}
