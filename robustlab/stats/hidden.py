"""Hidden failures: slices where a pair's difference flips sign against the aggregate.

For every condition, every pair of methods (a, b) and every value of every slice column with at
least `min_slice_size` examples, Δ_slice = acc_a − acc_b is tested with the exact McNemar test
(sign test on seed-averaged differences for several seeds). All those tests form one family for
the correction, whatever their sign, so selecting the opposite-sign ones afterwards does not
shrink the family. A hidden failure is a tested slice with sign(Δ_slice) = −sign(Δ_condition)
≠ 0 and corrected p < alpha: "a wins on average but loses here" (or the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from robustlab.stats._cells import BASE_COLUMNS, Cell, cells, method_order, require_columns
from robustlab.stats.bootstrap import bootstrap_blocks
from robustlab.stats.correction import Correction, adjust
from robustlab.stats.frames import pair_cells
from robustlab.stats.mcnemar import mcnemar_exact_counts

COLUMNS = ["condition", "slice_column", "slice_value", "method_a", "method_b", "n",
           "aggregate_delta", "delta", "ci_low", "ci_high", "p_value", "p_adjusted"]


@dataclass(frozen=True)
class _Test:
    condition: str
    column: str
    value: str | None
    a: str
    b: str
    mask: np.ndarray  # (n_condition,) which of the condition's examples are in the slice
    aggregate: float
    delta: float
    n_01: int
    n_10: int


def _check(pred: pl.DataFrame, slice_columns: list[str], alpha: float, min_size: int) -> None:
    require_columns(pred, [*BASE_COLUMNS, *slice_columns], "hidden_failures")
    bad = [c for c in slice_columns if c in BASE_COLUMNS]
    if not slice_columns or bad:
        raise ValueError(f"slice_columns: need >= 1 slice column and none of {BASE_COLUMNS}, "
                         f"got {slice_columns}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_slice_size: must be an int >= 1, got {min_size!r}")


def _slice_values(pred: pl.DataFrame, slice_columns: list[str]) -> dict[str, pl.DataFrame]:
    """{condition: frame of example_id + slice columns (as strings), sorted by example_id}."""
    vals = pred.select(["condition", "example_id",
                        *[pl.col(c).cast(pl.String) for c in slice_columns]]).unique()
    dup = vals.filter(pl.struct("condition", "example_id").is_duplicated())
    if dup.height:
        raise ValueError(f"hidden_failures: example {dup['example_id'][0]} of condition "
                         f"{dup['condition'][0]!r} has different values of a slice column "
                         f"{slice_columns} across methods or seeds; slices must be per example")
    parts = vals.sort("example_id").partition_by("condition", as_dict=True)
    return {str(k[0]): v for k, v in parts.items()}


_NULL = "\x00null"  # stands in for a null slice value while grouping


def _codes(values: pl.DataFrame, columns: list[str]) -> dict[str, tuple[list, np.ndarray]]:
    """{column: (distinct values with None for null, (n,) index of each example's value)}."""
    out = {}
    for col in columns:
        arr = values[col].fill_null(_NULL).to_numpy().astype(str)
        labels, codes = np.unique(arr, return_inverse=True)
        out[col] = ([None if v == _NULL else str(v) for v in labels], codes)
    return out


def _pair_tests(cond: str, a: str, b: str, ca: Cell, cb: Cell,
                codes: dict[str, tuple[list, np.ndarray]], min_size: int) -> list[_Test]:
    d = ca.correct.mean(axis=0) - cb.correct.mean(axis=0)  # (n,) seed-averaged Δ per example
    aggregate = float(d.mean())
    tests = []
    for col, (labels, code) in codes.items():
        size = np.bincount(code, minlength=len(labels))
        total = np.bincount(code, weights=d, minlength=len(labels))
        n_01 = np.bincount(code, weights=d < 0, minlength=len(labels))
        n_10 = np.bincount(code, weights=d > 0, minlength=len(labels))
        for k in np.flatnonzero(size >= min_size):
            tests.append(_Test(cond, col, labels[k], a, b, code == k, aggregate,
                               float(total[k] / size[k]), int(n_01[k]), int(n_10[k])))
    return tests


def _all_tests(pred: pl.DataFrame, columns: list[str], min_size: int) -> list[_Test]:
    values = _slice_values(pred, columns)
    order = method_order(pred)
    tests: list[_Test] = []
    for (cond,), per in cells(pred, ["condition"]).items():
        codes = _codes(values[cond], columns)
        present = [m for m in order if m in per]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                pair_cells(per[a], per[b], f"condition {cond!r}, {a} vs {b}")  # same ids
                if not np.array_equal(values[cond]["example_id"].to_numpy(), per[a].ids):
                    raise ValueError(f"condition {cond!r}: slice values and results disagree "
                                     "on the example ids")
                tests += _pair_tests(cond, a, b, per[a], per[b], codes, min_size)
    return tests


def hidden_failures(
    pred: pl.DataFrame,
    slice_columns: list[str],
    *,
    rng: np.random.Generator,
    alpha: float = 0.05,
    correction: Correction = "holm",
    min_slice_size: int = 30,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pl.DataFrame:
    """Per condition and method pair, slices (value of a slice column, >= min_slice_size
    examples) whose Δ = acc_a − acc_b has the opposite sign of the whole condition's Δ and whose
    corrected exact McNemar p-value is < alpha.

    The correction family is every (condition, pair, slice) tested, whatever its sign.
    Columns: condition, slice_column, slice_value (as string), method_a, method_b, n,
    aggregate_delta, delta, ci_low, ci_high, p_value, p_adjusted. Sorted by p_adjusted.
    """
    _check(pred, slice_columns, alpha, min_slice_size)
    tests = _all_tests(pred, slice_columns, min_slice_size)
    if not tests:
        return _frame([], [], [], [])
    p = mcnemar_exact_counts(np.array([t.n_01 for t in tests]), np.array([t.n_10 for t in tests]))
    p_adj = adjust(p, correction)
    flips = np.array([t.aggregate * t.delta < 0 for t in tests])
    hits = np.flatnonzero(flips & (p_adj < alpha))
    per = cells(pred, ["condition"]) if hits.size else {}
    blocks = []
    for i in hits:
        t = tests[i]
        ca, cb = per[(t.condition,)][t.a], per[(t.condition,)][t.b]
        blocks.append(pair_cells(ca.subset(t.mask), cb.subset(t.mask), t.condition))
    ivs = bootstrap_blocks(blocks, rng=rng, n_resamples=n_resamples, level=level)
    return _frame([tests[i] for i in hits], ivs, p[hits].tolist(), p_adj[hits].tolist())


def _frame(tests: list[_Test], ivs: list, p: list[float], p_adj: list[float]) -> pl.DataFrame:
    data: dict[str, Any] = {
        "condition": [t.condition for t in tests], "slice_column": [t.column for t in tests],
        "slice_value": [t.value for t in tests], "method_a": [t.a for t in tests],
        "method_b": [t.b for t in tests], "n": [int(t.mask.sum()) for t in tests],
        "aggregate_delta": [t.aggregate for t in tests], "delta": [t.delta for t in tests],
        "ci_low": [iv.low for iv in ivs], "ci_high": [iv.high for iv in ivs],
        "p_value": p, "p_adjusted": p_adj,
    }
    schema = {c: pl.String for c in COLUMNS[:5]} | {"n": pl.Int64} | {
        c: pl.Float64 for c in COLUMNS[6:]}
    return pl.DataFrame(data, schema=schema).sort(["p_adjusted", "condition", "slice_column"])
