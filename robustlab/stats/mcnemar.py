"""Exact McNemar test: a two-sided binomial test on the discordant pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from robustlab.stats.bootstrap import check_correct


@dataclass(frozen=True)
class McNemar:
    """p_value: two-sided exact p; n_01: examples a got wrong and b right; n_10: a right, b wrong.

    With several seeds the counts are over examples whose seed-averaged difference is < 0
    (n_01) or > 0 (n_10): the exact sign test, which is McNemar's test for one seed.
    """

    p_value: float
    n_01: int
    n_10: int


def discordant_counts(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """(n_01, n_10): examples whose seed-averaged difference acc_a − acc_b is < 0 / > 0.

    correct_a, correct_b: bool `(n,)` or `(n_seeds, n)` (the seed counts may differ).
    """
    a = check_correct(correct_a, "correct_a")
    b = check_correct(correct_b, "correct_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"correct_a, correct_b: different numbers of examples "
                         f"({a.shape[1]} vs {b.shape[1]}); pair them by example id first")
    d = a.mean(axis=0) - b.mean(axis=0)  # (n,) seed-averaged difference per example
    return int((d < 0).sum()), int((d > 0).sum())


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test of H0: P(a right, b wrong) = P(a wrong, b right).

    correct_a, correct_b: bool `(n,)` or `(n_seeds, n)`, column j is example j for both.
    """
    n_01, n_10 = discordant_counts(correct_a, correct_b)
    p = mcnemar_exact_counts(np.array(n_01), np.array(n_10))
    return McNemar(p_value=float(p), n_01=n_01, n_10=n_10)


def mcnemar_exact_counts(n_01: np.ndarray, n_10: np.ndarray) -> np.ndarray:
    """Vectorised exact two-sided p-values from discordant counts (any matching shapes).

    Under H0 the n_10 of n = n_01 + n_10 discordant examples is Binomial(n, 1/2), which is
    symmetric, so the two-sided p is 2 · P(X <= min(n_01, n_10)), capped at 1 (1 when n = 0).
    """
    lo = np.minimum(np.asarray(n_01), np.asarray(n_10))
    total = np.asarray(n_01) + np.asarray(n_10)
    if np.any(lo < 0):
        raise ValueError("n_01, n_10: counts must be >= 0")
    return np.minimum(1.0, 2.0 * binom.cdf(lo, total, 0.5))
