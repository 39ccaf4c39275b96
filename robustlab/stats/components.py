"""Variance components of a contrast Δ = acc_a − acc_b under the crossed seed × example design.

Seeds and test examples are crossed random factors: every training seed of a variant is
evaluated on the same n examples. A contrast's data are two *blocks* `(S_j, n)` of per-example
values, a and −b (each variant's seeds its own runs). For a block X (two-way layout without
replication):

    seed-level variance   v = s²(row means)              E v = σ²_seed + σ²_int / n
    interaction MS        r = SS_res / ((S − 1)(n − 1))  E r = σ²_int
    e_i = Σ_j mean_s X_j[s, i];  example variance x = s²(e)    E x = σ²_ex + Σ_j σ²_int,j / S_j

so the variance of Δ̂ = mean(e) is estimated without bias by

    V = Σ_j v_j / S_j  +  max(0, x / n − Σ_j r_j / (S_j n))

(the quasi-F′ estimator). The earlier min-F′ estimator (`crossed.py`, the exploratory
tables) keeps x / n whole and so counts the interaction twice: conservative by σ²_int/(S n),
which for 0/1 data is most of the example term (measured: size 0.025 instead of 0.05 at 3
seeds). Degrees of freedom: Welch–Satterthwaite over the terms, the subtracted ones included.
A block with one seed has no seed term and no separable interaction (it stays in x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from robustlab.stats.crossed import DF_LEVEL, upper_weights


@dataclass(frozen=True)
class Blocks:
    """The seed blocks of G contrasts, flattened to K rows; row k belongs to `owner[k]`.

    var: (K,) variance of the block's seed means (ddof 1; 0 with one seed);  df: (K,) S − 1;
    seeds: (K,) S;  resid: (K,) interaction mean square (0 with one seed);  scale: (K,) the
    block's probit-scale factor w (pooling.py), w(p) = φ(Φ⁻¹(p))² summed over its variants;
    unit: (K,) the source of the block's seed randomness (its variant, as the caller numbers
    them), what pooling counts as independent.
    """

    owner: np.ndarray
    var: np.ndarray
    df: np.ndarray
    seeds: np.ndarray
    resid: np.ndarray
    scale: np.ndarray
    unit: np.ndarray


@dataclass(frozen=True)
class ContrastData:
    """G contrasts. estimate: (G,) Δ̂;  n: (G,) examples;  example: (G,) s²(e_i);
    acc_a, acc_b: (G,);  seeds_a, seeds_b: (G,);  pos, neg: (G,) Σ max(±e_i, 0), the
    seed-averaged discordant counts of the score test;  blocks: the seed terms."""

    estimate: np.ndarray
    n: np.ndarray
    example: np.ndarray
    acc_a: np.ndarray
    acc_b: np.ndarray
    seeds_a: np.ndarray
    seeds_b: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    blocks: Blocks


def probit_scale(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """w(p) = φ(Φ⁻¹(p))²: the delta-method factor from probit-scale seed effects to accuracy
    variance; p clipped to [1/(2n), 1 − 1/(2n)] so a perfect or null accuracy keeps a scale."""
    q = np.clip(p, 0.5 / n, 1.0 - 0.5 / n)
    z = ndtri(q)
    return np.exp(-(z**2)) / (2.0 * np.pi)


@dataclass(frozen=True)
class Cells:
    """One variant's results in one condition, for M cells: seeds, n, acc, var (variance of
    the seed means, ddof 1; 0 with one seed), resid (interaction mean square; 0 with one seed):
    all (M,); cols: M arrays (n,), the per-example means over seeds."""

    seeds: np.ndarray
    n: np.ndarray
    acc: np.ndarray
    var: np.ndarray
    resid: np.ndarray
    cols: list[np.ndarray]


def _stacked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(var, resid, cols) of blocks stacked as (M, S, n) float."""
    _, s, n = x.shape
    rows, cols = x.mean(axis=2), x.mean(axis=1)  # (M, S), (M, n)
    if s < 2:
        zero = np.zeros(x.shape[0])
        return zero, zero, cols
    grand = rows.mean(axis=1)  # (M,)
    total = ((x - grand[:, None, None]) ** 2).sum(axis=(1, 2))
    ss_res = (total - n * ((rows - grand[:, None]) ** 2).sum(axis=1)
              - s * ((cols - grand[:, None]) ** 2).sum(axis=1))
    return rows.var(axis=1, ddof=1), np.maximum(ss_res, 0.0) / ((s - 1) * (n - 1)), cols


