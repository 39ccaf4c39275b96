"""Small, hand-checkable data for the statistics tests (no training, no files).

Helpers are handed out as fixtures (`paired`, `make_pred`): in importlib import mode a test
module cannot `import conftest`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest


def paired_sample(
    rng: np.random.Generator, n: int, p10: float, p01: float, p11: float
) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) bool (n,) with P(a=1,b=0)=p10, P(a=0,b=1)=p01, P(a=1,b=1)=p11; Δ = p10 − p01."""
    cell = rng.choice(4, size=n, p=[p10, p01, p11, 1.0 - p10 - p01 - p11])
    return (cell == 0) | (cell == 2), (cell == 1) | (cell == 2)


def predictions(
    correct: dict[tuple[str, int, str], np.ndarray],
    levels: dict[str, tuple[str, str, float]] | None = None,
    extra: dict[str, Sequence[object]] | None = None,
) -> pl.DataFrame:
    """A predictions frame (DESIGN §9 columns that statistics read) from
    {(method, seed, condition): correct (n,)}; `levels` maps condition → (cond_op,
    cond_modality, cond_level) (default: clean); `extra` adds per-example slice columns."""
    levels = levels or {}
    parts = []
    for (method, seed, cond), corr in correct.items():
        n = len(corr)
        op, mod, lvl = levels.get(cond, ("clean", "none", 0.0))
        parts.append(pl.DataFrame({
            "method": [method] * n, "seed": np.full(n, seed, dtype=np.int64),
            "condition": [cond] * n, "cond_op": [op] * n, "cond_modality": [mod] * n,
            "cond_level": np.full(n, lvl, dtype=np.float64),
            "example_id": np.arange(n, dtype=np.int64), "correct": np.asarray(corr, bool),
            **{k: list(v) for k, v in (extra or {}).items()},
        }))
    return pl.concat(parts)


@pytest.fixture
def paired():
    return paired_sample


@pytest.fixture
def make_pred():
    return predictions
