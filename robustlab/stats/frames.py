"""The polars layer: predictions frames (DESIGN §9) in, tidy statistics frames out.

Input `pred` is predictions.parquet's long frame: one row per (method, seed, condition,
example_id) with `correct` and the slice columns. Within a group every seed of a method must
hold the same example ids (the evaluation never drops examples), and a group must not hold two
rows for one (method, seed, example_id) — include `condition` (or a column that fixes it) in
`by`; otherwise a ValueError names the group. Methods are ordered by first appearance in
`pred`; groups by the sorted values of `by`.

Seeds pair across methods by (seed, example_id) when both methods have the same seed set (seed
s of a with seed s of b), otherwise each method's seeds are independent runs; examples always
pair. Which interval and test each row gets: docs/statistics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from robustlab.stats._cells import BASE_COLUMNS, Cell, cells, method_order, require_columns
from robustlab.stats.bootstrap import Interval, paired_blocks
from robustlab.stats.correction import Correction, adjust
from robustlab.stats.crossed import components
from robustlab.stats.paired import Comparison, compare
from robustlab.stats.proportions import proportion_intervals

_PAIR_TYPES = {"method_a": pl.String, "method_b": pl.String, "n": pl.Int64, "n_seeds": pl.Int64,
               "acc_a": pl.Float64, "acc_b": pl.Float64, "delta": pl.Float64,
               "ci_low": pl.Float64, "ci_high": pl.Float64, "ci_method": pl.String,
               "df": pl.Float64, "p_value": pl.Float64, "p_adjusted": pl.Float64,
               "significant": pl.Boolean, "n_01": pl.Int64, "n_10": pl.Int64}  # typed if empty


def _check_by(pred: pl.DataFrame, by: Sequence[str], where: str) -> list[str]:
    by = list(by)
    bad = [c for c in by if c in ("method", "seed", "example_id", "correct")]
    if bad:
        raise ValueError(f"{where}: by={by} may not contain {bad} (they are not slice columns)")
    require_columns(pred, [*BASE_COLUMNS, *by], where)
    return by


def _ci_columns(ivs: Sequence[Interval | Comparison], prefix: str = "") -> dict[str, list[Any]]:
    return {
        f"{prefix}ci_low": [iv.low for iv in ivs],
        f"{prefix}ci_high": [iv.high for iv in ivs],
        f"{prefix}ci_method": [iv.method for iv in ivs],
    }


def _group_frame(by: Sequence[str], keys: Sequence[tuple[Any, ...]], pred: pl.DataFrame) -> dict:
    """Columns of `by` (with pred's dtypes) for the rows' group keys."""
    return {c: pl.Series(c, [k[i] for k in keys], dtype=pred.schema[c]) for i, c in enumerate(by)}


def accuracy_table(
    pred: pl.DataFrame,
    by: list[str],
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pl.DataFrame:
    """Accuracy per (*by, method) with a confidence interval (`proportions`: BCa, Clopper–Pearson
    or the crossed seed × example interval; `ci_method` says which; `df` for the crossed one).

    Columns: *by, method, n, n_seeds, accuracy, ci_low, ci_high, ci_method, df.
    """
    by = _check_by(pred, by, "accuracy_table")
    order = method_order(pred)
    rows = [(g, m, c) for g, per in cells(pred, by).items() for m in order if (c := per.get(m))]
    ivs = proportion_intervals([r[2].correct.astype(np.float64) for r in rows], rng=rng,
                               n_resamples=n_resamples, level=level)
    return pl.DataFrame({
        **_group_frame(by, [r[0] for r in rows], pred),
        "method": [r[1] for r in rows],
        "n": [iv.n for iv in ivs],
        "n_seeds": [iv.n_seeds for iv in ivs],
        "accuracy": [iv.estimate for iv in ivs],
        **_ci_columns(ivs),
        "df": pl.Series([iv.df for iv in ivs], dtype=pl.Float64),
    })


def pair_cells(a: Cell, b: Cell, where: str) -> tuple[np.ndarray, ...]:
    """Blocks for Δ = acc_a − acc_b (`crossed`); seeds pair iff both have the same seed set."""
    if a.ids.shape != b.ids.shape or not (a.ids == b.ids).all():
        raise ValueError(f"{where}: the two methods hold different example ids "
                         f"({a.ids.size} vs {b.ids.size}); paired statistics need the same ids")
    return paired_blocks(a.correct.astype(float), b.correct.astype(float), a.seeds == b.seeds)


def pairwise_table(
    pred: pl.DataFrame,
    by: list[str],
    *,
    correction: Correction = "holm",
    alpha: float = 0.05,
    level: float | None = None,
) -> pl.DataFrame:
    """Every pair of methods per group of `by`: Δ = acc_a − acc_b with the interval and the test
    of one procedure (`paired`: Tango for one seed, the crossed seed × example test with
    several), at `level` (default 1 − alpha, so ci excludes 0 ⟺ p_value < alpha).

    The correction family is the whole table; significant = p_adjusted < alpha. Columns: *by,
    method_a, method_b, n, n_seeds, acc_a, acc_b, delta, ci_low, ci_high, ci_method, df,
    p_value, p_adjusted, significant, n_01, n_10.
    """
    by = _check_by(pred, by, "pairwise_table")
    _check_alpha(alpha)
    level = 1.0 - alpha if level is None else level
    order = method_order(pred)
    rows = []
    for g, per in cells(pred, by).items():
        present = [m for m in order if m in per]
        rows += [(g, a, b, per[a], per[b]) for i, a in enumerate(present) for b in present[i + 1:]]
    blocks = [pair_cells(r[3], r[4], f"group {r[0]}, {r[1]} vs {r[2]}") for r in rows]
    out = compare(components(blocks), level) if blocks else []
    p = np.array([c.p_value for c in out], dtype=np.float64)
    p_adj = adjust(p, correction)
    return pl.DataFrame({
        **_group_frame(by, [r[0] for r in rows], pred),
        "method_a": [r[1] for r in rows], "method_b": [r[2] for r in rows],
        "n": [c.n for c in out], "n_seeds": [c.n_seeds for c in out],
        "acc_a": [float(r[3].correct.mean()) for r in rows],
        "acc_b": [float(r[4].correct.mean()) for r in rows],
        "delta": [c.estimate for c in out], **_ci_columns(out), "df": [c.df for c in out],
        "p_value": p, "p_adjusted": p_adj, "significant": p_adj < alpha,
        "n_01": [c.n_01 for c in out], "n_10": [c.n_10 for c in out],
    }, schema_overrides=_PAIR_TYPES)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