def cell_stats(cells: Sequence[np.ndarray]) -> Cells:
    """Stats of each cell (S_m, n_m) bool or float; cells of one shape are computed together."""
    m = len(cells)
    var, resid = np.zeros(m), np.zeros(m)
    cols: list[np.ndarray] = [np.empty(0)] * m
    shapes: dict[tuple[int, ...], list[int]] = {}
    for i, c in enumerate(cells):
        shapes.setdefault(np.shape(c), []).append(i)
    for shape, members in shapes.items():
        x = np.stack([np.asarray(cells[i], dtype=np.float64) for i in members])
        v, r, c = _stacked(x.reshape(len(members), *shape))
        var[members], resid[members] = v, r
        for j, i in enumerate(members):
            cols[i] = c[j]
    seeds = np.array([np.shape(c)[0] for c in cells], dtype=np.int64)
    n = np.array([np.shape(c)[1] for c in cells], dtype=np.int64)
    acc = np.array([col.mean() for col in cols])
    return Cells(seeds, n, acc, var, resid, cols)


def _example(e: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, Σ max(e, 0), Σ max(−e, 0), s²) of one contrast's per-example differences."""
    return (float(e.mean()), float(np.maximum(e, 0).sum()), float(np.maximum(-e, 0).sum()),
            float(e.var(ddof=1)) if e.size > 1 else 0.0)


