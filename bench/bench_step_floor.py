"""A training step's fixed cost and its size-dependent cost, per method (issue 24).

Each variant of the default study's regime (`bench/_regime.py`: batch 64, mlp 64/2/128,
options resolved for retrieval, one thread, training's deterministic kernels) takes
`train_step`s on its epoch's batches and on the first 4 rows of the same batches,
interleaved, `ROUNDS` rounds of `STEPS` steps each; figures are medians of this thread's CPU
time. At 4 rows every op's arithmetic is negligible, so that step is what the step costs
whatever the batch: dispatch, autograd, Python, the optimizer's per-tensor work — the part
that only fewer ops (and fewer parameter tensors) can cut. The difference to the batch-64
step is what grows with the batch: the arithmetic and memory traffic of the ops, the part
that only less arithmetic or faster kernels can cut. Beside each: its ratio to CLIP's.

    .venv/bin/python -m bench step_floor
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import _regime
from robustlab.data import Batch

STEPS = 10
ROUNDS = 7
SMALL = 4


def _head(batch: Batch, rows: int) -> Batch:
    return Batch(x={m: v[:rows] for m, v in batch.x.items()},
                 mask={m: v[:rows] for m, v in batch.mask.items()}, index=batch.index[:rows],
                 label=None if batch.label is None else batch.label[:rows])


def main() -> dict[str, Any]:
    study = _regime.plan()
    names = [n for n in _regime.VARIANTS if n in {v.name for v in study.variants}]
    times: dict[tuple[str, str], list[float]] = {}
    with _regime.trial_conditions():
        runs = [_regime.setup(study, n) for n in names]
        batches = {r.name: r.epoch(1)[:STEPS] for r in runs}
        small = {name: [_head(b, SMALL) for b in bs] for name, bs in batches.items()}
        for run in runs:  # warm-up
            run.steps(batches[run.name][:2], 0)
            run.steps(small[run.name][:2], 0)
        for k in range(ROUNDS):
            for run in runs:
                for size, source in (("full", batches), ("small", small)):
                    start = time.thread_time()
                    run.steps(source[run.name], k)
                    times.setdefault((run.name, size), []).append(
                        (time.thread_time() - start) / STEPS)
    return _print(names, {k: statistics.median(v) for k, v in times.items()})


def _print(names: list[str], ms: dict[tuple[str, str], float]) -> dict[str, Any]:
    clip = {size: ms[("clip", size)] for size in ("full", "small")}
    clip_grow = clip["full"] - clip["small"]
    print(f"ms per training step (CPU), batch 64 vs its first {SMALL} rows; load average "
          f"{_regime.load_average()}")
    print(f"{'variant':>26} | {'batch 64':>8} | {'vs clip':>7} | {'fixed':>6} | {'vs clip':>7} "
          f"| {'grows':>6} | {'vs clip':>7}")
    out = {}
    for name in names:
        full, fixed = ms[(name, "full")], ms[(name, "small")]
        grows = full - fixed
        print(f"{name:>26} | {1e3 * full:8.2f} | {full / clip['full']:6.2f}x | "
              f"{1e3 * fixed:6.2f} | {fixed / clip['small']:6.2f}x | {1e3 * grows:6.2f} | "
              f"{grows / clip_grow:6.2f}x")
        out[name] = {"step_ms": 1e3 * full, "fixed_ms": 1e3 * fixed, "grows_ms": 1e3 * grows}
    return {"steps": out, "load_average": _regime.load_average()}
