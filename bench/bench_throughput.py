"""Training throughput (examples/s) of every registered method on CPU, as a ratio to CLIP's.

Each method uses the default encoder (`mlp`: dim 256, depth 3, hidden 256), its default
options and the default TrainConfig batch size (256) on `synthetic_xnor` batches (3 × 128
input dims). A step is `robustlab.train.train_step`, exactly what `train` runs per batch
(loss, backward, grad clipping, AdamW, scheduler). Methods are timed in interleaved rounds
so that load on the shared machine hits all of them alike; a method's figure is its median
round. Ratios are against CLIP's median in the same run. One torch thread (`THREADS`).
`VARIANTS` adds study variants as rows (`symile_n2`: Symile with `negatives: n_squared`).

    .venv/bin/python -m bench throughput
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from robustlab.data import DATASETS, Batch, TrimodalDataset
from robustlab.methods import ENCODERS, METHODS, Method
from robustlab.train import TrainConfig, train_step, warmup_cosine

BATCH = 256
WARMUP_STEPS = 2
STEPS_PER_ROUND = 2
ROUNDS = 7
THREADS = 1  # the machine is shared by several jobs: 2 threads per process oversubscribe it
VARIANTS = {"symile_n2": ("symile", {"negatives": "n_squared"})}  # study variants, timed too


@dataclass
class _Run:
    method: Method
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    config: TrainConfig


def _setup(name: str, data: TrimodalDataset) -> _Run:
    method_name, options = VARIANTS.get(name, (name, {}))
    cls = METHODS.get(method_name)
    method = cls.build(cls.Options(**options), data.dims, ENCODERS.get("mlp")(), seed=0)
    config = TrainConfig(batch_size=BATCH, device="cpu")
    optimizer = torch.optim.AdamW(method.param_groups(config.lr, config.weight_decay))
    scheduler = warmup_cosine(optimizer, config.warmup_fraction, 10_000)
    return _Run(method, optimizer, scheduler, config)


def _time_steps(run: _Run, batch: Batch, steps: int, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(run.method, batch, generator, run.optimizer, run.scheduler, run.config)
    return time.perf_counter() - start


def main() -> dict[str, object]:
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _measure()
    finally:
        torch.set_num_threads(before)


def _measure() -> dict[str, object]:
    data = DATASETS.get("synthetic_xnor")(n=2000).build(0)
    batch = data.split("train").to_batch(np.arange(BATCH))
    names = [*METHODS.names(), *VARIANTS]
    states = {name: _setup(name, data) for name in names}
    for name in names:
        _time_steps(states[name], batch, WARMUP_STEPS, seed=0)
    rounds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(ROUNDS):
        for name in names:
            seconds = _time_steps(states[name], batch, STEPS_PER_ROUND, seed=r + 1)
            rounds[name].append(STEPS_PER_ROUND * BATCH / seconds)
    rate = {name: statistics.median(v) for name, v in rounds.items()}
    params = {name: states[name].method.num_parameters() for name in names}
    print(f"training throughput on CPU ({torch.get_num_threads()} threads), batch {BATCH}, "
          f"mlp 256x3; median of {ROUNDS} rounds x {STEPS_PER_ROUND} steps")
    print(f"{'method':>14} | {'params':>9} | {'examples/s':>10} | {'vs clip':>7}")
    for name in names:
        print(f"{name:>14} | {params[name]:>9,} | {rate[name]:>10.0f} | "
              f"{rate[name] / rate['clip']:>6.2f}x")
    return {"examples_per_s": rate, "ratio_to_clip": {n: rate[n] / rate["clip"] for n in names},
            "parameters": params, "threads": torch.get_num_threads(), "batch": BATCH}
