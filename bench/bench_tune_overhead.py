"""Tuning overhead: the study's Ray Tune path vs the same trials run in-process by Optuna.

The same 8 trials (Symile on synthetic_xnor with the default study's sizes: 4000 examples,
batches of 64, 12 epochs each; seeded TPE; the same define-by-run space) run three ways in one
process:
  optuna     plain `optuna.Study.optimize` in this process, one trial at a time (baseline)
  ray x1     `robustlab.tune.tune_variant` on a local Ray instance, max_concurrent_trials=1
  ray x2     the same with 2 concurrent trials of 1 CPU each
Ray's fixed costs (a worker process per concurrent trial importing torch and robustlab, the
trial scheduling) are paid per Tuner, so the ratio depends on how long trials are: with
trials of about a second it is several-fold; with trials the length of a real study's it
approaches 1. Reported: wall-time ratio ray x1 / optuna (target <= 1.3 at equal concurrency),
the speed-up
ray x1 / ray x2 from 2 concurrent trials on 2 cores, and the one-off `ray.init` time (not
included in either ray figure, as it is paid once per study, not per method).
The machine is shared, so only ratios measured in this one run mean anything.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

TRIALS = 8
EPOCHS = 12


def _spec_and_data() -> tuple[Any, Any, Any]:
    from robustlab.data import DATASETS
    from robustlab.evaluate import Task
    from robustlab.methods import METHODS
    from robustlab.methods.encoders import ENCODERS
    from robustlab.train import TrainConfig
    from robustlab.tune.space import narrow
    from robustlab.tune.trainable import TrialSpec

    cls = METHODS.get("symile")
    spec = TrialSpec(method="symile", options=cls.Options(),
                     encoder=ENCODERS.get("mlp")(dim=64, depth=2, hidden=128),
                     task=Task(target="a"), train=TrainConfig(epochs=EPOCHS, batch_size=64),
                     train_perturbation=None, metric="val_top1")
    space = narrow(cls.search_space(), {}, "bench")
    dataset = DATASETS.get("synthetic_xnor")(n=4000).build(0)
    return spec, space, dataset


def _plain_optuna(spec: Any, space: Any, dataset: Any) -> float:
    """The baseline: the same trial body, called by Optuna directly in this process."""
    import optuna
    import torch

    from robustlab.train import train
    from robustlab.tune.trainable import apply_config, build_method

    torch.set_num_threads(1)

    def objective(trial: optuna.Trial) -> float:
        fixed = space.suggest(trial)  # suggests the free keys on `trial`
        config = {**trial.params, **fixed}
        train_config, options = apply_config(spec, config)
        method = build_method(spec, options, dataset.dims, train_config.seed)
        return train(method, dataset, train_config, task=spec.task).best_metric

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    start = time.perf_counter()
    study.optimize(objective, n_trials=TRIALS)
    return time.perf_counter() - start


def _ray(spec: Any, space: Any, dataset: Any, out: Path, concurrency: int) -> float:
    from robustlab.tune.cluster import Resources
    from robustlab.tune.tuner import TuneSettings, tune_variant

    settings = TuneSettings(
        name=f"bench_x{concurrency}", trials=TRIALS, epochs=EPOCHS, scheduler="fifo",
        metric="val_top1", grace_period=1, reduction_factor=2, seed=0,
        resources=Resources(cpu=1, gpu=0, concurrency=concurrency),
        storage=out / "ray", optuna_url=f"sqlite:///{out / 'optuna.db'}")
    start = time.perf_counter()
    outcome = tune_variant(spec, space, settings, dataset)
    wall = time.perf_counter() - start
    assert outcome.trials.height == TRIALS
    return wall


def main() -> dict[str, float]:
    from robustlab.tune.cluster import connect

    spec, space, dataset = _spec_and_data()
    optuna_s = _plain_optuna(spec, space, dataset)
    with tempfile.TemporaryDirectory(prefix="rl-bench-", dir="/tmp") as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        with connect(None, out):
            init_s = time.perf_counter() - start
            ray1_s = _ray(spec, space, dataset, out, 1)
            ray2_s = _ray(spec, space, dataset, out, 2)
    figures = {"trials": TRIALS, "epochs": EPOCHS, "optuna_s": optuna_s, "ray_x1_s": ray1_s,
               "ray_x2_s": ray2_s, "ray_init_s": init_s,
               "overhead_ratio_x1": ray1_s / optuna_s, "speedup_x2": ray1_s / ray2_s}
    print(f"{'path':<24}{'wall s':>10}")
    for name, key in [("plain optuna (x1)", "optuna_s"), ("ray tune x1", "ray_x1_s"),
                      ("ray tune x2", "ray_x2_s"), ("ray.init (once)", "ray_init_s")]:
        print(f"{name:<24}{figures[key]:>10.1f}")
    print(f"overhead ray x1 / optuna: {figures['overhead_ratio_x1']:.2f}  (target <= 1.3)")
    print(f"speed-up x1 / x2:         {figures['speedup_x2']:.2f}")
    return figures


if __name__ == "__main__":
    main()
