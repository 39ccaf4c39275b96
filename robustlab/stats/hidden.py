"""Hidden failures: slices where a significant average difference between two methods reverses.

For every condition, every pair of methods (a, b) and every value of every slice column with at
least `min_slice_size` examples, Δ_slice = acc_a − acc_b is tested with the same procedure as
the pairwise table (`paired`: Tango's score test for one seed, the crossed seed × example test
with several). Two families, each corrected with `correction`:

- aggregate: Δ over the whole condition, for every (condition, pair), corrected over that
  family; or, when the study's verdicts are passed (`decided`, what the report does), exactly
  the declared contrasts they called better or worse — "significant on average" then means the
  confirmatory answer, and only those pairs' slices form the corrected slice family;
- slice: every (condition, pair, slice) tested, whatever its sign, so selecting the
  opposite-sign ones afterwards does not shrink the family.

A **hidden failure** is a slice whose Δ has the opposite sign of the condition's Δ, where both
are significant after correction: "a wins on average, significantly, but loses here,
significantly". Any other opposite-sign slice whose Benjamini–Hochberg q-value over the slice
family is < alpha is **worth a look** (an exploratory list, never a finding).

Slices of different columns holding exactly the same examples of a condition are one slice
(tested once; the other names are kept in `aliases`). Each pair appears once (a before b in
study order). Rows that share (condition, slice, kind) and a method are grouped into one
finding (`finding`, `focal_method`, `opponent`): "the same slice flips for the same method
against several others".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from robustlab.stats._cells import BASE_COLUMNS, cells, method_order, require_columns
from robustlab.stats.correction import Correction, adjust, benjamini_hochberg
from robustlab.stats.crossed import Components, by_code, components, concat, take
from robustlab.stats.frames import pair_cells
from robustlab.stats.paired import Comparison, compare

COLUMNS = ["condition", "slice_column", "slice_value", "aliases", "kind", "finding",
           "focal_method", "opponent", "method_a", "method_b", "n", "aggregate_delta",
           "aggregate_p_adjusted", "delta", "ci_low", "ci_high", "ci_method", "p_value",
           "p_adjusted", "q_value"]
_TEXT = ("condition", "slice_column", "slice_value", "aliases", "kind", "focal_method",
         "opponent", "method_a", "method_b", "ci_method")
_TYPES: dict[str, type[pl.DataType]] = {c: pl.String for c in _TEXT}
_TYPES |= {"finding": pl.Int64, "n": pl.Int64}
_TYPES |= {c: pl.Float64 for c in COLUMNS if c not in _TYPES}
HIDDEN, LOOK = "hidden_failure", "worth_a_look"


@dataclass(frozen=True)
class _Slice:
    """One distinct set of a condition's examples: its first (column, value) name, the others."""

    column: str
    value: str | None
    aliases: tuple[str, ...]
    code_column: str  # the column whose codes select it
    code: int


@dataclass(frozen=True)
class _Test:
    condition: str
    pair: int  # index into the aggregate tests
    slice: _Slice


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


def _distinct_slices(codes: dict[str, tuple[list, np.ndarray]], min_size: int) -> list[_Slice]:
    """Slices with >= min_size examples, one per distinct example set (first name wins)."""
    seen: dict[bytes, int] = {}
    found: list[_Slice] = []
    for col, (labels, code) in codes.items():
        size = np.bincount(code, minlength=len(labels))
        for k in np.flatnonzero(size >= min_size):
            key = np.packbits(code == k).tobytes()
            if key in seen:
                first = found[seen[key]]
                alias = f"{col} = {labels[k]}"
                found[seen[key]] = _Slice(first.column, first.value, (*first.aliases, alias),
                                          first.code_column, first.code)
                continue
            seen[key] = len(found)
            found.append(_Slice(col, labels[k], (), col, int(k)))
    return found


def _collect(pred: pl.DataFrame, columns: list[str], min_size: int) -> tuple[
        list[tuple[str, str, str]], list[Components], list[_Test], list[Components]]:
    """(pairs [(condition, a, b)], one aggregate Components per pair, the slice tests, one
    slice Components per test)."""
    values = _slice_values(pred, columns)
    order = method_order(pred)
    pairs: list[tuple[str, str, str]] = []
    aggregate: list[Components] = []
    tests: list[_Test] = []
    parts: list[Components] = []
    for (cond,), per in cells(pred, ["condition"]).items():
        codes = _codes(values[cond], columns)
        slices = _distinct_slices(codes, min_size)
        present = [m for m in order if m in per]
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                blocks = pair_cells(per[a], per[b], f"condition {cond!r}, {a} vs {b}")
                if not np.array_equal(values[cond]["example_id"].to_numpy(), per[a].ids):
                    raise ValueError(f"condition {cond!r}: slice values and results disagree "
                                     "on the example ids")
                aggregate.append(components([blocks]))
                by_col = {col: by_code(blocks, code, len(labels))
                          for col, (labels, code) in codes.items()}
                tests += [_Test(cond, len(pairs), s) for s in slices]
                parts += [take(by_col[s.code_column], np.array([s.code])) for s in slices]
                pairs.append((cond, a, b))
    return pairs, aggregate, tests, parts


