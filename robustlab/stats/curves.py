"""Robustness curves and summaries from a predictions frame (DESIGN §9, §10).

A curve is one (cond_op, cond_modality): its points are the conditions of that operator and
modality at their `cond_level`, plus the clean condition at level 0 (which belongs to every
curve). Each level must be held by one condition only.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from robustlab.stats._cells import BASE_COLUMNS, Cell, cells, method_order, require_columns
from robustlab.stats.frames import accuracy_table
from robustlab.stats.proportions import proportion_intervals
from robustlab.stats.robustness import difference_intervals, effective_blocks, relative_block

CURVE_KEYS = ("cond_op", "cond_modality", "cond_level")


def _curves(pred: pl.DataFrame, where: str) -> dict[tuple[str, str], list[tuple[float, str]]]:
    """{(cond_op, cond_modality): [(level, condition), …] sorted by level, clean first}."""
    require_columns(pred, [*BASE_COLUMNS, *CURVE_KEYS], where)
    conds = pred.select(["condition", *CURVE_KEYS]).unique().sort(["condition", *CURVE_KEYS])
    clash = conds.filter(pl.col("condition").is_duplicated())
    if clash.height:
        raise ValueError(f"{where}: condition {clash['condition'][0]!r} has several "
                         f"(cond_op, cond_modality, cond_level) values")
    clean = conds.filter(pl.col("cond_op") == "clean")
    if clean.height > 1:
        raise ValueError(f"{where}: several clean conditions {clean['condition'].to_list()}")
    curves: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for op, mod, lvl, cond in conds.filter(pl.col("cond_op") != "clean").select(
        ["cond_op", "cond_modality", "cond_level", "condition"]
    ).sort(["cond_op", "cond_modality", "cond_level"]).iter_rows():
        points = curves.setdefault((op, mod), [])
        if lvl <= 0.0 or (points and points[-1][0] == lvl):
            raise ValueError(f"{where}: condition {cond!r} has level {lvl} on curve ({op}, "
                             f"{mod}), which is <= 0 (clean's) or taken by another condition")
        points.append((float(lvl), cond))
    if clean.height:
        for points in curves.values():
            points.insert(0, (0.0, str(clean["condition"][0])))
    return curves


def curve_table(
    pred: pl.DataFrame,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pl.DataFrame:
    """Accuracy–level curves per (cond_op, cond_modality, method), clean accuracy at level 0.

    Columns: cond_op, cond_modality, cond_level, method, accuracy, ci_low, ci_high, n,
    n_seeds, ci_method, df. Sorted by cond_op, cond_modality, method (study order), cond_level.
    The clean point's interval is the same numbers on every curve (computed once).
    """
    curves = _curves(pred, "curve_table")
    acc = accuracy_table(pred, ["condition"], rng=rng, n_resamples=n_resamples, level=level)
    points = pl.DataFrame(
        [(op, mod, lvl, cond) for (op, mod), pts in curves.items() for lvl, cond in pts],
        schema={"cond_op": pl.String, "cond_modality": pl.String, "cond_level": pl.Float64,
                "condition": pl.String}, orient="row",
    )
    rank = pl.DataFrame({"method": method_order(pred)}).with_row_index("_rank")
    return (
        points.join(acc, on="condition").join(rank, on="method")
        .sort(["cond_op", "cond_modality", "_rank", "cond_level"])
        .select(["cond_op", "cond_modality", "cond_level", "method", "accuracy", "ci_low",
                 "ci_high", "n", "n_seeds", "ci_method", "df"])
    )


def _stack(points: list[tuple[float, str]], per_cond: dict, method: str, where: str) -> Cell:
    """One method's curve as a Cell whose `correct` is (L, S, n): same seeds and ids per level."""
    found = [per_cond.get((cond,), {}).get(method) for _, cond in points]
    if any(c is None for c in found):
        missing = [cond for (_, cond), c in zip(points, found, strict=True) if c is None]
        raise ValueError(f"{where}: method {method!r} has no rows for condition(s) {missing}")
    first: Cell = found[0]
    for (_, cond), c in zip(points, found, strict=True):
        if c.seeds != first.seeds or c.ids.shape != first.ids.shape or (c.ids != first.ids).any():
            raise ValueError(f"{where}: method {method!r}, condition {cond!r} holds other seeds "
                             f"or example ids than the clean condition; a curve needs the same")
    return Cell(first.seeds, first.ids, np.stack([c.correct for c in found]))


def robustness_table(
    pred: pl.DataFrame,
    *,
    reference: str,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pl.DataFrame:
    """Relative and effective robustness (vs `reference`) per curve and method, with CIs.

    Columns: cond_op, cond_modality, method, relative_robustness, rr_ci_low, rr_ci_high,
    rr_ci_method, effective_robustness, er_ci_low, er_ci_high, er_ci_method. The reference's
    own effective robustness is 0 by definition (its interval is [0, 0]). Intervals:
    `robustness` module docstring; withhold ER near chance with `guard_effective_robustness`.
    """
    curves = _curves(pred, "robustness_table")
    order = method_order(pred)
    if reference not in order:
        raise ValueError(f"robustness_table: reference {reference!r} is not a method of the "
                         f"predictions; valid: {order}")
    if any(pts[0][0] != 0.0 for pts in curves.values()):
        raise ValueError("robustness_table: no clean condition (cond_op == 'clean'); relative "
                         "and effective robustness start from clean accuracy at level 0")
    per_cond = cells(pred, ["condition"])
    rows: list[tuple[str, str, str]] = []
    rr_blocks: list[np.ndarray] = []
    er_blocks: list[tuple[np.ndarray, ...]] = []
    for (op, mod), pts in curves.items():
        levels = np.array([lvl for lvl, _ in pts])
        where = f"robustness_table, curve ({op}, {mod})"
        ref = _stack(pts, per_cond, reference, where)
        for m in order:
            cur = _stack(pts, per_cond, m, where)
            if (cur.ids != ref.ids).any():
                raise ValueError(f"{where}: {m!r} and {reference!r} hold different example ids")
            rows.append((op, mod, m))
            rr_blocks.append(relative_block(levels, cur.correct))
            er_blocks.append(effective_blocks(levels, cur.correct, ref.correct,
                                              cur.seeds == ref.seeds))
    rr = proportion_intervals(rr_blocks, rng=rng, n_resamples=n_resamples, level=level)
    er = difference_intervals(er_blocks, rng=rng, n_resamples=n_resamples, level=level)
    return pl.DataFrame({
        "cond_op": [r[0] for r in rows], "cond_modality": [r[1] for r in rows],
        "method": [r[2] for r in rows],
        "relative_robustness": [iv.estimate for iv in rr],
        "rr_ci_low": [iv.low for iv in rr], "rr_ci_high": [iv.high for iv in rr],
        "rr_ci_method": [iv.method for iv in rr],
        "effective_robustness": [iv.estimate for iv in er],
        "er_ci_low": [iv.low for iv in er], "er_ci_high": [iv.high for iv in er],
        "er_ci_method": [iv.method for iv in er],
    }, schema_overrides={c: pl.String for c in ("cond_op", "cond_modality", "method",
                                                  "rr_ci_method", "er_ci_method")}
       | {c: pl.Float64 for c in ("relative_robustness", "rr_ci_low", "rr_ci_high",
                                  "effective_robustness", "er_ci_low", "er_ci_high")})
