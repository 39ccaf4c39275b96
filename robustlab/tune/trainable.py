"""The Ray Tune trial: build a method from a sampled config, train it, report every epoch.

Reports go through `ray.tune.report` (never `ray.train.report`, which raises inside Tune on
current Ray). Each epoch reports `<metric>` = the best validation value so far (so a trial
that ASHA stops, or one that dips late, reaches Optuna with its best value, not its last),
`val_metric` (this epoch), `train_loss`, `epoch` and `reported_at` (Unix time: the trials'
completion order). A run that ends normally sends one more
record with `finished: True` (not `done`: Ray sets that key itself on every trial's last
result); a diverged run (NaN/inf loss) sends `diverged: True` and the error, which the
searcher turns into an Optuna FAIL and the runner into a "failed" row.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs besides the sampled config and the dataset (picklable)."""

    method: str  # registry name
    options: Any  # the variant's Options (sampled option fields replace some of them)
    encoder: Any
    task: Any
    train: Any  # TrainConfig: epochs from the budget, seed from the study
    train_perturbation: Any | None
    metric: str
    threads: int = 1


def apply_config(spec: TrialSpec, config: dict[str, Any]) -> tuple[Any, Any]:
    """(TrainConfig, Options) for a sampled config: keys naming TrainConfig fields go to the
    training config, the others must be fields of the method's Options."""
    train_fields = {f.name for f in dataclasses.fields(spec.train)}
    option_fields = {f.name for f in dataclasses.fields(spec.options)}
    unknown = sorted(set(config) - train_fields - option_fields)
    if unknown:
        raise ValueError(f"config keys {unknown} are neither training fields nor options of "
                         f"{type(spec.options).__name__}")
    train = {k: v for k, v in config.items() if k in train_fields}
    options = {k: v for k, v in config.items() if k not in train_fields}
    return dataclasses.replace(spec.train, **train), dataclasses.replace(spec.options, **options)


def build_method(spec: TrialSpec, options: Any, dims: dict[str, int], seed: int) -> Any:
    from robustlab.methods import METHODS

    return METHODS.get(spec.method).build(options, dims, spec.encoder, seed=seed)


def run_trial(config: dict[str, Any], *, spec: TrialSpec, dataset: Any) -> None:
    """The function trainable (wrapped with `tune.with_parameters`)."""
    import torch
    from ray import tune

    from robustlab.train import DivergedError, train

    torch.set_num_threads(spec.threads)
    train_config, options = apply_config(spec, config)
    method = build_method(spec, options, dataset.dims, train_config.seed)
    best = -math.inf
    last_epoch = 0

    def on_epoch(report: Any) -> None:
        nonlocal best, last_epoch
        best = max(best, float(report.val_metric))
        last_epoch = report.epoch
        tune.report({spec.metric: best, "val_metric": float(report.val_metric),
                     "train_loss": float(report.train_loss), "epoch": report.epoch,
                     "finished": False, "diverged": False, "reported_at": time.time()})

    try:
        train(method, dataset, train_config, task=spec.task,
              train_perturbation=spec.train_perturbation, on_epoch=on_epoch)
    except DivergedError as err:
        tune.report({spec.metric: best, "val_metric": math.nan, "train_loss": math.nan,
                     "epoch": last_epoch, "finished": False, "diverged": True,
                     "error": f"{type(err).__name__}: {err}", "reported_at": time.time()})
        return
    tune.report({spec.metric: best, "val_metric": math.nan, "train_loss": math.nan,
                 "epoch": last_epoch, "finished": True, "diverged": False,
                 "reported_at": time.time()})
