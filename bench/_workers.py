"""Run independent training jobs in worker processes, one torch thread each.

The machine has 2 cores: two workers with one intra-op thread each use both without
oversubscribing them (two threads per worker make tiny models several times slower).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

import polars as pl
import torch

WORKERS = 2
R = TypeVar("R")


def _one_thread() -> None:
    torch.set_num_threads(1)


def map_in_workers(fn: Callable[..., R], jobs: Sequence[tuple[Any, ...]],
                   workers: int = WORKERS) -> list[R]:
    """[fn(*job) for job in jobs], in order, computed by `workers` spawned processes.
    `fn` must be a module-level function (it is pickled by name)."""
    ctx = get_context("spawn")  # fresh interpreters: no forked torch thread pools
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread) as pool:
        return list(pool.map(fn, *zip(*jobs, strict=True)))


def sweep(fn: Callable[..., dict[str, Any]], jobs: Sequence[tuple[Any, ...]], *, describe: str,
          table: Callable[[pl.DataFrame], list[dict[str, Any]]],
          settings: dict[str, Any]) -> dict[str, Any]:
    """Run `fn(*job)` (one dict of figures each) for every job in workers, print `describe`
    and `table(runs)`, and return the figures a benchmark's `main` reports."""
    start = time.perf_counter()
    runs = pl.DataFrame(map_in_workers(fn, jobs))
    print(describe)
    rows = table(runs)
    wall = time.perf_counter() - start
    print(f"{len(jobs)} runs in {wall:.0f} s on {WORKERS} workers")
    return {"table": rows, "runs": runs.to_dicts(), "wall_s": wall, "settings": settings}
