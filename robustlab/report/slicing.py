"""Slice columns as the report reads them: a column by name, or a numeric column cut into
quantile bins (`report.slices: [site, {column: age, bins: 4}]`).

Bins are drawn once per study, over the distinct scored test examples (every condition,
method and seed sees the same bins; queries left unscored for a missing target do not count):
the edges are the 0, 1/k, …, 1 quantiles of the column's values (inverted-CDF quantiles, so
every edge is a value that occurs), repeated edges merge, and the bins are half-open
`[lo, hi)` with the last one closed `[lo, hi]`. A value equal to an inner edge belongs to the
bin above it. Labels show the edges with as few digits as keep them apart; a null (or NaN)
value is its own slice, "(missing)".

With no slices declared, the report searches `perturbed_modality`, `observed` (when the data
have missing modalities), every metadata column with at most `MAX_AUTO_SLICE_VALUES` values,
and every numeric metadata column with more values in `DEFAULT_BINS` quantile bins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from robustlab.results import OBSERVED_COLUMN, is_reserved_column

MAX_AUTO_SLICE_VALUES = 20  # a metadata column with more distinct values is binned or skipped
DEFAULT_BINS = 4
MAX_BINS = 20
MISSING_LABEL = "(missing)"


@dataclass(frozen=True)
class SliceSpec:
    """One slice column; `bins` cuts a numeric column into that many quantile bins."""

    column: str
    bins: int | None = None

    def describe(self) -> str:
        return self.column if self.bins is None else f"{self.column} ({self.bins} quantile bins)"


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


def parse_slices(declared: object, pred: pl.DataFrame, where: str) -> tuple[SliceSpec, ...]:
    """The `report.slices` list of a manifest: names and {column, bins} entries, checked
    against the predictions' columns. Raises ValueError naming `where` and the entry."""
    if declared is None or declared == []:
        return default_slices(pred)
    if not isinstance(declared, list):
        raise ValueError(f"{where}.slices must be a list, got {declared!r}")
    return tuple(_entry(item, pred, f"{where}.slices.{i}") for i, item in enumerate(declared))


def _entry(item: object, pred: pl.DataFrame, where: str) -> SliceSpec:
    if isinstance(item, str):
        spec = SliceSpec(item)
    elif isinstance(item, Mapping) and set(item) <= {"column", "bins"} and "column" in item:
        bins = item.get("bins")
        if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int)
                                 or not 2 <= bins <= MAX_BINS):
            raise ValueError(f"{where}.bins must be an int in 2..{MAX_BINS}, got {bins!r}")
        spec = SliceSpec(str(item["column"]), bins)
    else:
        raise ValueError(f"{where} must be a column name or {{column: NAME, bins: K}}, "
                         f"got {item!r}")
    if spec.column not in pred.columns:
        raise ValueError(f"{where}: {spec.column!r} is not a column of predictions.parquet; "
                         f"valid: {pred.columns}")
    if spec.bins is not None and not is_numeric(pred.schema[spec.column]):
        raise ValueError(f"{where}.bins: column {spec.column!r} is {pred.schema[spec.column]}; "
                         "bins cut numbers only")
    return spec


def default_slices(pred: pl.DataFrame) -> tuple[SliceSpec, ...]:
    """The slices searched when the study names none (module docstring)."""
    out = [SliceSpec("perturbed_modality")]
    if OBSERVED_COLUMN in pred.columns and pred[OBSERVED_COLUMN].n_unique() > 1:
        out.append(SliceSpec(OBSERVED_COLUMN))
    for name in pred.columns:  # the dataset's own columns: its metadata and its labels
        if (is_reserved_column(name) and name != "label") or name == OBSERVED_COLUMN:
            continue
        distinct = pred[name].n_unique()
        if distinct <= MAX_AUTO_SLICE_VALUES:
            out.append(SliceSpec(name))
        elif is_numeric(pred.schema[name]):
            out.append(SliceSpec(name, DEFAULT_BINS))
    return tuple(out)


def with_bins(pred: pl.DataFrame, specs: Sequence[SliceSpec]
              ) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """`pred` with every binned column replaced by its bin labels (strings), and each slice
    column's values in display order (bins in order, other values sorted, nulls last)."""
    order: dict[str, list[str]] = {}
    replaced = []
    for spec in specs:
        if spec.bins is None:
            values = pred[spec.column].drop_nulls().unique().sort().cast(pl.String).to_list()
            if spec.column == OBSERVED_COLUMN:  # the complete rows first, then fewer
                values.sort(key=lambda v: (-v.count("+"), v))
            order[spec.column] = values + ([MISSING_LABEL] if pred[spec.column].has_nulls()
                                           else [])
            continue
        per_example = pred.select("example_id", spec.column).unique("example_id")
        edges = quantile_edges(per_example[spec.column].drop_nulls().to_numpy(), spec.bins)
        labels = bin_labels(edges)
        column = _binned(pred[spec.column], edges, labels)
        replaced.append(column)
        order[spec.column] = labels + ([MISSING_LABEL] if (column == MISSING_LABEL).any()
                                       else [])
    return (pred.with_columns(replaced) if replaced else pred), order


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The distinct 0, 1/bins, …, 1 quantiles of `values` (inverted CDF: observed values)."""
    values = values.astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros(0)
    q = np.linspace(0.0, 1.0, bins + 1)
    return np.unique(np.quantile(values, q, method="inverted_cdf"))


def bin_labels(edges: np.ndarray) -> list[str]:
    """"[lo, hi)" per bin, the last one closed; one edge gives "[v, v]"."""
    if edges.size == 0:
        return []
    text = _edge_text(edges)
    if edges.size == 1:
        return [f"[{text[0]}, {text[0]}]"]
    last = edges.size - 2
    return [f"[{text[i]}, {text[i + 1]}{']' if i == last else ')'}" for i in range(edges.size - 1)]


def _edge_text(edges: np.ndarray) -> list[str]:
    """Edges with the fewest significant digits (3 at least) that keep them distinct."""
    for digits in range(3, 18):
        text = [_number(x, digits) for x in edges]
        if len(set(text)) == len(text):
            return text
    return [repr(float(x)) for x in edges]


def _number(x: float, digits: int) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def _binned(column: pl.Series, edges: np.ndarray, labels: list[str]) -> pl.Series:
    values = column.cast(pl.Float64).to_numpy()  # (N,); nulls -> NaN
    present = np.isfinite(values)  # NaN and inf are missing values, not numbers to bin
    index = np.searchsorted(edges[1:-1], np.nan_to_num(values), side="right")  # (N,)
    out = np.where(present, np.asarray(labels, dtype=object)[np.minimum(index, len(labels) - 1)]
                   if labels else MISSING_LABEL, MISSING_LABEL)
    return pl.Series(column.name, out.tolist(), dtype=pl.String)
