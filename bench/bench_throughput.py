"""Training throughput (examples/s) of every registered method on CPU, as a ratio to CLIP's.

Each method uses the default encoder (`mlp`: dim 256, depth 3, hidden 256), its default
options and the default TrainConfig batch size (256) on `synthetic_xnor` batches (3 × 128
input dims). A step is `robustlab.train.train_step`, exactly what `train` runs per batch
(loss, backward, grad clipping, AdamW, scheduler). Methods are timed in interleaved rounds
so that load on the shared machine hits all of them alike; a method's figure is its median
round. Ratios are against CLIP's median in the same run. One torch thread (`THREADS`).
`VARIANTS` adds study variants as rows (`symile_n2`: Symile with `negatives: n_squared`).

Matmul FLOPs per step (`torch.utils.flop_counter`, the loss's forward and backward) give
each method's FLOP bound, CLIP's FLOPs over its own: the ratio it would reach at CLIP's
matmul efficiency with no other work.

Peak memory per step: after the timed rounds, one more step per method runs under the torch
profiler with memory recording; the peak of the bytes allocated minus freed since the step
began (activations, gradients, temporaries; not the parameters, optimizer state and batch
that exist before it) is reported in MiB. Profiling slows that step, so it is not timed.

The second table is the default study's own regime (issue 24; `bench/_regime.py`):
`studies/missing_modality.yaml` resolved as the study runs it — batch 64, mlp 64/2/128,
CoMM's and COrAL's pair views on, Gated Symile's key_dim 256, one thread, training's
deterministic kernels — and each variant's training epoch (its 50 batches, perturbed as
training perturbs them for the `*_missing` variants) through `train_step`. Epochs are
interleaved across variants, `REGIME_EPOCHS` of them; a variant's figure is its median
epoch, its ratio to CLIP's median in the same run (wall and this thread's CPU time). Beside
it: peak memory per step (as above), matmul FLOPs per step (forward and backward, every
mm/bmm the step dispatches), the rate the step achieves on them (FLOPs / step time), and
the rate the same matmuls reach run alone (each shape timed as a plain contiguous matmul
on this machine: the step's matmul floor). "mm share" is the floor over the step time: near
100 % a step is bound by its FLOPs, far below it by everything else (small ops, dispatch,
autograd, the optimizer).

    .venv/bin/python -m bench throughput
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from bench import _regime
from robustlab.data import DATASETS, Batch, TrimodalDataset
from robustlab.methods import ENCODERS, METHODS, Method
from robustlab.train import TrainConfig, make_optimizer, train_step, warmup_cosine

BATCH = 256
WARMUP_STEPS = 2
STEPS_PER_ROUND = 2
ROUNDS = 7
THREADS = 1  # the machine is shared by several jobs: 2 threads per process oversubscribe it
VARIANTS = {  # study variants, timed too (comm and coral by default train pair views:
    # the views retrieval scores; `*_paper` are the papers' losses, as a probe study trains)
    "symile_n2": ("symile", {"negatives": "n_squared"}),
    "comm_paper": ("comm", {"pair_views": False}),
    "coral_paper": ("coral", {"pair_views": False}),
    # the gate's key_dim before issue 14 took the reference's 256 (issue 12's targets used 64)
    "gated_symile_k64": ("gated_symile", {"key_dim": 64}),
}


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
    optimizer = make_optimizer(method, config)
    scheduler = warmup_cosine(optimizer, config.warmup_fraction, 10_000)
    return _Run(method, optimizer, scheduler, config)


def _time_steps(run: _Run, batch: Batch, steps: int, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds (this thread's: with one torch thread, all of the step's work)
    of `steps` training steps."""
    generator = torch.Generator().manual_seed(seed)
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(steps):
        train_step(run.method, batch, generator, run.optimizer, run.scheduler, run.config)
    return time.perf_counter() - wall, time.thread_time() - cpu


