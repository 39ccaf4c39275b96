"""What a report section is, and small helpers the section builders share."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl


@dataclass(frozen=True)
class Section:
    """One `<section>` of the page.

    id:    anchor and template name (`templates/sections/<id>.html.j2`)
    title: heading shown in the page and the table of contents
    view:  the template's context (plain data; charts as `InlineSvg`)
    data:  JSON-safe numbers embedded in the page for anyone who wants them without Parquet
    """

    id: str
    title: str
    view: Mapping[str, Any]
    data: Any


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf floats replaced by None (JSON has no NaN) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def records(df: pl.DataFrame | None) -> list[dict[str, Any]]:
    """The rows of `df` as JSON-safe dicts ([] for None)."""
    return [] if df is None else json_safe(df.to_dicts())


def condition_order(pred: pl.DataFrame) -> list[str]:
    """Conditions as a reader scans them: clean first, then by operator, modality, level."""
    table = (pred.select("condition", "cond_op", "cond_modality", "cond_level").unique()
             .with_columns(is_clean=pl.col("cond_op") != "clean")
             .sort("is_clean", "cond_op", "cond_modality", "cond_level", "condition"))
    return table["condition"].to_list()


def ordered(df: pl.DataFrame, column: str, order: Sequence[str]) -> pl.DataFrame:
    """`df` sorted by the position of `column`'s value in `order` (stable for the rest)."""
    rank = {name: i for i, name in enumerate(order)}
    key = pl.col(column).replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
    return df.with_columns(_order=key).sort("_order", maintain_order=True).drop("_order")
