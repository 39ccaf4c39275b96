"""Final runs: retrain a variant's best config on one seed, evaluate it under every condition.

One final run = one (variant, seed). It trains on the train split with the best config
(model selection on val, as in tuning), then evaluates the test split clean and under every
grid condition. Conditions perturb the test split with the *study* seed, not the run's seed,
so every method and every seed sees the same perturbed examples: comparisons are paired and
a slice is a fixed set of examples. The run's seed drives initialisation, batch order and
evaluation tie-breaking.

Every row also says what the data held before any perturbation (`data_columns`): `observed`,
the modalities present ("a+b+c", "a+c", …), and, for retrieval, `target_missing`, whether
the query's target is missing in the data itself. Such a query cannot be answered right; its
row is kept and flagged, and the statistics leave it out (`robustlab.results.scored`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from robustlab.results import OBSERVED_COLUMN, PREDICTION_COLUMNS, TARGET_MISSING_COLUMN
from robustlab.study.embeddings import final_embeddings
from robustlab.study.grid import Condition
from robustlab.tune.trainable import TrialSpec, apply_config, build_method

CLEAN_PROVENANCE = {"perturbed": False, "perturbed_modality": "none", "op": "none",
                    "severity": 0.0, "fraction": 0.0}


@dataclasses.dataclass(frozen=True)
class FinalOutcome:
    """What one final run returns to the driver (through Ray's object store)."""

    variant: str
    seed: int
    predictions: pl.DataFrame | None  # None when training diverged
    info: dict[str, Any]
    # clean test embeddings for slice discovery: (example_id, {modality: (n, <= 16)})
    embeddings: tuple[Any, dict[str, Any]] | None = None


def final_run(
    variant: str,
    spec: TrialSpec,
    config: dict[str, Any],
    dataset: Any,
    seed: int,
    conditions: Sequence[Condition],
    perturb_seed: int,
) -> FinalOutcome:
    """Train `config` with `seed`, evaluate under every condition (runs as a Ray task)."""
    import torch

    from robustlab.train import DivergedError, train

    torch.set_num_threads(spec.threads)
    start = time.perf_counter()
    train_config, options = apply_config(spec, config)
    train_config = dataclasses.replace(train_config, seed=seed)
    method = build_method(spec, options, dataset.dims, seed)
    info: dict[str, Any] = {"num_parameters": method.num_parameters()}
    try:
        result = train(method, dataset, train_config, task=spec.task,
                       train_perturbation=spec.train_perturbation)
    except DivergedError as err:
        info.update(error=f"{type(err).__name__}: {err}", wall_time_s=time.perf_counter() - start)
        return FinalOutcome(variant, seed, None, info)
    info.update(best_epoch=result.best_epoch, epochs=result.epochs_run,
                val_metric=result.best_metric, train_wall_time_s=time.perf_counter() - start,
                val_history=[float(r.val_metric) for r in result.history])
    frames = [evaluate_condition(method, dataset, c, spec.task, seed, perturb_seed)
              for c in conditions]
    predictions = tidy(pl.concat(frames, how="diagonal_relaxed"), variant, seed)
    embeddings = final_embeddings(method, dataset)
    info["wall_time_s"] = time.perf_counter() - start
    return FinalOutcome(variant, seed, predictions, info, embeddings)


def evaluate_condition(
    method: Any, dataset: Any, condition: Condition, task: Any, seed: int, perturb_seed: int
) -> pl.DataFrame:
    """Per-example records of `method` on the test split under `condition`."""
    from robustlab.data.perturb import perturb_split
    from robustlab.evaluate import evaluate

    test = dataset.split("test")
    if condition.operator is None:
        split = test
        provenance = pl.DataFrame({"example_id": test.example_id.astype("int64")}).with_columns(
            **{k: pl.lit(v) for k, v in CLEAN_PROVENANCE.items()})
    else:
        split, provenance = perturb_split(test, condition.operator, perturb_seed)
    probe_train = dataset.split("train") if task.protocol == "probe" else None
    frame = evaluate(method, dataset, split, task=task, seed=seed, probe_train=probe_train)
    provenance = provenance.join(data_columns(dataset, test, task), on="example_id")
    # a metadata column cannot take these names (results.is_reserved_column); the harness's wins
    clash = [c for c in provenance.columns if c in frame.columns and c != "example_id"]
    frame = frame.drop(clash).join(provenance, on="example_id", how="left")
    return frame.with_columns(
        condition=pl.lit(condition.id), cond_op=pl.lit(condition.op),
        cond_modality=pl.lit(condition.modality), cond_level=pl.lit(condition.level))


def data_columns(dataset: Any, split: Any, task: Any) -> pl.DataFrame:
    """Per example of the unperturbed `split`: `observed` (the modalities present, "+"-joined
    in the dataset's order, "none" if none) and `target_missing` (retrieval: the target is
    missing in the data; always False for the probe, whose target is the label)."""
    import numpy as np

    names = list(dataset.modalities)
    code = sum(split.masks[m].astype(np.int64) << i for i, m in enumerate(names))  # (N,)
    labels = ["+".join(m for i, m in enumerate(names) if k >> i & 1) or "none"
              for k in range(1 << len(names))]
    missing = (~split.masks[task.target] if task.protocol == "retrieval"
               else np.zeros(len(split), dtype=bool))
    return pl.DataFrame({"example_id": split.example_id.astype(np.int64),
                         OBSERVED_COLUMN: np.asarray(labels, dtype=object)[code].tolist(),
                         TARGET_MISSING_COLUMN: missing},
                        schema={"example_id": pl.Int64, OBSERVED_COLUMN: pl.String,
                                TARGET_MISSING_COLUMN: pl.Boolean})


def tidy(frame: pl.DataFrame, variant: str, seed: int) -> pl.DataFrame:
    """Contract columns first (with their dtypes), then every slice column by name."""
    frame = frame.with_columns(method=pl.lit(variant), seed=pl.lit(seed))
    frame = frame.with_columns(
        [pl.col(name).cast(dtype) for name, dtype in PREDICTION_COLUMNS.items()])
    rest = sorted(c for c in frame.columns if c not in PREDICTION_COLUMNS)
    return frame.select([*PREDICTION_COLUMNS, *rest])
