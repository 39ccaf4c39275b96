"""One Ray Tune `Tuner` per variant, each driven by its own `OptunaSearch` (DESIGN §8).

Equal footing: every variant gets the same number of trials, epochs, scheduler, data, TPE
seed and per-trial resources. Each Optuna study lives in one SQLite file (study name = the
variant) so optuna-dashboard can read it; Ray's experiment folder is `<storage>/<variant>`.

Resume: when `<storage>/<variant>` can be restored, `Tuner.restore(..., resume_errored=True)`
continues it: finished trials are kept, unfinished ones rerun (deterministically: a trial's
result depends only on its config and the seed). Otherwise a leftover Optuna study of the same
name is deleted first, so a fresh start is the same as a first run.

Faults: a trial whose worker dies (killed, out of memory) is started again from its first
epoch, up to TRIAL_RETRIES times; the result is the one an undisturbed trial gives (a trial's
result depends only on its config and the seed). A full disk under Ray's folder or optuna.db
ends the tuning with StorageError: Ray itself only logs a failed save and goes on with its
trial files left empty, so the tuning also checks that Ray stored every result it reported.
The variant's Ray folder is then removed, and the next run tunes it again from its start.

ASHA note: a trial that ASHA stops is, to Optuna, a COMPLETE trial with a low-budget score.
Trials therefore report their best-so-far value, and the runner ranks trials by it; the
trials table marks such trials "stopped" so the report can show how far each one got.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl
from ray.tune import Callback
from ray.tune.search.optuna import OptunaSearch

from robustlab.results import StorageError, is_disk_full
from robustlab.tune.cluster import Resources
from robustlab.tune.space import SearchSpace
from robustlab.tune.trainable import TrialSpec, run_trial

# A worker killed mid-trial (OOM killer, a lost node) is an accident of the machine, not a
# property of the config: the trial runs again. A trial that raises fails after as many tries.
TRIAL_RETRIES = 2

Listener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _Listeners:
    on_trial: Listener  # a trial finished or failed: its last record
    on_retry: Listener  # a trial failed and runs again: {"trial", "retry", "retries"}


# Listeners for the progress callback, by variant: kept out of the callback itself because Ray
# pickles the run config (and its callbacks) into the experiment state.
_LISTENERS: dict[str, _Listeners] = {}


@dataclass(frozen=True)
class TuneSettings:
    name: str  # the variant
    trials: int
    epochs: int
    scheduler: str  # "asha" | "fifo"
    metric: str
    grace_period: int
    reduction_factor: int
    seed: int
    resources: Resources
    storage: Path  # Ray's storage_path (absolute)
    optuna_url: str  # sqlite:///<out>/optuna.db


@dataclass(frozen=True)
class TuneOutcome:
    trials: pl.DataFrame  # the rows of trials.parquet for this variant
    best_config: dict[str, Any] | None  # None when every trial failed
    best_metric: float | None
    wall_time_s: float


def tune_variant(
    spec: TrialSpec,
    space: SearchSpace,
    settings: TuneSettings,
    dataset: Any,
    on_trial: Listener | None = None,
    on_retry: Listener | None = None,
) -> TuneOutcome:
    """Run (or resume) the tuning of one variant and collect its trials."""
    from ray import tune

    start = time.perf_counter()
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, spec=spec, dataset=dataset), settings.resources.as_ray())
    _LISTENERS[settings.name] = _Listeners(on_trial or (lambda _: None),
                                           on_retry or (lambda _: None))
    # The new output engine prints tables even at verbose=0; the legacy one stays quiet.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # Tune's own SIGINT handler ends fit() *normally* with unfinished trials; let Ctrl-C
    # raise instead, so an interrupted tuning is never recorded as finished.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        grid = _fit_stored(trainable, space, settings)
    finally:
        _LISTENERS.pop(settings.name, None)
    _check_finished(grid, settings)
    rows = trial_rows(grid, settings)
    best = best_trial(rows)
    return TuneOutcome(
        trials=rows,
        best_config=None if best is None else json.loads(best["config"]),
        best_metric=None if best is None else best["metric"],
        wall_time_s=time.perf_counter() - start,
    )


def _fit(trainable: Any, space: SearchSpace, settings: TuneSettings) -> Any:
    """Restore and finish an interrupted experiment, else run a fresh one.

    A run killed between Ray's snapshots can leave an experiment whose searcher counted a
    trial the snapshot lacks; restored, it finishes short of the budget. That variant is then
    tuned again from scratch (deterministic, so the same trials), keeping budgets equal."""
    from ray import tune

    path = settings.storage / settings.name
    if tune.Tuner.can_restore(str(path)):
        try:
            grid = tune.Tuner.restore(str(path), trainable=trainable,
                                      resume_errored=True).fit()
            if len(grid) == settings.trials:
                return grid
        except Exception:  # killed before Ray saved a consistent state
            pass
        shutil.rmtree(path, ignore_errors=True)
    _delete_optuna_study(settings)
    return _fresh_tuner(trainable, space, settings).fit()


def _fit_stored(trainable: Any, space: SearchSpace, settings: TuneSettings) -> Any:
    """`_fit`, raising StorageError (and removing the variant's Ray folder, which a resume
    could not trust) when the disk filled up under Ray's folder or optuna.db, or Ray did not
    store every result it reported."""
    path = settings.storage / settings.name
    watch = _StorageWatch()
    try:
        with watch:
            grid = _fit(trainable, space, settings)
    except Exception as err:
        if not is_disk_full(err):
            raise
        watch.problem = _disk_full_line(err)
    if watch.problem is not None:
        what = f"disk full while tuning {settings.name!r} ({watch.problem})"
    elif (lost := _unstored(grid, settings)) is not None:
        what = f"Ray lost results while tuning {settings.name!r} ({lost}; a full disk?)"
    else:
        return grid
    shutil.rmtree(path, ignore_errors=True)
    raise StorageError(f"{what}; its Ray folder is removed, so the next run tunes it again "
                       f"from its start")


class _StorageWatch(logging.Filter):
    """Catches Ray's log of a failed save of the experiment state (Ray goes on after it) and
    keeps the traceback off the console: the run reports it in one line."""

    LOGGER = "ray.tune.execution.experiment_state"

    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if err is None or not is_disk_full(err):
            return True
        self.problem = self.problem or _disk_full_line(err)
        return False

    def __enter__(self) -> _StorageWatch:
        logging.getLogger(self.LOGGER).addFilter(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        logging.getLogger(self.LOGGER).removeFilter(self)


def _unstored(grid: Any, settings: TuneSettings) -> str | None:
    """A trial whose results Ray did not all store (its trial files were written on a full
    disk): Ray reports none of this itself."""
    for result in grid:
        reported = (result.metrics or {}).get("training_iteration")
        frame = result.metrics_dataframe
        stored = 0 if frame is None else len(frame)
        if isinstance(reported, int) and stored < reported:
            tag = str((result.metrics or {}).get("experiment_tag", "0"))
            return (f"Ray stored {stored} of the {reported} results of trial "
                    f"{_trial_key(settings.name, tag)} under {result.path}")
    return None


def _disk_full_line(err: BaseException) -> str:
    """The line that says the disk is full, from the root cause of `err` outwards (Ray wraps
    errors of its loop as a whole traceback in text: there, the first such line)."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and not any(current is seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    for exc in reversed(chain):
        lines = str(exc).splitlines() or [""]
        if is_disk_full(RuntimeError(lines[0])):
            kind = type(exc)
            name = kind.__qualname__ if kind.__module__ == "builtins" else (
                f"{kind.__module__}.{kind.__qualname__}")
            return f"{name}: {lines[0].strip()}"
        for line in lines[1:]:
            if is_disk_full(RuntimeError(line)):
                return line.strip()
    return f"{type(err).__name__}: {err}".splitlines()[0]


