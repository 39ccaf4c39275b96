"""The Ray cluster a study runs on, and the per-trial resources it can honour.

Local by default: a Ray instance on this machine with the dashboard off, auth off
(`RAY_AUTH_MODE=disabled`), and Ray's temp dir inside the study's output folder so nothing
lands in `$HOME`. With an address (`--address` or `RAY_ADDRESS`) the study joins that
cluster and changes nothing else. Requests are checked against the cluster before any trial
starts: Ray would otherwise leave an impossible request pending forever.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# AF_UNIX socket paths are limited to 107 bytes; Ray appends about 62 characters
# ("/session_<date>_<pid>/sockets/plasma_store") to its temp dir.
_MAX_TEMP_DIR = 44


class ResourceError(ValueError):
    """A request the cluster cannot satisfy; the message names `resources.<field>`."""


@dataclass(frozen=True)
class Resources:
    """Per trial / final run: CPUs and GPUs (a fraction shares one); trials at once."""

    cpu: float
    gpu: float
    concurrency: int

    def as_ray(self) -> dict[str, float]:
        return {"cpu": self.cpu, "gpu": self.gpu}


@dataclass(frozen=True)
class ClusterInfo:
    address: str | None  # None = the local cluster this study started
    cpus: float
    gpus: float
    max_node_cpus: float
    max_node_gpus: float
    temp_dir: str | None

    def describe(self) -> dict[str, Any]:
        return {"address": self.address or "local", "cpus": self.cpus, "gpus": self.gpus,
                "max_node_cpus": self.max_node_cpus, "max_node_gpus": self.max_node_gpus}


def local_machine() -> ClusterInfo:
    """What a local cluster on this machine would offer (checked before starting Ray)."""
    import torch

    cpus = float(os.cpu_count() or 1)
    gpus = float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0
    return ClusterInfo(None, cpus, gpus, cpus, gpus, None)


@contextmanager
def connect(address: str | None, out: Path) -> Iterator[ClusterInfo]:
    """Join `address`, or start a local cluster with its temp dir under `out`; disconnect
    (and, for the local cluster, stop what it started) on exit. Never `ray stop`."""
    import ray

    temp_dir, fallback = (None, False) if address else _temp_dir(out)
    if address is None:
        os.environ["RAY_AUTH_MODE"] = "disabled"  # inherited by the processes Ray starts
    kwargs: dict[str, Any] = {"address": address, "log_to_driver": False,
                              "logging_level": logging.WARNING}
    if address is None:
        kwargs.update(include_dashboard=False, _temp_dir=temp_dir)
    ray.init(**kwargs)
    try:
        yield _describe(ray, address, temp_dir)
    finally:
        ray.shutdown()
        if fallback and temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def ray_temp_dir(out: Path) -> tuple[Path, bool]:
    """Where a local cluster for output folder `out` keeps Ray's temp dir: `out/ray_tmp`, or,
    when that path is too long for Ray's unix sockets, `<tmp>/rl-ray-<hash of out>` (removed
    at shutdown). Returns (path, is_fallback)."""
    wanted = (out / "ray_tmp").resolve()
    if len(str(wanted)) <= _MAX_TEMP_DIR:
        return wanted, False
    digest = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
    base = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    return base / f"rl-ray-{digest}", True


def _temp_dir(out: Path) -> tuple[str, bool]:
    path, fallback = ray_temp_dir(out)
    path.mkdir(parents=True, exist_ok=True)
    return str(path), fallback


def _describe(ray: Any, address: str | None, temp_dir: str | None) -> ClusterInfo:
    total = ray.cluster_resources()
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return ClusterInfo(
        address=address,
        cpus=float(total.get("CPU", 0.0)),
        gpus=float(total.get("GPU", 0.0)),
        max_node_cpus=max((float(n.get("CPU", 0.0)) for n in nodes), default=0.0),
        max_node_gpus=max((float(n.get("GPU", 0.0)) for n in nodes), default=0.0),
        temp_dir=temp_dir,
    )


def plan_resources(
    cluster: ClusterInfo, cpu: float, gpu: float | str, concurrency: int | str, trials: int
) -> Resources:
    """Check a per-trial request against `cluster`; resolve `gpu: auto` and
    `concurrency: auto`. Raises ResourceError naming the field."""
    if cpu > cluster.max_node_cpus:
        raise ResourceError(
            f"resources.cpu: a trial asks for {cpu:g} CPUs but the largest node has "
            f"{cluster.max_node_cpus:g} (cluster: {cluster.cpus:g} CPUs in all)")
    fits = max(1, math.floor(cluster.cpus / cpu))
    runs = min(fits, trials) if concurrency == "auto" else int(concurrency)
    return Resources(cpu=cpu, gpu=_gpu(cluster, gpu, runs), concurrency=runs)


def _gpu(cluster: ClusterInfo, gpu: float | str, runs: int) -> float:
    if gpu == "auto":
        if cluster.gpus == 0:
            return 0.0
        # Share the GPUs among the concurrent runs; Ray takes fractions < 1 as sharing.
        return min(1.0, math.floor(cluster.gpus / runs * 100) / 100) or 0.01
    value = float(gpu)
    if value > 0 and cluster.gpus == 0:
        raise ResourceError(f"resources.gpu: a trial asks for {value:g} GPU but the cluster "
                            f"has none; use gpu: 0 or gpu: auto")
    if value > cluster.max_node_gpus:
        raise ResourceError(f"resources.gpu: a trial asks for {value:g} GPUs but the largest "
                            f"node has {cluster.max_node_gpus:g}")
    if value > 1 and not value.is_integer():
        raise ResourceError(f"resources.gpu: above 1 a GPU request must be whole, got {value:g}")
    return value
