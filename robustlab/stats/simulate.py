"""Simulated studies with known mean accuracies: what the calibration of the verdicts runs on.

A study's results are correctness bits `(V variants, C conditions, S seeds, n examples)`. The
model is a probit one with the three sources of variance the crossed seed × example design
has (docs/statistics.md):

    correct[v, c, s, i] = 1{ U < Φ(β[v, c] + z[c, i] + η[v, c, i] + u[v, s, c]) }

- z[c, i] ~ N(0, τ²): the example's difficulty in condition c, shared by every variant
  (correlated examples: an easy example is easy for everyone);
- η[v, c, i] ~ N(0, κ²): what makes an example easier for one variant than another (without
  it two variants would fail on the same examples and no pair would be discordant);
- u[v, s, c] = √ρ·a[v, s] + √(1−ρ)·b[v, s, c], a, b ~ N(0, σ_v²): training seed s of variant v
  is better or worse overall (a) and per condition (b); σ_v differs between variants
  (seed-heterogeneous methods), and seeds are independent across variants.

β[v, c] is set so that the *mean* accuracy over seeds and examples, the quantity the verdicts
test, is exactly `accuracy[v, c]`: E Φ(β + z + η + u) = Φ(β / √(1 + τ² + κ² + σ_v²)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import ndtr, ndtri

from robustlab.stats.components import DF_LEVEL, cell_stats, contrast_data, variance
from robustlab.stats.pooling import pool
from robustlab.stats.verdicts import Verdicts, decide


@dataclass(frozen=True)
class StudyModel:
    """A simulated study's truth.

    accuracy: (V, C) mean accuracies in (0, 1);  seed_sd: (V,) σ_v on the probit scale;
    example_sd: τ;  method_example_sd: κ;  seed_shared: ρ (share of a seed's effect common to
    all conditions);  n: test examples.
    """

    accuracy: np.ndarray
    seed_sd: np.ndarray
    example_sd: float = 1.0
    method_example_sd: float = 0.5
    seed_shared: float = 0.5
    n: int = 400

    def __post_init__(self) -> None:
        acc = np.asarray(self.accuracy, dtype=np.float64)
        if acc.ndim != 2 or not ((acc > 0) & (acc < 1)).all():
            raise ValueError(f"accuracy: (V, C) in (0, 1), got shape {acc.shape}")
        if np.shape(self.seed_sd) != (acc.shape[0],) or (np.asarray(self.seed_sd) < 0).any():
            raise ValueError(f"seed_sd: (V,) = ({acc.shape[0]},) non-negative values")
        if not 0.0 <= self.seed_shared <= 1.0:
            raise ValueError(f"seed_shared: must be in [0, 1], got {self.seed_shared}")

    def intercepts(self) -> np.ndarray:
        """(V, C) β with mean accuracy `accuracy`."""
        sd = np.sqrt(1.0 + self.example_sd**2 + self.method_example_sd**2
                     + np.asarray(self.seed_sd, dtype=np.float64) ** 2)  # (V,)
        return ndtri(np.asarray(self.accuracy, dtype=np.float64)) * sd[:, None]


def simulate(model: StudyModel, seeds: int, rng: np.random.Generator) -> np.ndarray:
    """One simulated study: bool (V, C, seeds, n)."""
    return simulate_with_examples(model, seeds, rng)[0]


def add_seeds(model: StudyModel, existing: np.ndarray, more: int,
              rng: np.random.Generator, examples: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`existing` (V, C, S, n) with `more` seeds appended, drawn on the same examples.

    examples: the (z, η) draws `simulate_with_examples` returned, so the added seeds see the
    same test examples (a sequential design adds training runs, not test data).
    """
    v, c, _, n = existing.shape
    z, eta = examples
    sigma = np.asarray(model.seed_sd, dtype=np.float64)[:, None, None, None]
    shared = rng.normal(0.0, 1.0, (v, 1, more, 1))
    own = rng.normal(0.0, 1.0, (v, c, more, 1))
    u = sigma * (np.sqrt(model.seed_shared) * shared + np.sqrt(1 - model.seed_shared) * own)
    latent = model.intercepts()[:, :, None, None] + z + eta + u
    return np.concatenate([existing, rng.random((v, c, more, n)) < _probit_cdf(latent)], axis=2)


