"""Run a resolved study: tune every variant, retrain the best configs on the final seeds,
evaluate under the grid, write the results files (DESIGN §8, §9), render the report.

Output folder layout (`reports/<study>/` by default):
    predictions.parquet, trials.parquet, manifest.json   the results contract (results.py)
    optuna.db                                          one Optuna study per variant
    ray/<variant>/                                     Ray Tune experiment folders
    ray_tmp/                                           Ray's temp dir (local cluster)
    parts/                                             finished units of work, for resuming:
        study.json              the study's fingerprint (a folder holds one study)
        tuning/<variant>.*      trials and best config of a finished tuning
        finals/<variant>/seed<k>.*   predictions, info and test embeddings (.emb.npz, for
                                     slice discovery) of a finished final run
    report.html

Every file is written atomically. Rerunning the same command continues: finished tunings and
final runs are read back, not redone; an interrupted tuning resumes through Ray Tune.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from robustlab.embedding_store import embeddings_path, write_embeddings
from robustlab.results import (
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    TRIALS_FILE,
    atomic_write_json,
    atomic_write_parquet,
    check_predictions,
    scored,
)
from robustlab.study import manifest as prov
from robustlab.study.adequacy import assess_study, search_ranges, trials_with_adequacy
from robustlab.study.plugins import plugins_used
from robustlab.study.progress import StudyProgress
from robustlab.study.resolve import Plan, Variant
from robustlab.study.spec import SpecError
from robustlab.tune.cluster import ClusterInfo, Resources, connect, local_machine, plan_resources
from robustlab.tune.trainable import TrialSpec


class StudyFolderError(SpecError):
    """The output folder holds a different study, or nothing to resume."""


@dataclass(frozen=True)
class RunOptions:
    out: Path
    address: str | None = None
    resume: bool = False
    smoke: bool = False
    progress: bool | None = None  # None: live bars on a terminal, plain lines otherwise
    command: tuple[str, ...] = ()


@dataclass
class _Tuned:
    rows: pl.DataFrame
    best_config: dict[str, Any] | None
    best_metric: float | None
    wall_time_s: float


def run_study(plan: Plan, options: RunOptions) -> Path:
    """Run `plan` into `options.out`; returns the output folder. Raises SpecError (and its
    subclasses) or ResourceError before anything is written when the request is impossible."""
    out = options.out.resolve()
    fingerprint = prov.fingerprint(plan.spec)
    _check_folder(out, plan, fingerprint, options.resume)
    if options.address is None:
        _resources(plan, local_machine())  # fail before Ray writes its temp dir
    started = datetime.now(UTC)
    with StudyProgress(options.progress) as progress:
        progress.start_study(plan.spec.name, len(plan.variants), plan.spec.budget.trials,
                             plan.total_final_runs)
        with connect(options.address, out) as cluster:
            resources = _resources(plan, cluster)
            _start_folder(out, plan, fingerprint)
            base = _manifest(plan, options, cluster, resources, started, fingerprint)
            atomic_write_json({**base, "status": "running"}, out / MANIFEST_FILE)
            tuned = {v.name: _tune(plan, v, resources, out, progress) for v in plan.variants}
            atomic_write_parquet(_all_trials(tuned), out / TRIALS_FILE)
            finals = _finals(plan, tuned, resources, out, progress)
        return _finish(plan, out, base, started, tuned, finals, progress)


def _finish(plan: Plan, out: Path, base: dict[str, Any], started: datetime,
            tuned: dict[str, _Tuned], finals: dict[tuple[str, int], dict[str, Any]],
            progress: StudyProgress) -> Path:
    """Predictions, budget adequacy, the manifest and the report, once every run is done."""
    predictions = _collect_predictions(plan, out)
    check_predictions(predictions, str(out / PREDICTIONS_FILE))
    atomic_write_parquet(predictions, out / PREDICTIONS_FILE)
    progress.note(f"predictions.parquet: {predictions.height:,} rows")
    ended = datetime.now(UTC)
    methods = {v.name: _method_record(plan, v, tuned[v.name], finals) for v in plan.variants}
    trials = _all_trials(tuned)
    verdicts, adequacy = assess_study(plan, methods, trials, scored(predictions))
    for name, verdict in verdicts.items():
        methods[name]["adequacy"] = verdict.to_json()
    atomic_write_parquet(trials_with_adequacy(plan, trials, verdicts), out / TRIALS_FILE)
    final = {**base, "status": "complete", "finished_at": ended.isoformat(),
             "wall_time_s": (ended - started).total_seconds(), "methods": methods,
             "adequacy": adequacy}
    atomic_write_json(final, out / MANIFEST_FILE)  # the report reads it
    final["report"] = _render_report(out)
    atomic_write_json(final, out / MANIFEST_FILE)
    report = final["report"]
    progress.note(f"report {report['status']}" + (
        f" in {report['wall_time_s']:.1f}s" if "wall_time_s" in report else ""))
    return out


def _resources(plan: Plan, cluster: ClusterInfo) -> Resources:
    r = plan.spec.resources
    return plan_resources(cluster, r.cpu, r.gpu, r.concurrency, plan.spec.budget.trials)


def _check_folder(out: Path, plan: Plan, fingerprint: str, resume: bool) -> None:
    marker = out / "parts" / "study.json"
    if marker.is_file():
        held = json.loads(marker.read_text())
        if held.get("fingerprint") != fingerprint:
            raise StudyFolderError(
                f"{out}: holds a different study ({held.get('name')!r}, other settings); "
                f"choose another --out, or remove the folder to start over")
    elif resume:
        raise StudyFolderError(f"{out}: --resume, but there is no study to resume here")


def _start_folder(out: Path, plan: Plan, fingerprint: str) -> None:
    marker = out / "parts" / "study.json"
    if not marker.is_file():
        atomic_write_json({"name": plan.spec.name, "fingerprint": fingerprint}, marker)


def trial_spec(plan: Plan, v: Variant, resources: Resources) -> TrialSpec:
    return TrialSpec(method=v.method, options=v.options, encoder=plan.encoder,
                     task=plan.task, train=plan.train, train_perturbation=v.train_perturbation,
                     metric=plan.spec.budget.metric, threads=max(1, int(resources.cpu)))


def _tune(plan: Plan, variant: Variant, resources: Resources, out: Path,
          progress: StudyProgress) -> _Tuned:
    done = out / "parts" / "tuning" / f"{variant.name}.json"
    budget = plan.spec.budget
    if done.is_file():
        record = json.loads(done.read_text())
        progress.start_tuning(variant.name, budget.trials, budget.trials)
        rows = pl.read_parquet(done.with_suffix(".parquet"))
        return _Tuned(rows, record["best_config"], record["best_metric"], record["wall_time_s"])
    from robustlab.tune.tuner import TuneSettings, tune_variant

    settings = TuneSettings(
        name=variant.name, trials=budget.trials, epochs=budget.epochs,
        scheduler=budget.scheduler, metric=budget.metric, grace_period=budget.grace_period,
        reduction_factor=budget.reduction_factor, seed=plan.spec.seed, resources=resources,
        storage=out / "ray", optuna_url=f"sqlite:///{out / 'optuna.db'}")
    progress.start_tuning(variant.name, budget.trials)
    outcome = tune_variant(trial_spec(plan, variant, resources), variant.space, settings,
                           plan.dataset,
                           on_trial=lambda r: progress.trial_done(variant.name, r, budget.metric))
    atomic_write_parquet(outcome.trials, done.with_suffix(".parquet"))
    atomic_write_json({"best_config": outcome.best_config, "best_metric": outcome.best_metric,
                       "wall_time_s": outcome.wall_time_s}, done)
    progress.tuning_done(variant.name, outcome.wall_time_s)
    return _Tuned(outcome.trials, outcome.best_config, outcome.best_metric, outcome.wall_time_s)


def _all_trials(tuned: dict[str, _Tuned]) -> pl.DataFrame:
    # diagonal: a tuning resumed from an older folder may lack a newer column
    return pl.concat([t.rows for t in tuned.values()], how="diagonal_relaxed")


def _final_path(out: Path, variant: str, seed: int) -> Path:
    return out / "parts" / "finals" / variant / f"seed{seed}.json"


def _finals(plan: Plan, tuned: dict[str, _Tuned], resources: Resources, out: Path,
            progress: StudyProgress) -> dict[tuple[str, int], dict[str, Any]]:
    """Run every missing (variant, seed) as a Ray task; returns each run's info."""
    import ray

    from robustlab.study.finals import final_run

    infos: dict[tuple[str, int], dict[str, Any]] = {}
    todo = []
    for v in plan.variants:
        for seed in plan.spec.final.seeds:
            path = _final_path(out, v.name, seed)
            if path.is_file():
                infos[(v.name, seed)] = json.loads(path.read_text())
            elif tuned[v.name].best_config is None:
                infos[(v.name, seed)] = {"error": "no successful tuning trial"}
            else:
                todo.append((v, seed))
    progress.start_finals(plan.total_final_runs, plan.total_final_runs - len(todo))
    task = ray.remote(final_run).options(num_cpus=resources.cpu, num_gpus=resources.gpu)
    data = ray.put(plan.dataset)
    pending = {task.remote(v.name, trial_spec(plan, v, resources),
                           tuned[v.name].best_config or {}, data, seed, plan.conditions,
                           plan.spec.seed): (v.name, seed)
               for v, seed in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        name, seed = pending.pop(ready[0])
        outcome = ray.get(ready[0])
        path = _final_path(out, name, seed)
        if outcome.predictions is not None:
            atomic_write_parquet(outcome.predictions, path.with_suffix(".parquet"))
        if outcome.embeddings is not None:  # for slice discovery's clusters
            write_embeddings(embeddings_path(path), *outcome.embeddings)
        atomic_write_json(outcome.info, path)  # written last: it marks the run finished
        infos[(name, seed)] = outcome.info
        progress.final_done(f"{name} seed {seed}")
    return infos


def _collect_predictions(plan: Plan, out: Path) -> pl.DataFrame:
    frames = []
    for v in plan.variants:
        for seed in plan.spec.final.seeds:
            path = _final_path(out, v.name, seed).with_suffix(".parquet")
            if path.is_file():
                frames.append(pl.read_parquet(path))
    if not frames:
        raise RuntimeError(f"{out}: no final run produced predictions (see manifest.json)")
    frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.sort(["method", "seed", "condition", "example_id"])


def _manifest(plan: Plan, options: RunOptions, cluster: ClusterInfo, resources: Resources,
              started: datetime, fingerprint: str) -> dict[str, Any]:
    dataset = plan.dataset
    return {
        "study": plan.spec.model_dump(mode="json"),
        "spec_sha256": fingerprint,
        "source": str(plan.source),
        "command": list(options.command),
        "smoke": options.smoke,
        "started_at": started.isoformat(),
        "versions": prov.versions(),
        "git_sha": prov.git_sha(),
        "hardware": prov.hardware(),
        "cluster": cluster.describe(),
        "resources": dataclasses.asdict(resources),
        "seeds": {"study": plan.spec.seed, "final": list(plan.spec.final.seeds),
                  "split": dataset.split_seed, "perturbation": plan.spec.seed},
        "dataset": {"name": dataset.name, "modalities": list(dataset.modalities),
                    "num_classes": dataset.num_classes,
                    "sizes": {k: len(s) for k, s in dataset.splits.items()},
                    "options": dataclasses.asdict(plan.data), **prov.missingness(plan)},
        "conditions": [c.id for c in plan.conditions],
        "method_order": [v.name for v in plan.variants],  # the study file's order
        "plugins": plugins_used(plan),  # the distribution and version of every plugin used
        "notes": [prov.ASHA_NOTE] if plan.spec.budget.scheduler == "asha" else [],
    }


def _method_record(plan: Plan, v: Variant, tuned: _Tuned,
                   finals: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    rows = tuned.rows
    runs = {str(seed): finals.get((v.name, seed), {}) for seed in plan.spec.final.seeds}
    params = next((r["num_parameters"] for r in runs.values() if "num_parameters" in r), None)
    return {
        "registry": v.method,
        "options": dataclasses.asdict(v.options),
        "train_perturbation": _describe(v.train_perturbation),
        "search_space": v.space.describe(),
        "search_ranges": search_ranges(plan, v),
        "best_config": tuned.best_config,
        "best_metric": tuned.best_metric,
        "param_count": params,
        "budget": {
            "trials": rows.height,
            "completed": int((rows["status"] == "completed").sum()),
            "stopped": int((rows["status"] == "stopped").sum()),
            "failed": int((rows["status"] == "failed").sum()),
            "epochs": int(rows["epochs"].sum()),
            "trial_wall_time_s": float(rows["wall_time_s"].sum()),
            "tuning_wall_time_s": tuned.wall_time_s,
            "final_wall_time_s": sum(float(r.get("wall_time_s", 0.0)) for r in runs.values()),
        },
        "finals": runs,
    }


def _render_report(out: Path) -> dict[str, Any]:
    """Render report.html when the report package is importable; a failure is recorded."""
    try:
        from robustlab.report import render_report
    except ImportError as err:
        return {"status": "skipped", "reason": f"robustlab.report not importable: {err}"}
    start = time.perf_counter()
    try:
        path = render_report(out)
    except Exception as err:  # the results stand; the manifest and the CLI say what failed
        return {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    return {"status": "written", "path": str(path), "wall_time_s": time.perf_counter() - start}


def _describe(op: Any | None) -> str:
    return "none" if op is None else str(op.describe())
