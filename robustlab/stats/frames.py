"""The polars layer: predictions frames (DESIGN §9) in, tidy statistics frames out.

Input `pred` is predictions.parquet's long frame: one row per (method, seed, condition,
example_id) with `correct` and the slice columns. Within a group every seed of a method must
hold the same example ids (the evaluation never drops examples), and a group must not hold two
rows for one (method, seed, example_id) — include `condition` (or a column that fixes it) in
`by`; otherwise a ValueError names the group. Methods are ordered by first appearance in
`pred`; groups by the sorted values of `by`.

Seeds pair across methods by (seed, example_id) when both methods have the same seed set (the
seed rows are resampled jointly), otherwise seeds are resampled independently per method;
example ids are always resampled jointly (docs/statistics.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from robustlab.stats._cells import BASE_COLUMNS, Cell, cells, method_order, require_columns
from robustlab.stats.bootstrap import Interval, bootstrap_blocks, paired_blocks
from robustlab.stats.correction import Correction, adjust
from robustlab.stats.mcnemar import discordant_counts, mcnemar_exact_counts

_PAIR_TYPES = {"method_a": pl.String, "method_b": pl.String, "acc_a": pl.Float64,
               "acc_b": pl.Float64, "delta": pl.Float64, "ci_low": pl.Float64,
               "ci_high": pl.Float64, "ci_method": pl.String}  # typed even when empty


def _check_by(pred: pl.DataFrame, by: Sequence[str], where: str) -> list[str]:
    by = list(by)
    bad = [c for c in by if c in ("method", "seed", "example_id", "correct")]
    if bad:
        raise ValueError(f"{where}: by={by} may not contain {bad} (they are not slice columns)")
    require_columns(pred, [*BASE_COLUMNS, *by], where)
    return by


def _ci_columns(ivs: Sequence[Interval], prefix: str = "") -> dict[str, list[Any]]:
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
    """Accuracy per (*by, method) with a bootstrap CI.

    Columns: *by, method, n, n_seeds, accuracy, ci_low, ci_high, ci_method.
    """
    by = _check_by(pred, by, "accuracy_table")
    order = method_order(pred)
    rows = [(g, m, c) for g, per in cells(pred, by).items() for m in order if (c := per.get(m))]
    ivs = bootstrap_blocks([(r[2].correct,) for r in rows], rng=rng,
                           n_resamples=n_resamples, level=level)
    return pl.DataFrame({
        **_group_frame(by, [r[0] for r in rows], pred),
        "method": [r[1] for r in rows],
        "n": [iv.n for iv in ivs],
        "n_seeds": [iv.n_seeds for iv in ivs],
        "accuracy": [iv.estimate for iv in ivs],
        **_ci_columns(ivs),
    })


def pair_cells(a: Cell, b: Cell, where: str) -> tuple[np.ndarray, ...]:
    """Bootstrap blocks for Δ = acc_a − acc_b; seeds pair iff both have the same seed set."""
    if a.ids.shape != b.ids.shape or not (a.ids == b.ids).all():
        raise ValueError(f"{where}: the two methods hold different example ids "
                         f"({a.ids.size} vs {b.ids.size}); paired statistics need the same ids")
    return paired_blocks(a.correct.astype(float), b.correct.astype(float), a.seeds == b.seeds)


def pairwise_table(
    pred: pl.DataFrame,
    by: list[str],
    *,
    rng: np.random.Generator,
    correction: Correction = "holm",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pl.DataFrame:
    """Every pair of methods per group of `by`: Δ = acc_a − acc_b, paired CI, exact McNemar.

    The correction family is the whole table. Columns: *by, method_a, method_b, n, acc_a,
    acc_b, delta, ci_low, ci_high, ci_method, p_value, p_adjusted, significant, n_01, n_10.
    """
    by = _check_by(pred, by, "pairwise_table")
    _check_alpha(alpha)
    order = method_order(pred)
    rows = []
    for g, per in cells(pred, by).items():
        present = [m for m in order if m in per]
        rows += [(g, a, b, per[a], per[b]) for i, a in enumerate(present) for b in present[i + 1:]]
    blocks = [pair_cells(r[3], r[4], f"group {r[0]}, {r[1]} vs {r[2]}") for r in rows]
    ivs = bootstrap_blocks(blocks, rng=rng, n_resamples=n_resamples, level=level)
    counts = np.array([discordant_counts(r[3].correct, r[4].correct) for r in rows],
                      dtype=np.int64).reshape(-1, 2)  # (pairs, [n_01, n_10])
    p = mcnemar_exact_counts(counts[:, 0], counts[:, 1])
    p_adj = adjust(p, correction)
    return pl.DataFrame({
        **_group_frame(by, [r[0] for r in rows], pred),
        "method_a": [r[1] for r in rows], "method_b": [r[2] for r in rows],
        "n": pl.Series([iv.n for iv in ivs], dtype=pl.Int64),
        "acc_a": [float(r[3].correct.mean()) for r in rows],
        "acc_b": [float(r[4].correct.mean()) for r in rows],
        "delta": [iv.estimate for iv in ivs], **_ci_columns(ivs),
        "p_value": p, "p_adjusted": p_adj, "significant": p_adj < alpha,
        "n_01": counts[:, 0], "n_10": counts[:, 1],
    }, schema_overrides=_PAIR_TYPES)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
