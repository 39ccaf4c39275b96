"""Fixtures of the study-runner tests: tiny study files and a CLI runner."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ROOT / "studies"

# A study small enough to tune, train and evaluate in seconds on one core.
TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "data": {"kind": "synthetic_xnor", "n": 600, "bits": 4, "dim": 16},
    "task": {"protocol": "retrieval", "target": "a"},
    "methods": {"clip": {}, "symile": {"negatives": "n"}},
    "encoder": {"kind": "mlp", "dim": 16, "depth": 2, "hidden": 32},
    "train": {"batch_size": 64},
    "budget": {"trials": 2, "epochs": 2, "scheduler": "fifo", "metric": "val_top1"},
    "final": {"seeds": [0, 1]},
    "eval_grid": [
        {"op": "missing", "modality": ["b"], "fraction": [0.5]},
        {"op": "gaussian_noise", "modality": "c", "severity": [1, 3]},
    ],
    "resources": {"cpu": 1, "gpu": "auto"},
}


def write_study(folder: Path, study: dict[str, Any], name: str = "study.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture
def tiny() -> dict[str, Any]:
    """A fresh copy of the tiny study (edit freely)."""
    return copy.deepcopy(TINY)


@pytest.fixture
def writer() -> Callable[..., Path]:
    return write_study


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    return write_study(tmp_path, TINY)


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


def cli_env() -> dict[str, str]:
    """The environment for a CLI subprocess: no inherited Ray address, quiet progress."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`python -m robustlab.study ARGS` in a subprocess (its own Ray driver)."""
    return subprocess.run([sys.executable, "-m", "robustlab.study", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env=env or cli_env(), check=False)
