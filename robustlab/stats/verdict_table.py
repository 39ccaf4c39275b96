"""The polars layer of the verdicts: predictions frame + declared contrasts in, one row per
contrast out (verdict, effect, intervals, variance parts, what would decide it).

The family is the declared contrasts (`contrasts.resolve`); its error control is Bonferroni
(`verdicts.py` says why no step-down), so each contrast is tested at α′ = α / m, or at α when
`family_error="none"`. Each variant's seeds count as its own independent training runs
(`components.contrast_data`); their seed variances are pooled across the family's variants
(`pooling.py`) unless `pool_seeds=False`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from robustlab.stats._cells import Cell, cells, require_columns
from robustlab.stats.components import Cells, ContrastData, cell_stats, contrast_data, variance
from robustlab.stats.contrasts import Contrast
from robustlab.stats.planning import plan
from robustlab.stats.pooling import Pooled, pool
from robustlab.stats.verdicts import Verdicts, decide

FamilyError = Literal["fwer", "none"]
NO_DATA = "no data"


@dataclass(frozen=True)
class VerdictTable:
    """table: one row per contrast (columns: `contrast_table`);  family_size: m;  alpha: the
    family's α;  margin: δ;  pooled: the seed-variance pooling (None when off or nothing to
    pool);  family_error: "fwer" (Bonferroni) or "none" (each contrast at α)."""

    table: pl.DataFrame
    family_size: int
    alpha: float
    margin: float
    pooled: Pooled | None
    family_error: FamilyError


def _pairs(pred: pl.DataFrame, contrasts: Sequence[Contrast]
           ) -> tuple[list[int], Cells | None, np.ndarray, np.ndarray]:
    """Indices of the contrasts with data, the cells they use (one per variant and
    condition), each contrast's (a, b) cell indices, and the variants' ids (the units of seed
    randomness pooling counts)."""
    per = cells(pred, ["condition"])
    ids = {m: i for i, m in enumerate(pred["method"].unique(maintain_order=True).to_list())}
    index: dict[tuple[str, str], int] = {}
    used: list[np.ndarray] = []
    keep, pairs, units = [], [], []
    for i, c in enumerate(contrasts):
        group = per.get((c.condition,), {})
        a, b = group.get(c.a), group.get(c.b)
        if a is None or b is None:
            continue
        _same_ids(a, b, c)
        for name, cell in ((c.a, a), (c.b, b)):
            if (name, c.condition) not in index:
                index[(name, c.condition)] = len(used)
                used.append(cell.correct)
        keep.append(i)
        pairs.append((index[(c.a, c.condition)], index[(c.b, c.condition)]))
        units.append((ids[c.a], ids[c.b]))
    stats = cell_stats(used) if used else None
    return keep, stats, np.array(pairs, dtype=np.int64), np.array(units, dtype=np.int64)


def _same_ids(a: Cell, b: Cell, c: Contrast) -> None:
    if a.ids.shape != b.ids.shape or not (a.ids == b.ids).all():
        raise ValueError(f"contrast {c.a} vs {c.b} at {c.condition}: the two variants hold "
                         "different example ids; paired statistics need the same ids")


def verdict_table(
    pred: pl.DataFrame,
    contrasts: Sequence[Contrast],
    *,
    margin: float = 0.02,
    alpha: float = 0.05,
    family_error: FamilyError = "fwer",
    pool_seeds: bool = True,
    level: np.ndarray | None = None,
    equiv_level: np.ndarray | None = None,
) -> VerdictTable:
    """The verdict of every contrast. level: (len(contrasts),) per-contrast α′ of the
    difference test overriding the family rule, equiv_level: of each equivalence test (default
    level) — a sequential look's nominal boundaries."""
    require_columns(pred, ["method", "seed", "condition", "example_id", "correct"],
                    "verdict_table")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    m = len(contrasts)
    keep, used, pairs, units = _pairs(pred, contrasts)
    if level is None:
        level = np.full(m, alpha / m if family_error == "fwer" and m else alpha)
    level = np.asarray(level, dtype=np.float64)
    equiv = level if equiv_level is None else np.asarray(equiv_level, dtype=np.float64)
    rows = {c: [None] * m for c in COLUMNS}
    pooled = None
    if keep and used is not None:
        data = contrast_data(used, pairs, units)
        b = data.blocks
        pooled = pool(b.var, b.df, b.scale, b.unit) if pool_seeds else None
        var_k = pooled.var if pooled else data.blocks.var
        df_k = pooled.df if pooled else data.blocks.df
        parts = variance(data, var_k, df_k)
        verdicts = decide(data, parts, margin, level[keep], equiv_alpha=equiv[keep])
        plans = plan(data, parts, var_k, df_k, level[keep], margin,
                     half_width=(verdicts.high - verdicts.low) / 2.0)
        _fill(rows, keep, data, verdicts, parts, plans, pooled)
    table = _frame(rows, contrasts, level)
    if pooled is not None and pooled.prior_df <= 0:
        pooled = None
    return VerdictTable(table, m, alpha, margin, pooled, family_error)


