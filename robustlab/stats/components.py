"""Variance components of a contrast Δ = acc_a − acc_b under the crossed seed × example design.

Seeds and test examples are crossed random factors: every training seed of a variant is
evaluated on the same n examples. A contrast's data are *blocks* `(S_j, n)` of per-example
values: one block a − b when both variants have the same seed ids (seed s of a pairs with seed
s of b), else two blocks a and −b. For a block X (two-way layout without replication):

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
from scipy.stats import chi2

DF_LEVEL: float | None = 0.95



@dataclass(frozen=True)
class Blocks:
    """The seed blocks of G contrasts, flattened to K rows; row k belongs to `owner[k]`.

    var: (K,) variance of the block's seed means (ddof 1; 0 with one seed);  df: (K,) S − 1;
    seeds: (K,) S;  resid: (K,) interaction mean square (0 with one seed);  scale: (K,) the
    block's probit-scale factor w (pooling.py), w(p) = φ(Φ⁻¹(p))² summed over its variants;
    unit: (K,) the source of the block's seed randomness (the variant of an unpaired block, as
    the caller numbers them; −1 − g for contrast g's paired block), what pooling counts as
    independent.
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


def _block(x: np.ndarray) -> tuple[float, float, float]:
    """(seed-level variance, interaction MS, seeds) of one block (S, n) float."""
    s, n = x.shape
    if s < 2:
        return 0.0, 0.0, float(s)
    rows, cols, grand = x.mean(axis=1), x.mean(axis=0), x.mean()
    ss_res = ((x - grand) ** 2).sum() - n * ((rows - grand) ** 2).sum() \
        - s * ((cols - grand) ** 2).sum()
    return float(rows.var(ddof=1)), max(float(ss_res), 0.0) / ((s - 1) * (n - 1)), float(s)


def contrast_data(pairs: Sequence[tuple[np.ndarray, np.ndarray]], paired: Sequence[bool],
                  units: Sequence[tuple[int, int]] | None = None) -> ContrastData:
    """Components of each contrast. pairs[g] = (a (S_a, n), b (S_b, n)) bool or float, the two
    variants' correctness on the same examples (column j is example j in both); paired[g]:
    seed s of a pairs with seed s of b (same seed ids; requires S_a == S_b); units[g]: ids of
    a's and b's variants (≥ 0), the units pooling treats as independent."""
    est, n_ex, example, acc_a, acc_b, s_a, s_b, pos, neg = ([] for _ in range(9))
    owner, var, df, seeds, resid, scale, unit = ([] for _ in range(7))
    units = units if units is not None else [(2 * g, 2 * g + 1) for g in range(len(pairs))]
    for g, ((a, b), pair) in enumerate(zip(pairs, paired, strict=True)):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape[1] != b.shape[1] or (pair and a.shape != b.shape):
            raise ValueError(f"contrast {g}: shapes {a.shape} and {b.shape} do not pair")
        n = a.shape[1]
        pa, pb = float(a.mean()), float(b.mean())
        wa, wb = probit_scale(np.array(pa), np.array(n)), probit_scale(np.array(pb), np.array(n))
        ua, ub = units[g]
        parts = [(a - b, wa + wb, -1 - g)] if pair else [(a, wa, ua), (-b, wb, ub)]
        for x, w, u in parts:
            v, r, s = _block(x)
            owner.append(g), var.append(v), df.append(s - 1.0), seeds.append(s)
            resid.append(r), scale.append(float(w)), unit.append(u)
        e = a.mean(axis=0) - b.mean(axis=0)  # (n,)
        est.append(float(e.mean())), n_ex.append(n), acc_a.append(pa), acc_b.append(pb)
        example.append(float(e.var(ddof=1)) if n > 1 else 0.0)
        s_a.append(a.shape[0]), s_b.append(b.shape[0])
        pos.append(float(np.maximum(e, 0).sum())), neg.append(float(np.maximum(-e, 0).sum()))
    arr = lambda x, t=np.float64: np.asarray(x, dtype=t)  # noqa: E731
    blocks = Blocks(arr(owner, np.int64), arr(var), arr(df), arr(seeds), arr(resid), arr(scale),
                    arr(unit, np.int64))
    return ContrastData(arr(est), arr(n_ex, np.int64), arr(example), arr(acc_a), arr(acc_b),
                        arr(s_a, np.int64), arr(s_b, np.int64), arr(pos), arr(neg), blocks)


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
        terms[b.owner, slot] = np.where(guard, _upper(var, df, df_level) / b.seeds, seed_terms)
    return Variance(total, satterthwaite_signed(terms, tdf), seed_pure, inter_sum, example,
                    cc, terms, tdf)


def _upper(var: np.ndarray, df: np.ndarray, level: float) -> np.ndarray:
    """Upper `level` confidence limit of variances with df degrees of freedom."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(df > 0, df * var / chi2.ppf(1.0 - level, np.maximum(df, 1e-9)), var)


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


__all__ = ["Blocks", "ContrastData", "Variance", "contrast_data", "probit_scale", "variance"]