def contrast_data(cells: Cells, pairs: np.ndarray, units: np.ndarray | None = None
                  ) -> ContrastData:
    """Components of G contrasts Δ = acc(cell a) − acc(cell b). pairs: (G, 2) cell indices (the
    two variants on the same examples, column j = example j in both); units: (G, 2) ids of the
    two variants (default: each cell its own), the sources of seed randomness pooling counts.

    Each variant's seeds are its own independent runs: two blocks per contrast, a and −b (a
    seed id shared by two variants shares at most an initialisation, and leaving a positive
    correlation out errs on the safe side)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    units = pairs if units is None else np.asarray(units, dtype=np.int64).reshape(-1, 2)
    g = pairs.shape[0]
    a, b = pairs[:, 0], pairs[:, 1]
    if (cells.n[a] != cells.n[b]).any():
        bad = int(np.flatnonzero(cells.n[a] != cells.n[b])[0])
        raise ValueError(f"contrast {bad}: the two cells hold different numbers of examples")
    n = cells.n[a]
    if g and (n == n[0]).all():  # one test set: every contrast at once
        cols = np.stack(cells.cols)  # (M, n)
        e = cols[a] - cols[b]  # (G, n) per-example Δ, seed-averaged
        est, pos, neg = e.mean(axis=1), np.maximum(e, 0).sum(axis=1), np.maximum(-e, 0).sum(axis=1)
        example = e.var(axis=1, ddof=1) if n[0] > 1 else np.zeros(g)
    else:
        parts = [_example(cells.cols[i] - cells.cols[j]) for i, j in zip(a, b, strict=True)]
        est, pos, neg, example = (np.array([p[k] for p in parts]) for k in range(4))
    scale = probit_scale(cells.acc, cells.n)
    k_cells = np.stack([a, b], axis=1).ravel()  # blocks: a, b of contrast 0, then 1, ...
    blocks = Blocks(np.repeat(np.arange(g), 2), cells.var[k_cells],
                    (cells.seeds[k_cells] - 1).astype(np.float64),
                    cells.seeds[k_cells].astype(np.float64), cells.resid[k_cells],
                    scale[k_cells], units.ravel())
    return ContrastData(est, n, example, cells.acc[a], cells.acc[b], cells.seeds[a],
                        cells.seeds[b], pos, neg, blocks)


@dataclass(frozen=True)
class Variance:
    """The variance of each contrast's Δ̂ and its parts, all (G,).

    total: V;  df: Satterthwaite;  seed: Σ_j max(0, v_j − r_j/n)/S_j (training runs);
    interaction: Σ_j r_j/(S_j n);  example: max(0, x/n − interaction) (test examples);
    cochran_cox: (G,) bool, some seed term rests on < 2 df (use Cochran–Cox critical values).
    """

    total: np.ndarray
    df: np.ndarray
    seed: np.ndarray
    interaction: np.ndarray
    example: np.ndarray
    cochran_cox: np.ndarray
    terms: np.ndarray  # (G, B + 2) the terms of V (seeds, example, −interaction); df alongside
    term_df: np.ndarray


def variance(data: ContrastData, var: np.ndarray, df: np.ndarray,
             df_level: float | None = DF_LEVEL, df_guard: np.ndarray | None = None) -> Variance:
    """V and its parts with block seed variances `var` and their df `df` ((K,): the data's own,
    or moderated ones from pooling.py). df_level: the Satterthwaite df weigh each seed term at
    its upper `df_level` confidence limit (None: at its estimate; module docstring); df_guard
    (K,) bool: only those blocks' terms (default: all)."""
    b, g = data.blocks, data.estimate.size
    has = b.seeds >= 2
    seed_terms = np.where(has, var / b.seeds, 0.0)  # (K,)
    inter = np.where(has, b.resid / (b.seeds * data.n[b.owner]), 0.0)  # (K,)
    per = lambda x: np.bincount(b.owner, x, minlength=g)  # noqa: E731
    example_raw = data.example / data.n
    inter_sum = per(inter)
    kept = example_raw > inter_sum  # else the example part is estimated as 0: drop both terms
    example = np.where(kept, example_raw - inter_sum, 0.0)
    total = per(seed_terms) + example
    # terms as a (G, B + 2) matrix for Satterthwaite / Cochran–Cox (B: blocks per contrast,
    # at most 2): seed terms, +example, −interaction
    slot = _slots(b.owner)
    width = int(slot.max(initial=-1)) + 1
    terms = np.zeros((g, width + 2))
    tdf = np.full((g, width + 2), np.inf)
    terms[b.owner, slot] = seed_terms
    tdf[b.owner, slot] = np.where(has, df, np.inf)
    terms[:, width] = np.where(kept, example_raw, 0.0)
    tdf[:, width] = np.maximum(data.n - 1.0, 1.0)
    terms[:, width + 1] = np.where(kept, -inter_sum, 0.0)
    inter_df = per(np.where(has, (b.seeds - 1) * (data.n[b.owner] - 1), 0.0))
    tdf[:, width + 1] = np.where(inter_df > 0, inter_df, np.inf)
    seed_pure = per(np.where(has, np.maximum(var - b.resid / data.n[b.owner], 0.0) / b.seeds,
                             0.0))
    cc = np.zeros(g, dtype=bool)
    np.logical_or.at(cc, b.owner, has & (df < 2))
    if df_level is not None:  # weigh the seed terms at their upper limits for the df only
        terms = terms.copy()
        guard = has if df_guard is None else has & df_guard
        upper = upper_weights(var[:, None], df[:, None], df_level)[:, 0]
        terms[b.owner, slot] = np.where(guard, upper / b.seeds, seed_terms)
    return Variance(total, satterthwaite_signed(terms, tdf), seed_pure, inter_sum, example,
                    cc, terms, tdf)


def _slots(owner: np.ndarray) -> np.ndarray:
    """(K,) each block's position among its contrast's blocks (owner is sorted)."""
    first = np.searchsorted(owner, owner, side="left")
    return np.arange(owner.size) - first


def satterthwaite_signed(terms: np.ndarray, df: np.ndarray) -> np.ndarray:
    """(G,) Welch–Satterthwaite df of Σ_k terms[:, k]; a term may be negative (the
    subtracted interaction): its variance counts like any other's."""
    total = terms.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = (terms**2 / df).sum(axis=1)
        return np.where(den > 0, total**2 / den, np.inf)


__all__ = ["Blocks", "Cells", "ContrastData", "Variance", "cell_stats", "contrast_data",
           "probit_scale", "variance"]