COLUMNS = ("n", "seeds_a", "seeds_b", "acc_a", "acc_b", "delta", "se", "df", "ci_low",
           "ci_high", "eq_low", "eq_high", "p_diff", "p_equiv", "verdict", "within_margin",
           "var_seed", "var_example", "var_interaction", "pooled", "mde", "seeds_needed",
           "examples_needed", "seeds_floor", "examples_floor", "lever")


def _fill(rows: dict, keep: list[int], data: ContrastData, v: Verdicts, parts, plans,
          pooled: Pooled | None) -> None:
    pooled_contrast = np.zeros(len(keep), bool)
    if pooled is not None:
        np.logical_or.at(pooled_contrast, data.blocks.owner, pooled.pooled)
    values = {
        "n": data.n, "seeds_a": data.seeds_a, "seeds_b": data.seeds_b, "acc_a": data.acc_a,
        "acc_b": data.acc_b, "delta": v.estimate, "se": v.se, "df": v.df, "ci_low": v.low,
        "ci_high": v.high, "eq_low": v.eq_low, "eq_high": v.eq_high, "p_diff": v.p_diff,
        "p_equiv": v.p_equiv, "verdict": v.verdict, "within_margin": v.within_margin,
        "var_seed": parts.seed, "var_example": parts.example,
        "var_interaction": parts.interaction, "pooled": pooled_contrast, "mde": plans.mde,
        "seeds_needed": plans.seeds, "examples_needed": plans.examples,
        "seeds_floor": plans.seeds_floor, "examples_floor": plans.examples_floor,
        "lever": plans.lever,
    }
    for name, arr in values.items():
        for j, i in enumerate(keep):
            item = arr[j]
            rows[name][i] = item.item() if hasattr(item, "item") else item


_TYPES = {"n": pl.Int64, "seeds_a": pl.Int64, "seeds_b": pl.Int64, "verdict": pl.String,
          "within_margin": pl.Boolean, "pooled": pl.Boolean, "lever": pl.String}


def _frame(rows: dict, contrasts: Sequence[Contrast], level: np.ndarray) -> pl.DataFrame:
    """Columns: question (the first), questions, method_a, method_b, condition, level (α′),
    then COLUMNS; verdict "no data" where a variant has no predictions in the condition."""
    rows["verdict"] = [v if v is not None else NO_DATA for v in rows["verdict"]]
    return pl.DataFrame({
        "question": [c.questions[0] for c in contrasts],
        "questions": pl.Series([list(c.questions) for c in contrasts],
                               dtype=pl.List(pl.String)),
        "method_a": [c.a for c in contrasts], "method_b": [c.b for c in contrasts],
        "condition": [c.condition for c in contrasts], "level": level.tolist(),
        **{name: pl.Series(name, rows[name], dtype=_TYPES.get(name, pl.Float64))
           for name in COLUMNS},
    })
