"""The default study's training regime, for the benchmarks that time it (issue 24).

`studies/missing_modality.yaml` resolved as the study runs it: its dataset, encoder (mlp
dim 64, depth 2, hidden 128), batch size (64) and every variant's options after
`for_protocol` (CoMM's and COrAL's `pair_views: auto` -> on for retrieval; Gated Symile's
key_dim 256). A variant trained under a perturbation (`*_missing`) gets its epoch's batches
perturbed as `robustlab.train` perturbs them; steps run under the same deterministic-kernel
setting as training, with one torch thread as a Ray trial gets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from robustlab.data import Batch
from robustlab.methods import METHODS, Method
from robustlab.study.load import load_plan
from robustlab.study.resolve import Plan, Variant
from robustlab.train import (
    TrainConfig,
    _deterministic,
    _DeviceSplit,
    _epoch_seeds,
    make_optimizer,
    train_step,
    warmup_cosine,
)

STUDY = Path(__file__).resolve().parent.parent / "studies" / "missing_modality.yaml"
#: the variants timed: every method of the study, plus the `*_missing` twins whose steps
#: take another code path (NT-Xent over partial rows, the hard-missing gate)
VARIANTS = ("clip", "symile", "gated_symile", "gram", "triangle", "comm", "coral",
            "gated_symile_missing_hard", "comm_missing", "coral_missing")


@dataclass
class Run:
    """One variant ready to take training steps."""

    name: str
    method: Method
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    config: TrainConfig
    data: _DeviceSplit
    variant: Variant

    def epoch(self, epoch: int) -> list[Batch]:
        """The batches of training epoch `epoch`, shuffled (and perturbed) as `train` does."""
        order, _, _, perturb = _epoch_seeds(self.config.seed, epoch)
        op = self.variant.train_perturbation
        source = self.data if op is None else self.data.perturbed(op, perturb)
        return list(source.batches(self.config.batch_size, order))

    def steps(self, batches: list[Batch], seed: int) -> None:
        """One `train_step` per batch, with a loss generator seeded `seed`."""
        generator = torch.Generator().manual_seed(seed)
        for batch in batches:
            train_step(self.method, batch, generator, self.optimizer, self.scheduler,
                       self.config)


def plan() -> Plan:
    return load_plan(STUDY)


def setup(study: Plan, name: str) -> Run:
    """Build variant `name` of the study as a trial builds it (seed 0)."""
    variant = next(v for v in study.variants if v.name == name)
    method = METHODS.get(variant.method).build(variant.options, study.dataset.dims,
                                               study.encoder, seed=0)
    config = study.train
    optimizer = make_optimizer(method, config)
    data = _DeviceSplit(study.dataset.split("train"), torch.device("cpu"))
    steps = data.steps(config.batch_size) * config.epochs
    scheduler = warmup_cosine(optimizer, config.warmup_fraction, steps)
    return Run(name, method, optimizer, scheduler, config, data, variant)


@contextmanager
def trial_conditions(threads: int = 1) -> Iterator[None]:
    """One torch thread (a trial's) and training's deterministic kernels; restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _deterministic(torch.device("cpu")):
            yield
    finally:
        torch.set_num_threads(before)


def load_average() -> str:
    """The 1/5/15-minute load averages (the machine is shared: say how busy it was)."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())
