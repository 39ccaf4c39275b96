"""Fixtures of the study-runner tests: tiny study files, a CLI runner, and the process helpers
that kill a run (and the Ray instance it started) by process id."""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from robustlab.tune.cluster import ray_temp_dir

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


def descendants(pid: int) -> list[int]:
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


def session_processes(marker: str) -> list[int]:
    """Processes whose command line names `marker` (this run's Ray temp dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def kill_tree(proc: subprocess.Popen[str], out: Path) -> None:
    """Kill the CLI and every process it started (its Ray instance), by process id: its
    descendants, then any straggler naming this run's Ray temp dir."""
    marker = str(ray_temp_dir(out)[0])
    for pid in [*descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(1.0)
    for pid in session_processes(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(marker, ignore_errors=True)


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """`tmpfs(folder, "16m")` mounts a tmpfs of that size at `folder` (a small filesystem to
    fill up), unmounted after the test; skips the test where it cannot mount (not root, no
    CAP_SYS_ADMIN: e.g. an unprivileged CI container)."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("a full disk is tested on a tmpfs the test mounts: that needs root")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"a full disk is tested on a tmpfs the test mounts, and this "
                        f"machine refuses it: {done.stderr.strip() or done.returncode}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)  # busy: detach it


def fill(folder: Path, keep: int = 0) -> Path:
    """Fill the filesystem of `folder` with one file, then give `keep` bytes back; returns the
    file (delete it to free the space). Grown chunk by chunk, down to one page, so a writer
    using the disk meanwhile cannot make it fail."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        for chunk in (1 << 20, 1 << 16, 1 << 12):
            while True:
                try:
                    os.posix_fallocate(fd, size, chunk)
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    break
                size += chunk
        os.ftruncate(fd, max(0, size - keep))
    finally:
        os.close(fd)
    return filler