def hidden_failures(
    pred: pl.DataFrame,
    slice_columns: list[str],
    *,
    alpha: float = 0.05,
    correction: Correction = "holm",
    min_slice_size: int = 30,
    level: float | None = None,
    decided: Mapping[tuple[str, str, str], float] | None = None,
) -> pl.DataFrame:
    """Hidden failures and slices worth a look (module docstring), one row per (condition, pair,
    slice); intervals at `level` (default 1 − alpha).

    decided: {(condition, a, b): adjusted p} of the contrasts a confirmatory family called
    different (the study's verdicts). Given, "wins on average" means exactly that verdict —
    a pair the family did not call is not a hidden-failure candidate, and only the called
    pairs' slices form the corrected slice family; every reversal still gets its BH q-value.

    Columns: condition, slice_column, slice_value (as string), aliases (other names of the same
    examples, "; "-joined), kind ("hidden_failure" | "worth_a_look"), finding (group id),
    focal_method, opponent, method_a, method_b, n, aggregate_delta, aggregate_p_adjusted,
    delta, ci_low, ci_high, ci_method, p_value, p_adjusted (the study's correction over the
    slice family), q_value (BH over the slice family). Hidden failures first, then by finding
    and p_adjusted.
    """
    _check(pred, slice_columns, alpha, min_slice_size)
    level = 1.0 - alpha if level is None else level
    pairs, aggregate, tests, parts = _collect(pred, slice_columns, min_slice_size)
    if not tests:
        return pl.DataFrame(schema=_TYPES).select(COLUMNS)
    agg = compare(concat(aggregate), level)
    if decided is None:
        agg_adj = adjust(np.array([c.p_value for c in agg]), correction)
    else:
        agg_adj = np.array([_called(decided, pair) for pair in pairs])
    res = compare(concat(parts), level)
    p = np.array([c.p_value for c in res])
    family = np.array([agg_adj[t.pair] < alpha for t in tests]) if decided is not None \
        else np.ones(len(tests), dtype=bool)
    p_adj = np.ones(p.shape)
    if family.any():
        p_adj[family] = adjust(p[family], correction)
    q = benjamini_hochberg(p)
    sign = np.array([np.sign(agg[t.pair].estimate) * np.sign(r.estimate)
                     for t, r in zip(tests, res, strict=True)])
    reversed_ = sign < 0
    hidden = reversed_ & (agg_adj[[t.pair for t in tests]] < alpha) & (p_adj < alpha)
    look = reversed_ & ~hidden & (q < alpha)
    rows = [_record(tests[i], pairs, agg, agg_adj, res[i], p_adj[i], q[i],
                    HIDDEN if hidden[i] else LOOK)
            for i in np.flatnonzero(hidden | look)]
    return _frame(_group(rows, method_order(pred)))


def _called(decided: Mapping[tuple[str, str, str], float], pair: tuple[str, str, str]
            ) -> float:
    """The verdict family's adjusted p of a pair (either orientation); 1 when not called."""
    cond, a, b = pair
    return float(decided.get((cond, a, b), decided.get((cond, b, a), 1.0)))


def _record(t: _Test, pairs: list[tuple[str, str, str]], agg: list[Comparison],
            agg_adj: np.ndarray, r: Comparison, p_adj: float, q: float,
            kind: str) -> dict[str, Any]:
    cond, a, b = pairs[t.pair]
    return {
        "condition": cond, "slice_column": t.slice.column, "slice_value": t.slice.value,
        "aliases": "; ".join(t.slice.aliases), "kind": kind, "method_a": a, "method_b": b,
        "n": r.n, "aggregate_delta": agg[t.pair].estimate,
        "aggregate_p_adjusted": float(agg_adj[t.pair]), "delta": r.estimate, "ci_low": r.low,
        "ci_high": r.high, "ci_method": r.method, "p_value": r.p_value,
        "p_adjusted": float(p_adj), "q_value": float(q),
    }


def _group(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """Give rows sharing (condition, slice, kind) and a method one finding id.

    Greedy: the method in most of the group's remaining rows (ties: the one that wins on
    average in more of them, then study order) becomes the focal method of a finding holding
    all those rows; repeat. Each row (pair) ends up in exactly one finding.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["kind"] != HIDDEN, r["condition"], r["slice_column"],
                           r["slice_value"]), []).append(r)
    out: list[dict[str, Any]] = []
    for key in sorted(groups, key=lambda k: (k[0], min(r["p_adjusted"] for r in groups[k]))):
        rest = groups[key]
        while rest:
            focal = max(order, key=lambda m: (sum(m in (r["method_a"], r["method_b"])
                                                  for r in rest),
                                              sum(_winner(r) == m for r in rest),
                                              -order.index(m)))
            mine = [r for r in rest if focal in (r["method_a"], r["method_b"])]
            rest = [r for r in rest if focal not in (r["method_a"], r["method_b"])]
            finding = len({r["finding"] for r in out})
            for r in sorted(mine, key=lambda r: r["p_adjusted"]):
                other = r["method_b"] if r["method_a"] == focal else r["method_a"]
                out.append({**r, "finding": finding, "focal_method": focal, "opponent": other})
    return out


def _winner(r: dict[str, Any]) -> str:
    return r["method_a"] if r["aggregate_delta"] > 0 else r["method_b"]


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=_TYPES).select(COLUMNS)
