"""A rough wall-time estimate for `--dry-run`, from a quick timing of training steps.

Each variant's method is built with its defaults and takes `WARMUP` + `STEPS` optimisation
steps (`robustlab.train.train_step`, as training runs them) on a batch of at most
`TIMING_BATCH` train rows, with the trial's thread count: a second or so per variant. The
step time is scaled linearly to the study's batch size, times the steps of an epoch, the
epochs and the trials, divided by the trials that run at once on this machine. Not counted:
Ray and trial start-up, validation and test evaluation, and ASHA's early stops (which make
tuning shorter) — hence "rough".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from robustlab.study.resolve import Plan, Variant

WARMUP = 1
STEPS = 3
TIMING_BATCH = 64


@dataclass(frozen=True)
class Estimate:
    """step_s: per variant, seconds per step at the study's batch size; concurrency: trials
    at once; tuning_s, finals_s: the phases' estimated wall time."""

    step_s: dict[str, float]
    timed_batch: int
    concurrency: int
    tuning_s: float
    finals_s: float

    @property
    def total_s(self) -> float:
        return self.tuning_s + self.finals_s


def estimate(plan: Plan) -> Estimate:
    """Time each variant and add the phases up (module docstring)."""
    from robustlab.tune.cluster import local_machine, plan_resources

    r, budget = plan.spec.resources, plan.spec.budget
    resources = plan_resources(local_machine(), r.cpu, r.gpu, r.concurrency, budget.trials)
    threads = max(1, int(resources.cpu))
    train = plan.dataset.split("train")
    batch = min(plan.train.batch_size, len(train), TIMING_BATCH)
    scale = min(plan.train.batch_size, len(train)) / batch
    timed: dict[str, float] = {}  # variants differing only in what they train under share one
    for v in plan.variants:
        key = repr((v.method, v.options))
        timed.setdefault(key, _step_time(plan, v, batch, threads) * scale)
    step_s = {v.name: timed[repr((v.method, v.options))] for v in plan.variants}
    steps = max(1, len(train) // plan.train.batch_size) * budget.epochs  # per run
    runs = resources.concurrency
    tuning = sum(budget.trials * steps * t for t in step_s.values()) / runs
    finals = sum(len(plan.spec.final.seeds) * steps * t for t in step_s.values()) / runs
    return Estimate(step_s, batch, runs, tuning, finals)


def _step_time(plan: Plan, variant: Variant, batch: int, threads: int) -> float:
    """Seconds per optimisation step of `variant` on `batch` train rows (mean of STEPS)."""
    import torch

    from robustlab.methods import METHODS
    from robustlab.train import train_step

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        method = METHODS.get(variant.method).build(variant.options, plan.dataset.dims,
                                                   plan.encoder, seed=0)
        optimizer = torch.optim.AdamW(method.param_groups(plan.train.lr,
                                                          plan.train.weight_decay))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        generator = torch.Generator().manual_seed(0)
        rows = plan.dataset.split("train").to_batch(np.arange(batch))
        times = []
        for k in range(WARMUP + STEPS):
            start = time.perf_counter()
            train_step(method, rows, generator, optimizer, scheduler, plan.train)
            if k >= WARMUP:
                times.append(time.perf_counter() - start)
        return float(np.mean(times))
    finally:
        torch.set_num_threads(before)


def describe(est: Estimate, plan: Plan) -> list[str]:
    """The estimate as `--dry-run` prints it."""
    ms = ", ".join(f"{name} {1000 * t:.3g} ms" for name, t in est.step_s.items())
    asha = ("; ASHA stops trials early, so tuning may take less"
            if plan.spec.budget.scheduler == "asha" else "")
    return [f"rough wall time on this machine: ~{rough(est.total_s)} (tuning "
            f"~{rough(est.tuning_s)}, final runs ~{rough(est.finals_s)}; "
            f"{est.concurrency} run{'s' if est.concurrency != 1 else ''} at once)",
            f"  per training step at batch {plan.train.batch_size} (timed on "
            f"{est.timed_batch} rows, {STEPS} steps after {WARMUP} warm-up): {ms}",
            "  not counted: Ray and trial start-up, evaluation" + asha]


def rough(seconds: float) -> str:
    """Two significant figures in the largest fitting unit: 40 s, 3.5 min, 35 min, 1.2 h (an
    estimate this rough should not look precise)."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{_two_figures(seconds / size):g} {unit}"
    return f"{_two_figures(max(seconds, 0.0)):g} s"


def _two_figures(x: float) -> float:
    return 0.0 if x <= 0 else round(x, 1 - math.floor(math.log10(x)))
