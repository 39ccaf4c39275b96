"""The Ray Tune + Optuna path for one variant, in-process on a local Ray instance: equal
budgets recorded, a diverged trial becomes a failed row (and an Optuna FAIL), the study in
SQLite, a finished tuning restored instead of rerun, and a full disk under Ray's folder (which
Ray itself only logs) an error that removes the folder."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import polars as pl
import pytest

from robustlab.data import DATASETS
from robustlab.evaluate import Task
from robustlab.methods import METHODS
from robustlab.methods.encoders import ENCODERS
from robustlab.results import TRIAL_COLUMNS, StorageError, check_columns
from robustlab.search_space import Choice
from robustlab.train import TrainConfig
from robustlab.tune.cluster import Resources, connect
from robustlab.tune.space import SearchSpace
from robustlab.tune.trainable import TrialSpec
from robustlab.tune.tuner import TuneSettings, tune_variant

from .conftest import fill

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def _settings(out: Path, trials: int, storage: Path | None = None) -> TuneSettings:
    return TuneSettings(name="clip", trials=trials, epochs=2, scheduler="fifo",
                        metric="val_top1", grace_period=1, reduction_factor=2, seed=0,
                        resources=Resources(cpu=1, gpu=0, concurrency=2),
                        storage=storage or out / "ray",
                        optuna_url=f"sqlite:///{out / 'optuna.db'}")


def _clip_spec() -> TrialSpec:
    return TrialSpec(method="clip", options=METHODS.get("clip").Options(),
                     encoder=ENCODERS.get("mlp")(dim=16, depth=2, hidden=32),
                     task=Task(target="a"),
                     train=TrainConfig(epochs=2, batch_size=64, grad_clip=None, seed=0),
                     train_perturbation=None, metric="val_top1")


def test_diverged_trial_is_a_failed_row_and_the_study_goes_on(tmp_path: Path) -> None:
    dataset = DATASETS.get("synthetic_xnor")(n=400, bits=4, dim=16).build(0)
    spec = _clip_spec()
    # lr = 1e12 with decoupled weight decay 1e-2 makes CLIP's loss NaN in the first epoch.
    space = SearchSpace(free={"lr": Choice((1e-3, 1e12))}, fixed={"weight_decay": 1e-2})
    settings = _settings(tmp_path, trials=4)
    with connect(None, tmp_path):
        outcome = tune_variant(spec, space, settings, dataset)
        again = tune_variant(spec, space, settings, dataset)  # restored, not rerun
    rows = outcome.trials
    check_columns(rows, TRIAL_COLUMNS, "trials")
    assert rows.height == 4 and rows["trial_id"].to_list() == [f"clip-000{i}" for i in range(1, 5)]
    lrs = [json.loads(c)["lr"] for c in rows["config"]]
    failed = rows.filter(pl.col("status") == "failed")
    assert set(lrs) == {1e-3, 1e12}, "the seeded TPE start should try both values"
    assert failed.height == lrs.count(1e12)
    assert all("DivergedError" in e for e in failed["error"])
    ok = rows.filter(pl.col("status") == "completed")
    assert ok.height == lrs.count(1e-3) and (ok["epochs"] == 2).all()
    assert ok["metric_history"].list.len().to_list() == [2] * ok.height
    assert outcome.best_config == {"lr": 1e-3, "weight_decay": 1e-2}
    assert (rows["cpu"] == 1.0).all() and (rows["wall_time_s"] > 0).all()
    assert (rows["finished_at"] > 1.7e9).all()  # Unix time of each trial's last result
    # Optuna's own record: the same trials, diverged ones FAIL.
    study = optuna.load_study(study_name="clip", storage=settings.optuna_url)
    states = sorted(t.state.name for t in study.trials)
    assert states == sorted(["FAIL"] * failed.height + ["COMPLETE"] * ok.height)
    # Restoring a finished experiment runs nothing and gives the same table.
    assert again.trials.drop("wall_time_s").equals(rows.drop("wall_time_s"))
    assert len(study.trials) == 4


def test_a_full_disk_under_rays_folder_is_an_error_not_empty_trials(
    tmp_path: Path, tmpfs: Callable[[Path, str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Ray logs a failed save and goes on, leaving the trials' files empty (their histories
    would be lost): the tuning must stop instead, and not leave a folder to restore from."""
    dataset = DATASETS.get("synthetic_xnor")(n=400, bits=4, dim=16).build(0)
    storage = tmpfs(tmp_path / "ray", "16m")
    space = SearchSpace(free={"lr": Choice((1e-3, 2e-3))}, fixed={"weight_decay": 1e-2})
    settings = _settings(tmp_path, trials=2, storage=storage)

    def fill_once_a_trial_starts() -> None:  # full disk mid-tuning: Ray's silent case
        while not any((storage / "clip").glob("run_trial*")):
            time.sleep(0.01)
        fill(storage)

    filler = threading.Thread(target=fill_once_a_trial_starts, daemon=True)
    filler.start()
    with connect(None, tmp_path), pytest.raises(StorageError) as err:
        tune_variant(_clip_spec(), space, settings, dataset)
    filler.join(timeout=5)
    assert re.fullmatch(r"disk full while tuning 'clip' \(.*No space left on device.*\); its Ray "
                        r"folder is removed, so the next run tunes it again from its start",
                        str(err.value)), str(err.value)
    assert not (storage / "clip").exists()
    assert "Saving experiment state" not in caplog.text  # reported once, by us


def test_trial_config_splits_into_training_and_option_fields() -> None:
    from robustlab.tune.trainable import apply_config

    options = METHODS.get("symile").Options()
    spec = TrialSpec(method="symile", options=options, encoder=None, task=Task(target="a"),
                     train=TrainConfig(epochs=3, seed=5), train_perturbation=None,
                     metric="val_top1")
    train, opts = apply_config(spec, {"lr": 0.002, "logit_scale_init": 1.5})
    assert (train.lr, train.epochs, train.seed) == (0.002, 3, 5)
    assert opts == dataclasses.replace(options, logit_scale_init=1.5)
    with pytest.raises(ValueError, match="neither training fields nor options"):
        apply_config(spec, {"gate_lr_mult": 2.0})
