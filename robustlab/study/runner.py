"""Run a resolved study: tune every variant, retrain the best configs on the final seeds,
evaluate under the grid, write the results files (DESIGN §8, §9), render the report.

Output folder layout (`reports/<study>/` by default):
    predictions.parquet, trials.parquet, manifest.json   the results contract (results.py)
    optuna.db                                          one Optuna study per variant
    ray/<variant>/                                     Ray Tune experiment folders
    ray_tmp/                                           Ray's temp dir (local cluster)
    study.lock                                         held by the run writing here (folder.py)
    parts/                                             finished units of work, for resuming:
        study.json              the study's fingerprint (a folder holds one study)
        tuning/<variant>.json + .trials.parquet        trials and best config of a tuning
        finals/<variant>/seed<k>.json + .predictions.parquet + .emb.npz
                                                       info, predictions and test embeddings
                                                       (slice discovery) of a final run
                                                       (units.py: checksummed)
    report.html

Every file is written atomically; one run at a time writes the folder. Rerunning the same
command continues: finished tunings and final runs are read back (verified against the
checksums written with them; a damaged one is redone), not redone; an interrupted tuning
resumes through Ray Tune. The results files are rebuilt from parts/ on every run, and
manifest.json records their checksums (`files`). docs/faults.md says what is guaranteed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from robustlab.embedding_store import embeddings_bytes
from robustlab.results import (
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    REPORT_FILE,
    TRIALS_FILE,
    FileDigest,
    atomic_write_json,
    atomic_write_parquet,
    check_predictions,
    remove_temp_files,
    scored,
)
from robustlab.study import folder
from robustlab.study import manifest as prov
from robustlab.study.adequacy import assess_study, search_ranges, trials_with_adequacy
from robustlab.study.plugins import plugins_used
from robustlab.study.progress import StudyProgress
from robustlab.study.resolve import Plan, Variant
from robustlab.study.units import Unit, UnitStore
from robustlab.tune.cluster import ClusterInfo, Resources, connect, local_machine, plan_resources
from robustlab.tune.trainable import TrialSpec


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
    folder.check_free(out)
    folder.check_study(out, plan.spec.name, fingerprint, options.resume)
    if options.address is None:
        _resources(plan, local_machine())  # fail before Ray writes its temp dir
    started = datetime.now(UTC)
    with folder.hold(out, options.command), StudyProgress(options.progress) as progress:
        # again, holding the folder: another run may have started a study here meanwhile
        folder.check_study(out, plan.spec.name, fingerprint, options.resume)
        folder.check_optuna_db(out)
        _sweep(out)
        store = UnitStore(out / "parts", progress.warn)
        progress.start_study(plan.spec.name, len(plan.variants), plan.spec.budget.trials,
                             plan.total_final_runs)
        with connect(options.address, out) as cluster:
            resources = _resources(plan, cluster)
            _start_folder(out, plan, fingerprint)
            base = _manifest(plan, options, cluster, resources, started, fingerprint)
            atomic_write_json({**base, "status": "running"}, out / MANIFEST_FILE)
            tuned = {v.name: _tune(plan, v, resources, out, store, progress)
                     for v in plan.variants}
            atomic_write_parquet(_all_trials(tuned), out / TRIALS_FILE)
            finals, sequential = _finals(plan, tuned, resources, store, progress)
        if sequential is not None:
            base = {**base, "sequential": sequential}
        return _finish(plan, out, base, started, tuned, finals, store, progress)


def _sweep(out: Path) -> None:
    """Temp files of atomic writes a killed run left (only the folder's holder may)."""
    remove_temp_files(out)
    if (out / "parts").is_dir():
        remove_temp_files(out / "parts", recursive=True)


def _finish(plan: Plan, out: Path, base: dict[str, Any], started: datetime,
            tuned: dict[str, _Tuned], finals: dict[tuple[str, int], dict[str, Any]],
            store: UnitStore, progress: StudyProgress) -> Path:
    """Predictions, budget adequacy, the manifest and the report, once every run is done."""
    predictions = _collect_predictions(plan, store, store.load)
    check_predictions(predictions, str(out / PREDICTIONS_FILE))
    files = {PREDICTIONS_FILE: atomic_write_parquet(predictions, out / PREDICTIONS_FILE)}
    progress.note(f"predictions.parquet: {predictions.height:,} rows")
    ended = datetime.now(UTC)
    methods = {v.name: _method_record(plan, v, tuned[v.name], finals) for v in plan.variants}
    trials = _all_trials(tuned)
    verdicts, adequacy = assess_study(plan, methods, trials, scored(predictions))
    for name, verdict in verdicts.items():
        methods[name]["adequacy"] = verdict.to_json()
    files[TRIALS_FILE] = atomic_write_parquet(trials_with_adequacy(plan, trials, verdicts),
                                              out / TRIALS_FILE)
    if (out / folder.OPTUNA_DB).is_file():  # no tuning writes it from here on
        files[folder.OPTUNA_DB] = FileDigest.of_file(out / folder.OPTUNA_DB)
    final = {**base, "status": "complete", "finished_at": ended.isoformat(),
             "wall_time_s": (ended - started).total_seconds(), "methods": methods,
             "adequacy": adequacy, "files": _files_json(files)}
    atomic_write_json(final, out / MANIFEST_FILE)  # the report reads it
    final["report"] = _render_report(out)
    if final["report"]["status"] == "written":
        files[REPORT_FILE] = FileDigest.of_file(out / REPORT_FILE)
        final["files"] = _files_json(files)
    atomic_write_json(final, out / MANIFEST_FILE)
    report = final["report"]
    progress.note(f"report {report['status']}" + (
        f" in {report['wall_time_s']:.1f}s" if "wall_time_s" in report else ""))
    return out


def _resources(plan: Plan, cluster: ClusterInfo) -> Resources:
    r = plan.spec.resources
    return plan_resources(cluster, r.cpu, r.gpu, r.concurrency, plan.spec.budget.trials)


def _files_json(files: dict[str, FileDigest]) -> dict[str, dict[str, Any]]:
    """The results files' checksums as written, for the manifest (the report verifies
    predictions.parquet and trials.parquet against them)."""
    return {name: digest.to_json() for name, digest in files.items()}


def _start_folder(out: Path, plan: Plan, fingerprint: str) -> None:
    marker = out / folder.MARKER
    if not marker.is_file():
        atomic_write_json({"name": plan.spec.name, "fingerprint": fingerprint}, marker)


def trial_spec(plan: Plan, v: Variant, resources: Resources) -> TrialSpec:
    return TrialSpec(method=v.method, options=v.options, encoder=plan.encoder,
                     task=plan.task, train=plan.train, train_perturbation=v.train_perturbation,
                     metric=plan.spec.budget.metric, threads=max(1, int(resources.cpu)))


def _tune(plan: Plan, variant: Variant, resources: Resources, out: Path, store: UnitStore,
          progress: StudyProgress) -> _Tuned:
    key = f"tuning/{variant.name}"
    budget = plan.spec.budget
    done = store.read(key)
    if done is not None:
        record = done.record
        progress.start_tuning(variant.name, budget.trials, budget.trials)
        return _Tuned(done.frame("trials.parquet"), record["best_config"],
                      record["best_metric"], record["wall_time_s"])
    from robustlab.tune.tuner import TuneSettings, tune_variant

    settings = TuneSettings(
        name=variant.name, trials=budget.trials, epochs=budget.epochs,
        scheduler=budget.scheduler, metric=budget.metric, grace_period=budget.grace_period,
        reduction_factor=budget.reduction_factor, seed=plan.spec.seed, resources=resources,
        storage=out / "ray", optuna_url=f"sqlite:///{out / 'optuna.db'}")
    progress.start_tuning(variant.name, budget.trials)
    outcome = tune_variant(trial_spec(plan, variant, resources), variant.space, settings,
                           plan.dataset,
                           on_trial=lambda r: progress.trial_done(variant.name, r, budget.metric),
                           on_retry=lambda r: progress.trial_retried(variant.name, r))
    store.write(key, {"best_config": outcome.best_config, "best_metric": outcome.best_metric,
                      "wall_time_s": outcome.wall_time_s}, {"trials.parquet": outcome.trials})
    progress.tuning_done(variant.name, outcome.wall_time_s)
    return _Tuned(outcome.trials, outcome.best_config, outcome.best_metric, outcome.wall_time_s)


def _all_trials(tuned: dict[str, _Tuned]) -> pl.DataFrame:
    # diagonal: a tuning resumed from an older folder may lack a newer column
    return pl.concat([t.rows for t in tuned.values()], how="diagonal_relaxed")


def _final_key(variant: str, seed: int) -> str:
    return f"finals/{variant}/seed{seed}"


def _finals(plan: Plan, tuned: dict[str, _Tuned], resources: Resources, store: UnitStore,
            progress: StudyProgress) -> tuple[dict[tuple[str, int], dict[str, Any]],
                                              dict[str, Any] | None]:
    """Every (variant, initial seed) as a Ray task, then, with `final.until_decided`, the
    looks of the sequential phase (study/sequential.py). Returns each run's info and the
    manifest's `sequential` record (None for a fixed design)."""
    from robustlab.study import sequential

    infos: dict[tuple[str, int], dict[str, Any]] = {}
    first = [(v.name, seed) for v in plan.variants for seed in plan.spec.final.seeds]
    progress.start_finals(plan.total_final_runs, sum(_finished(store, v, s) for v, s in first))
    _run_finals(plan, tuned, resources, store, progress, first, infos)
    if sequential.design_of(plan) is None:
        return infos, None

    def train(runs: list[tuple[str, int]]) -> None:
        progress.start_finals(len(runs), sum(_finished(store, v, s) for v, s in runs))
        _run_finals(plan, tuned, resources, store, progress, runs, infos)

    # store.read: a damaged unit is left out of a look, which then asks for it: it is redone
    record = sequential.run_until_decided(
        plan, lambda: _collect_predictions(plan, store, store.read), lambda: _failed_runs(infos),
        train, progress.note)
    return infos, record


def _finished(store: UnitStore, variant: str, seed: int) -> bool:
    return store.sidecar(_final_key(variant, seed)).is_file()


def _failed_runs(infos: dict[tuple[str, int], dict[str, Any]]) -> dict[str, set[int]]:
    """Seeds whose final run ended without predictions (diverged, or nothing to retrain)."""
    failed: dict[str, set[int]] = {}
    for (name, seed), info in infos.items():
        if "error" in info:
            failed.setdefault(name, set()).add(seed)
    return failed


def _run_finals(plan: Plan, tuned: dict[str, _Tuned], resources: Resources, store: UnitStore,
                progress: StudyProgress, runs: list[tuple[str, int]],
                infos: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Run every missing (variant, seed) of `runs` as a Ray task; record each run's info."""
    import ray

    from robustlab.study.finals import final_run

    variants = {v.name: v for v in plan.variants}
    todo = []
    for name, seed in runs:
        done = store.read(_final_key(name, seed))
        if done is not None:
            infos[(name, seed)] = done.record
        elif tuned[name].best_config is None:
            infos[(name, seed)] = {"error": "no successful tuning trial"}
        else:
            todo.append((variants[name], seed))
    task = ray.remote(final_run).options(num_cpus=resources.cpu, num_gpus=resources.gpu)
    data = ray.put(plan.dataset) if todo else None
    pending = {task.remote(v.name, trial_spec(plan, v, resources),
                           tuned[v.name].best_config or {}, data, seed, plan.conditions,
                           plan.spec.seed): (v.name, seed)
               for v, seed in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        name, seed = pending.pop(ready[0])
        outcome = ray.get(ready[0])
        payloads: dict[str, Any] = {}
        if outcome.predictions is not None:
            payloads["predictions.parquet"] = outcome.predictions
        if outcome.embeddings is not None:  # for slice discovery's clusters
            payloads["emb.npz"] = embeddings_bytes(*outcome.embeddings)
        store.write(_final_key(name, seed), outcome.info, payloads)
        infos[(name, seed)] = outcome.info
        progress.final_done(f"{name} seed {seed}")


def _seeds_run(store: UnitStore, variant: str) -> list[int]:
    """The seeds of `variant` whose final run finished (its unit's sidecar exists), sorted."""
    folder = store.root / "finals" / variant
    return sorted(int(p.stem[4:]) for p in folder.glob("seed*.json") if p.stem[4:].isdigit())


def _collect_predictions(plan: Plan, store: UnitStore,
                         read: Callable[[str], Unit | None]) -> pl.DataFrame:
    """Every final unit's predictions. `read`: `store.load` once the runs are done (a unit
    damaged since raises UnitDamaged: exit 2, and a rerun redoes it), `store.read` between
    the looks of the sequential phase (a damaged unit is left out, and its look redoes it)."""
    frames = []
    for v in plan.variants:
        for seed in _seeds_run(store, v.name):
            done = read(_final_key(v.name, seed))
            if done is not None and "predictions.parquet" in done.files:
                frames.append(done.frame("predictions.parquet"))
    if not frames:
        raise RuntimeError(f"{store.root.parent}: no final run produced predictions (see "
                           f"manifest.json)")
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
    seeds = sorted({s for name, s in finals if name == v.name} | set(plan.spec.final.seeds))
    runs = {str(seed): finals.get((v.name, seed), {}) for seed in seeds}
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