def _peak_step_mib(run: _Run, batch: Batch) -> float:
    """Peak memory allocated during one step, from the profiler's allocation events."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _time_steps(run, batch, 1, seed=0)
    # the raw events hold every allocation (+bytes) and free (-bytes) with its time
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak / 2**20


def _gflop_per_step(run: _Run, batch: Batch) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        run.method.loss(batch, torch.Generator().manual_seed(0))["loss"].backward()
    run.method.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 1e9


def main() -> dict[str, object]:
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        figures = _measure()
    finally:
        torch.set_num_threads(before)
    return {**figures, "regime": _regime_table()}


def _measure() -> dict[str, object]:
    data = DATASETS.get("synthetic_xnor")(n=2000).build(0)
    batch = data.split("train").to_batch(np.arange(BATCH))
    names = [*METHODS.names(), *VARIANTS]
    states = {name: _setup(name, data) for name in names}
    for name in names:
        _time_steps(states[name], batch, WARMUP_STEPS, seed=0)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(ROUNDS):
        for name in names:
            seconds = _time_steps(states[name], batch, STEPS_PER_ROUND, seed=r + 1)
            wall[name].append(STEPS_PER_ROUND * BATCH / seconds[0])
            cpu[name].append(STEPS_PER_ROUND * BATCH / seconds[1])
    figures: dict[str, dict[str, float]] = {
        "examples_per_s": {n: statistics.median(v) for n, v in wall.items()},
        "examples_per_cpu_s": {n: statistics.median(v) for n, v in cpu.items()},
        "parameters": {n: float(states[n].method.num_parameters()) for n in names},
        "peak_step_mib": {n: _peak_step_mib(states[n], batch) for n in names},
        "gflop_per_step": {n: _gflop_per_step(states[n], batch) for n in names},
    }
    _print(figures, names)
    rate = figures["examples_per_s"]
    return {**figures, "ratio_to_clip": {n: rate[n] / rate["clip"] for n in names},
            "threads": torch.get_num_threads(), "batch": BATCH}


def _print(figures: dict[str, dict[str, float]], names: list[str]) -> None:
    rate, cpu, gflop = (figures[k] for k in ("examples_per_s", "examples_per_cpu_s",
                                             "gflop_per_step"))
    print(f"training throughput on CPU ({torch.get_num_threads()} threads), batch {BATCH}, "
          f"mlp 256x3; median of {ROUNDS} rounds x {STEPS_PER_ROUND} steps (vs clip: wall "
          f"time; cpu: this thread's CPU time, robust to other load)")
    print(f"{'method':>16} | {'params':>9} | {'examples/s':>10} | {'vs clip':>7} | "
          f"{'cpu':>5} | {'peak MiB/step':>13} | {'GFLOP/step':>10} | {'FLOP bound':>10}")
    for name in names:
        print(f"{name:>16} | {figures['parameters'][name]:>9,.0f} | {rate[name]:>10.0f} | "
              f"{rate[name] / rate['clip']:>6.2f}x | {cpu[name] / cpu['clip']:>4.2f}x | "
              f"{figures['peak_step_mib'][name]:>13.1f} | {gflop[name]:>10.2f} | "
              f"{gflop['clip'] / gflop[name]:>9.2f}x")


# --- the default study's regime (issue 24) ------------------------------------------------

REGIME_EPOCHS = 5
_MATMULS = {torch.ops.aten.mm.default: 0, torch.ops.aten.addmm.default: 1,
            torch.ops.aten.bmm.default: 0, torch.ops.aten.baddbmm.default: 1,
            torch.ops.aten.baddbmm_.default: 1}


class _MatmulShapes(TorchDispatchMode):
    """The (a, b) shapes of every matmul dispatched, with their FLOPs."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: Counter[tuple[tuple[int, ...], tuple[int, ...]]] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        if func in _MATMULS:
            a, b = args[_MATMULS[func]], args[_MATMULS[func] + 1]
            self.shapes[(tuple(a.shape), tuple(b.shape))] += 1
        return func(*args, **(kwargs or {}))


