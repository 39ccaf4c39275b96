"""Hidden failures: slices where a pair's difference flips sign against the aggregate."""

from __future__ import annotations

import numpy as np
import polars as pl

from robustlab.stats.correction import Correction


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
    raise NotImplementedError
