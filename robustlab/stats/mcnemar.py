"""Exact McNemar test: a two-sided binomial test on the discordant pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class McNemar:
    """p_value: two-sided exact p; n_01: examples a got wrong and b right; n_10: a right, b wrong.

    With several seeds the counts are over examples whose seed-averaged difference is < 0
    (n_01) or > 0 (n_10): the exact sign test, which is McNemar's test for one seed.
    """

    p_value: float
    n_01: int
    n_10: int


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test of H0: P(a right, b wrong) = P(a wrong, b right).

    correct_a, correct_b: bool `(n,)` or `(n_seeds, n)`, column j is example j for both.
    """
    raise NotImplementedError


def mcnemar_exact_counts(n_01: np.ndarray, n_10: np.ndarray) -> np.ndarray:
    """Vectorised exact two-sided p-values from discordant counts (any matching shapes)."""
    raise NotImplementedError