def _flops(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return 2 * math.prod(a) * b[-1]


def _plain_seconds(a: tuple[int, ...], b: tuple[int, ...], repeats: int = 20) -> float:
    """Best time of a plain contiguous matmul of these shapes."""
    x, y = torch.randn(a), torch.randn(b)
    best = math.inf
    for _ in range(repeats):
        start = time.thread_time()
        torch.matmul(x, y)
        best = min(best, time.thread_time() - start)
    return best


def _matmul_floor(run: _regime.Run, batch: Batch) -> tuple[float, float]:
    """(matmul FLOPs of one step, seconds those matmuls take run alone)."""
    shapes = _MatmulShapes()
    with shapes:
        run.steps([batch], seed=0)
    flops = sum(_flops(a, b) * k for (a, b), k in shapes.shapes.items())
    return flops, sum(_plain_seconds(a, b) * k for (a, b), k in shapes.shapes.items())


def _regime_table() -> dict[str, object]:
    study = _regime.plan()
    names = [n for n in _regime.VARIANTS if n in {v.name for v in study.variants}]
    with _regime.trial_conditions(THREADS):
        runs = {n: _regime.setup(study, n) for n in names}
        epochs = {n: [r.epoch(e) for e in range(REGIME_EPOCHS + 1)] for n, r in runs.items()}
        for n, r in runs.items():
            r.steps(epochs[n][0][:WARMUP_STEPS], seed=0)
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for e in range(1, REGIME_EPOCHS + 1):  # interleaved: load hits every variant alike
            for n, r in runs.items():
                start, start_cpu = time.perf_counter(), time.thread_time()
                r.steps(epochs[n][e], seed=e)
                wall[n].append(time.perf_counter() - start)
                cpu[n].append(time.thread_time() - start_cpu)
        floors = {n: _matmul_floor(r, epochs[n][0][0]) for n, r in runs.items()}
        peaks = {n: _peak_step_mib(_Run(r.method, r.optimizer, r.scheduler, r.config),
                                   epochs[n][0][0]) for n, r in runs.items()}
    steps = {n: len(epochs[n][1]) for n in names}
    rows = {n: {"epoch_s": statistics.median(wall[n]), "epoch_cpu_s": statistics.median(cpu[n]),
                "steps": steps[n], "peak_step_mib": peaks[n], "gflop_per_step": floors[n][0] / 1e9,
                "matmul_alone_ms": 1e3 * floors[n][1]} for n in names}
    for r in rows.values():
        step_s = r["epoch_cpu_s"] / r["steps"]
        r["achieved_gflop_s"] = r["gflop_per_step"] / step_s
        r["plain_gflop_s"] = r["gflop_per_step"] / (r["matmul_alone_ms"] / 1e3)
        r["mm_share"] = r["matmul_alone_ms"] / 1e3 / step_s
    clip = rows["clip"]
    for r in rows.values():
        r["ratio"], r["ratio_cpu"] = (r["epoch_s"] / clip["epoch_s"],
                                      r["epoch_cpu_s"] / clip["epoch_cpu_s"])
    _print_regime(rows)
    return {"rows": rows, "epochs": REGIME_EPOCHS, "load_average": _regime.load_average()}


def _print_regime(rows: dict[str, dict[str, float]]) -> None:
    print(f"\nthe default study's regime ({_regime.STUDY.name}): batch 64, mlp 64x2 "
          f"(hidden 128), options resolved for retrieval, {THREADS} thread; one training "
          f"epoch = {rows['clip']['steps']:.0f} steps; median of {REGIME_EPOCHS} interleaved "
          f"epochs; load average {_regime.load_average()}")
    print(f"{'variant':>26} | {'s/epoch':>7} | {'vs clip':>7} | {'cpu':>5} | "
          f"{'peak MiB':>8} | {'GFLOP/step':>10} | {'GFLOP/s':>7} | {'plain mm':>8} | "
          f"{'mm share':>8}")
    for name, r in rows.items():
        print(f"{name:>26} | {r['epoch_s']:>7.3f} | {r['ratio']:>6.2f}x | "
              f"{r['ratio_cpu']:>4.2f}x | {r['peak_step_mib']:>8.1f} | "
              f"{r['gflop_per_step']:>10.3f} | {r['achieved_gflop_s']:>7.1f} | "
              f"{r['plain_gflop_s']:>8.1f} | {r['mm_share']:>7.0%}")
