"""Predictions frame → per-(group, method) correctness matrices aligned by seed and example id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from robustlab.results import TARGET_MISSING_COLUMN

BASE_COLUMNS = ("method", "seed", "condition", "example_id", "correct")


@dataclass(frozen=True)
class Cell:
    """One method's results in one group.

    seeds: sorted seed values; ids: (n,) sorted example ids; correct: (S, n) bool, row s is
    seeds[s], column j is ids[j].
    """

    seeds: tuple[int, ...]
    ids: np.ndarray
    correct: np.ndarray

    def subset(self, mask: np.ndarray) -> Cell:
        return Cell(self.seeds, self.ids[mask], self.correct[:, mask])


def require_columns(pred: pl.DataFrame, columns: Sequence[str], where: str) -> None:
    """ValueError naming the missing columns and the ones the frame has; and for rows flagged
    `target_missing` (a query with nothing to retrieve would count as a failure)."""
    missing = [c for c in columns if c not in pred.columns]
    if missing:
        raise ValueError(f"{where}: predictions frame lacks column(s) {missing}; "
                         f"it has {pred.columns}")
    if pred.height == 0:
        raise ValueError(f"{where}: predictions frame is empty")
    if TARGET_MISSING_COLUMN in pred.columns and pred[TARGET_MISSING_COLUMN].any():
        flagged = int(pred[TARGET_MISSING_COLUMN].sum())
        raise ValueError(f"{where}: {flagged} rows are flagged {TARGET_MISSING_COLUMN} (the "
                         "query's retrieval target is missing in the data, so it cannot be "
                         "scored); leave them out first: robustlab.results.scored(pred)")


def method_order(pred: pl.DataFrame) -> list[str]:
    """Methods in order of first appearance."""
    return pred["method"].unique(maintain_order=True).to_list()


def _cell(sub: pl.DataFrame, where: str) -> Cell:
    seeds = tuple(int(s) for s in sub["seed"].unique(maintain_order=True).to_list())
    n_rows = sub.height
    if n_rows % len(seeds):
        raise ValueError(f"{where}: seeds hold different numbers of examples; every seed "
                         "must be evaluated on the same example ids")
    ids = sub["example_id"].to_numpy().reshape(len(seeds), -1)  # (S, n)
    if not (ids == ids[:1]).all():
        raise ValueError(f"{where}: seeds hold different example ids; every seed must be "
                         "evaluated on the same example ids")
    if ids.shape[1] > 1 and not (np.diff(ids[0]) > 0).all():
        raise ValueError(f"{where}: several rows per (seed, example_id); group by a column "
                         "that fixes the condition (e.g. add 'condition' to `by`)")
    correct = sub["correct"].to_numpy().reshape(len(seeds), -1).astype(bool)  # (S, n)
    return Cell(seeds, ids[0].copy(), correct)


def cells(pred: pl.DataFrame, by: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Cell]]:
    """{group key (values of `by`): {method: Cell}}, groups in sorted order of `by`."""
    if pred["correct"].null_count():
        raise ValueError("predictions: column 'correct' has nulls")
    keys = [*by, "method"]
    ordered = pred.select([*keys, "seed", "example_id", "correct"]).sort(
        [*by, "method", "seed", "example_id"], nulls_last=True
    )
    out: dict[tuple[Any, ...], dict[str, Cell]] = {}
    for key, sub in ordered.partition_by(keys, as_dict=True, maintain_order=True).items():
        group, method = tuple(key[:-1]), str(key[-1])
        where = f"group {dict(zip(by, group, strict=True))}, method {method!r}"
        out.setdefault(group, {})[method] = _cell(sub, where)
    return out