class TuningInterrupted(RuntimeError):
    """fit() returned with trials missing or unfinished (the run was stopped)."""


def _check_finished(grid: Any, settings: TuneSettings) -> None:
    trials = getattr(getattr(grid, "_experiment_analysis", None), "trials", None) or []
    open_trials = [t for t in trials if t.status not in ("TERMINATED", "ERROR")]
    if len(grid) != settings.trials or open_trials:
        raise TuningInterrupted(
            f"tuning of {settings.name!r} stopped with {len(grid)} of {settings.trials} trials "
            f"({len(open_trials)} unfinished); rerun the same command to continue")


def _fresh_tuner(trainable: Any, space: SearchSpace, settings: TuneSettings) -> Any:
    from ray import tune

    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=_searcher(space, settings),
            scheduler=_scheduler(settings),
            num_samples=settings.trials,
            max_concurrent_trials=settings.resources.concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=settings.name,
            storage_path=str(settings.storage),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
            callbacks=[_Progress(settings.name)],
        ),
    )


def _searcher(space: SearchSpace, settings: TuneSettings) -> Any:
    import optuna

    sampler = optuna.samplers.TPESampler(seed=settings.seed)
    storage = optuna.storages.RDBStorage(settings.optuna_url)
    # metric/mode go to the searcher itself: its space is a define-by-run function.
    return DivergenceAwareOptunaSearch(space.suggest, metric=settings.metric, mode="max",
                                  sampler=sampler, study_name=settings.name, storage=storage)


def _scheduler(settings: TuneSettings) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if settings.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="epoch", metric=settings.metric, mode="max",
                         max_t=settings.epochs, grace_period=min(settings.grace_period,
                                                                 settings.epochs),
                         reduction_factor=settings.reduction_factor)