def simulate_with_examples(model: StudyModel, seeds: int, rng: np.random.Generator
                           ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """`simulate`, also returning the example draws (z, η) for `add_seeds`."""
    v, c = np.shape(model.accuracy)
    z = rng.normal(0.0, model.example_sd, (1, c, 1, model.n))
    eta = rng.normal(0.0, model.method_example_sd, (v, c, 1, model.n))
    empty = np.zeros((v, c, 0, model.n), dtype=bool)
    return add_seeds(model, empty, seeds, rng, (z, eta)), (z, eta)


def _probit_cdf(x: np.ndarray) -> np.ndarray:
    return np.asarray(ndtr(x))


def study_verdicts(correct: np.ndarray, pairs: np.ndarray, *, margin: float,
                   level: np.ndarray, pool_seeds: bool = True,
                   df_level: float | None = DF_LEVEL, seeds: np.ndarray | None = None,
                   equiv_level: np.ndarray | None = None) -> Verdicts:
    """The verdicts of one simulated study (V, C, S, n) for contrasts pairs (G, 3) = (variant
    a, variant b, condition) at per-contrast levels (G,), without intervals (fast: what the
    calibration counts); the same procedure as `verdict_table`. seeds (V,): use only each
    variant's first seeds (a look of a sequential design)."""
    v, c, s, _ = correct.shape
    count = np.full(v, s) if seeds is None else np.asarray(seeds)
    cells = cell_stats([correct[i, j, : count[i]] for i in range(v) for j in range(c)])
    a, b, cond = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    data = contrast_data(cells, np.stack([a * c + cond, b * c + cond], axis=1),
                         np.stack([a, b], axis=1))
    blocks = data.blocks
    if pool_seeds:
        pooled = pool(blocks.var, blocks.df, blocks.scale, blocks.unit)
        var_k, df_k = pooled.var, pooled.df
    else:
        var_k, df_k = blocks.var, blocks.df
    return decide(data, variance(data, var_k, df_k, df_level), margin, level, intervals=False,
                  equiv_alpha=equiv_level)


def false_claims(verdicts: Verdicts, truth: np.ndarray, margin: float) -> np.ndarray:
    """(G,) bool: the contrast makes a claim its true Δ (G,) contradicts — better with Δ ≤ 0,
    worse with Δ ≥ 0, or |Δ| < δ shown (equivalent, or within the margin) with |Δ| ≥ δ."""
    v = verdicts.verdict
    return (((v == "better") & (truth <= 0)) | ((v == "worse") & (truth >= 0))
            | (verdicts.within_margin & (np.abs(truth) >= margin)))


def to_frame(correct: np.ndarray, variants: list[str], conditions: list[str],
             seeds: list[int] | None = None) -> pl.DataFrame:
    """A predictions frame (the columns the statistics read) of one simulated study
    (V, C, S, n): method, seed, condition, example_id, correct."""
    v, c, s, n = correct.shape
    seeds = list(range(s)) if seeds is None else seeds
    mi, ci, si, ei = np.meshgrid(np.arange(v), np.arange(c), np.arange(s), np.arange(n),
                                 indexing="ij")
    return pl.DataFrame({
        "method": np.asarray(variants)[mi.ravel()],
        "seed": np.asarray(seeds, dtype=np.int64)[si.ravel()],
        "condition": np.asarray(conditions)[ci.ravel()],
        "example_id": ei.ravel().astype(np.int64),
        "correct": correct.ravel(),
    })
