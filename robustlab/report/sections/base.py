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


@dataclass(frozen=True)
class Family:
    """Conditions that share an operator and a modality (a robustness curve), or `clean`.

    label: e.g. "missing · b"; axis: what the levels are ("fraction", "severity", "level");
    conditions: (condition id, level text) in level order — the level text is the condition
    id itself when two conditions of the family share a level."""

    op: str
    modality: str
    label: str
    axis: str
    conditions: tuple[tuple[str, str], ...]


def families(pred: pl.DataFrame, study: Mapping[str, Any]) -> list[Family]:
    """The condition families in `condition_order`: clean first, then by operator, modality."""
    table = (pred.select("condition", "cond_op", "cond_modality", "cond_level").unique()
             .with_columns(is_clean=pl.col("cond_op") != "clean")
             .sort("is_clean", "cond_op", "cond_modality", "cond_level", "condition"))
    groups: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in table.iter_rows(named=True):
        key = (row["cond_op"], row["cond_modality"])
        groups.setdefault(key, []).append((row["condition"], row["cond_level"]))
    out = []
    for (op, modality), members in groups.items():
        levels = [level_text(level) for _, level in members]
        unique = len(set(levels)) == len(levels)
        names = tuple((c, text if unique else c) for (c, _), text in zip(members, levels,
                                                                        strict=True))
        if op == "clean":
            out.append(Family(op, modality, "clean", "", tuple((c, "") for c, _ in members)))
        else:
            out.append(Family(op, modality, f"{op} · {modality}", level_name(study, op), names))
    return out


def level_text(level: float) -> str:
    """A level for people: 0.25, 1, 3 (never 1.0 or 0.25000000001)."""
    return f"{level:.3g}"


def level_name(study: Mapping[str, Any], op: str) -> str:
    """What a family's levels are: the grid axis the study varied for `op` (severity or
    fraction; several values first), else the one it set, else "level"."""
    grid = study.get("eval_grid", [])
    entries = [e for e in (grid if isinstance(grid, list) else [])
               if isinstance(e, dict) and e.get("op") == op]
    for varied in (True, False):
        for entry in entries:
            for axis in ("severity", "fraction"):
                value = entry.get(axis)
                if value is not None and (not varied or (isinstance(value, list)
                                                         and len(value) > 1)):
                    return axis
    return "level"


def ordered(df: pl.DataFrame, column: str, order: Sequence[str]) -> pl.DataFrame:
    """`df` sorted by the position of `column`'s value in `order` (stable for the rest)."""
    rank = {name: i for i, name in enumerate(order)}
    key = pl.col(column).replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
    return df.with_columns(_order=key).sort("_order", maintain_order=True).drop("_order")