def _delete_optuna_study(settings: TuneSettings) -> None:
    import optuna

    storage = optuna.storages.RDBStorage(settings.optuna_url)
    names = {s.study_name for s in storage.get_all_studies()}
    if settings.name in names:
        optuna.delete_study(study_name=settings.name, storage=storage)


class DivergenceAwareOptunaSearch(OptunaSearch):
    """OptunaSearch that tells Optuna FAIL for a trial whose last record says it diverged
    (Ray saw a normal end: the trial caught the divergence and reported it)."""

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result and result.get("diverged"):
            super().on_trial_complete(trial_id, None, error=True)
        else:
            super().on_trial_complete(trial_id, result, error)


class _Progress(Callback):
    """Forwards finished trials to the listener registered for this variant."""

    def __init__(self, name: str) -> None:
        self.name = name

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._send(trial, failed=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._send(trial, failed=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        listeners = _LISTENERS.get(self.name)
        if listeners is not None:
            listeners.on_retry({"trial": _trial_key(self.name, trial.experiment_tag),
                                "retry": int(trial.num_failures), "retries": TRIAL_RETRIES})

    def _send(self, trial: Any, failed: bool) -> None:
        listeners = _LISTENERS.get(self.name)
        if listeners is not None:
            result = dict(trial.last_result or {})
            listeners.on_trial({"trial": _trial_key(self.name, trial.experiment_tag),
                                "failed": failed, **result})


def _trial_key(name: str, experiment_tag: str) -> str:
    """A stable trial id: Ray's trial ids are random; the experiment tag starts with the
    trial's 1-based creation index (`"3_lr=0.001,..."`), which is the Optuna ask order."""
    return f"{name}-{int(experiment_tag.split('_', 1)[0]):04d}"


def trial_rows(grid: Any, settings: TuneSettings) -> pl.DataFrame:
    """One row per trial in the contract of results.TRIAL_COLUMNS (+ metric_history)."""
    rows = [_row(result, settings) for result in grid]
    rows.sort(key=lambda r: r["trial_id"])
    return pl.DataFrame(rows, schema=_ROW_SCHEMA)


def _row(result: Any, settings: TuneSettings) -> dict[str, Any]:
    last = dict(result.metrics or {})
    history = _history(result, settings.metric)
    error = last.get("error") if last.get("diverged") else None
    if result.error is not None:
        error = f"{type(result.error).__name__}: {result.error}"
    epochs = int(last.get("epoch") or 0)
    # ASHA stops every trial that reaches max_t, before its closing "finished" record
    # ("done" is a key Ray itself sets on the last result of every trial, stopped or not).
    finished = bool(last.get("finished")) or epochs >= settings.epochs
    status = "failed" if error is not None else "completed" if finished else "stopped"
    metric = last.get(settings.metric)
    return {
        "method": settings.name,
        "trial_id": _trial_key(settings.name, str(last.get("experiment_tag", "0"))),
        "config": json.dumps(result.config or {}, sort_keys=True, default=str),
        "status": status,
        "metric": None if metric is None or not math.isfinite(metric) else float(metric),
        "metric_history": history,
        "epochs": epochs,
        "wall_time_s": float(last.get("time_total_s") or 0.0),
        "finished_at": _finished_at(last),
        "cpu": settings.resources.cpu,
        "gpu": settings.resources.gpu,
        "error": error,
    }


def _finished_at(last: dict[str, Any]) -> float | None:
    """When the trial's last result came (Unix seconds): the completion order of the trials,
    which the adequacy rule "tuning not converged" reads."""
    stamp = last.get("reported_at", last.get("timestamp"))  # Ray's own is whole seconds
    return float(stamp) if isinstance(stamp, int | float) else None


def _history(result: Any, metric: str) -> list[float]:
    """Per-epoch validation values (this epoch's, not best-so-far), in epoch order."""
    frame = result.metrics_dataframe
    if frame is None or "val_metric" not in frame:
        return []
    values = frame["val_metric"].tolist()
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def best_trial(rows: pl.DataFrame) -> dict[str, Any] | None:
    """The best non-failed trial by best-so-far metric; ties go to the earliest trial."""
    ok = rows.filter((pl.col("status") != "failed") & pl.col("metric").is_not_null())
    if ok.height == 0:
        return None
    return ok.sort(["metric", "trial_id"], descending=[True, False]).row(0, named=True)


_ROW_SCHEMA: dict[str, Any] = {
    "method": pl.String, "trial_id": pl.String, "config": pl.String, "status": pl.String,
    "metric": pl.Float64, "metric_history": pl.List(pl.Float64), "epochs": pl.Int64,
    "wall_time_s": pl.Float64, "cpu": pl.Float64, "gpu": pl.Float64, "error": pl.String,
    "finished_at": pl.Float64,
}
