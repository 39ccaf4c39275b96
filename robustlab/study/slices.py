"""Check `report.slices` against the columns predictions.parquet will have, before anything
runs: an unknown column is an error naming its YAML path and the closest valid name, and
`bins` applies to numeric columns only (the report cuts them into quantile bins)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import polars as pl

from robustlab.results import OBSERVED_COLUMN, STEP_FIELDS
from robustlab.study.grid import Condition
from robustlab.study.spec import SliceSpec, SpecError

# Per-example columns of every study (DESIGN §9) a slice may name, and whether numeric.
PROVENANCE = {"perturbed": False, "perturbed_modality": False, "op": False, "severity": True,
              "fraction": True, OBSERVED_COLUMN: False, "cond_op": False,
              "cond_modality": False, "cond_level": True}


def slice_columns(dataset: Any, conditions: Sequence[Condition]) -> dict[str, bool]:
    """Every column a slice may name: the provenance columns, the steps of compositions,
    `label` when the data have labels, and the dataset's metadata columns -> numeric?"""
    columns = dict(PROVENANCE)
    steps = max((len(getattr(c.operator, "steps", ())) for c in conditions), default=0)
    for k in range(1, steps + 1):
        columns |= {f"step{k}_{f}": f in ("severity", "fraction") for f in STEP_FIELDS}
    if dataset.split("test").label is not None:
        columns["label"] = True
    schema = dataset.split("test").metadata.schema
    columns |= {name: dtype.is_numeric() and dtype != pl.Boolean for name, dtype in schema.items()}
    return columns


def check_slices(slices: Sequence[SliceSpec], dataset: Any,
                 conditions: Sequence[Condition]) -> None:
    """Raise SpecError for a slice column predictions.parquet will not have, or `bins` on a
    column that is not numeric."""
    valid = slice_columns(dataset, conditions)
    for i, entry in enumerate(slices):
        where = f"report.slices.{i}"
        if entry.column not in valid:
            close = difflib.get_close_matches(entry.column, list(valid), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{where}: unknown slice column {entry.column!r}{hint} (valid: "
                            f"{', '.join(valid)})")
        if entry.bins is not None and not valid[entry.column]:
            raise SpecError(f"{where}.bins: column {entry.column!r} is not numeric; bins cut "
                            "a numeric column into quantile ranges (name it without bins)")
