"""The polars layer: predictions frames (DESIGN §9) in, tidy statistics frames out.

Input `pred` is predictions.parquet's long frame: one row per (method, seed, condition,
example_id) with `correct` and the slice columns. Within a group every seed of a method must
hold the same example ids (the evaluation never drops examples); otherwise a ValueError names
the group. Methods are ordered by first appearance in `pred`.

Seeds pair across methods by (seed, example_id) when both methods have the same seed set (the
seed rows are resampled jointly), otherwise seeds are resampled independently per method;
example ids are always resampled jointly (docs/statistics.md).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from robustlab.stats.correction import Correction


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
    raise NotImplementedError


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
    acc_b, delta, ci_low, ci_high, ci_method, p_value, p_adjusted, significant.
    """
    raise NotImplementedError


def curve_table(
    pred: pl.DataFrame,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pl.DataFrame:
    """Accuracy–level curves per (cond_op, cond_modality, method), clean accuracy at level 0.

    Columns: cond_op, cond_modality, cond_level, method, accuracy, ci_low, ci_high, n,
    n_seeds, ci_method. Sorted by cond_op, cond_modality, method, cond_level.
    """
    raise NotImplementedError


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
    effective_robustness, er_ci_low, er_ci_high.
    """
    raise NotImplementedError
