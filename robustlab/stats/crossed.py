"""Several training seeds: a t-test of equal *mean* accuracy under the crossed seed × example
design, and the interval that inverts it.

Every statistic is θ = Σ_j mean(block_j) with block j `(S_j, n)`: one method's per-example
values per seed (accuracy: one 0/1 block; paired Δ with shared seeds: one block a − b;
different seed sets: blocks a and −b). The seeds of a block are its own random training runs;
all blocks share the n test examples, so seeds and examples are crossed random factors.

Variance (Clark's 1973 min-F′ for crossed random factors, "language as a fixed effect"):

    V̂ = Σ_j s²(seed means of block j) / S_j  +  s²(per-example values e_i) / n,
    e_i = Σ_j mean_s block_j[s, i]

Each term over-counts the seed × example interaction a little (σ²_e/(S n) each), so V̂ is
conservative by that much. Degrees of freedom: Welch–Satterthwaite over the terms (S_j − 1
for a seed term, n − 1 for the example term) when every seed term has ≥ 2 df (≥ 3 seeds);
with 2 seeds a seed variance rests on 1 df and Satterthwaite is anti-conservative (measured:
`bench_calibration`), so the critical value is then Cochran–Cox's variance-weighted mean of
the terms' own t quantiles. A block with one seed has no estimable seed variance and adds no
seed term (said in docs/statistics.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2
from scipy.stats import t as student

_BISECTIONS = 60  # on log(α) ∈ [-700, 0]: resolves p to ~1e-15 relative
DF_LEVEL = 0.95  # the terms' upper confidence limit the df are computed at (upper_weights)


@dataclass(frozen=True)
class Components:
    """Variance components of G slice estimates (one row each).

    estimate: (G,) θ̂;  n: (G,) examples;  n_seeds: (G,) the most seeds of any block;
    var: (G, K) component variances (0 = absent);  df: (G, K) their degrees of freedom (inf
    where absent);  pos, neg: (G,) Σ max(e_i, 0) and Σ max(−e_i, 0) — the seed-averaged
    successes (accuracy) or discordant counts (Δ) that the model-conditional exact/score
    interval uses;  n_pos, n_neg: (G,) how many examples have e_i > 0 / e_i < 0.
    """

    estimate: np.ndarray
    n: np.ndarray
    n_seeds: np.ndarray
    var: np.ndarray
    df: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    n_pos: np.ndarray
    n_neg: np.ndarray


def components(slices: Sequence[Sequence[np.ndarray]]) -> Components:
    """Components of each slice (blocks `(S_j, n)` float; see the module docstring)."""
    rows = [_one(blocks) for blocks in slices]
    width = max((len(r[2]) for r in rows), default=1)
    var = np.zeros((len(rows), width))
    df = np.full((len(rows), width), np.inf)
    for g, row in enumerate(rows):
        var[g, : len(row[2])], df[g, : len(row[3])] = row[2], row[3]
    col = lambda k: np.array([r[k] for r in rows], dtype=np.float64)  # noqa: E731
    seeds = np.array([max(b.shape[0] for b in blocks) for blocks in slices], dtype=np.int64)
    return Components(col(0), col(1), seeds, var, df, col(4), col(5), col(6), col(7))


def _one(blocks: Sequence[np.ndarray]) -> tuple:
    n = blocks[0].shape[1]
    e = np.zeros(n)  # (n,) per-example contribution to θ
    var, df = [], []
    for block in blocks:
        e += block.mean(axis=0)
        s = block.shape[0]
        if s >= 2:
            var.append(block.mean(axis=1).var(ddof=1) / s)
            df.append(s - 1.0)
    if n >= 2:
        var.append(e.var(ddof=1) / n)
        df.append(n - 1.0)
    return (float(e.mean()), n, var, df, float(np.maximum(e, 0).sum()),
            float(np.maximum(-e, 0).sum()), int((e > 0).sum()), int((e < 0).sum()))


def by_code(blocks: Sequence[np.ndarray], code: np.ndarray, n_codes: int) -> Components:
    """Components of every slice `code == k` of one set of blocks, without copying slices.

    blocks: `(S_j, n)`; code: (n,) int in [0, n_codes). Slices with < 2 examples get no
    example term. Vectorised with bincount: O(n · Σ S_j) for all slices together.
    """
    size = np.bincount(code, minlength=n_codes).astype(np.float64)  # (K,)
    safe = np.maximum(size, 1.0)
    e = np.zeros(code.shape[0])
    var, df = [], []
    for block in blocks:
        e += block.mean(axis=0)
        s = block.shape[0]
        if s >= 2:
            means = np.stack([np.bincount(code, row, n_codes) for row in block]) / safe  # (S, K)
            var.append(means.var(axis=0, ddof=1) / s)
            df.append(np.full(n_codes, s - 1.0))
    total = np.bincount(code, e, n_codes)
    sq = np.bincount(code, e * e, n_codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        ex_var = np.where(size >= 2, (sq - total**2 / safe) / (size - 1.0), 0.0)
    var.append(np.maximum(ex_var, 0.0) / safe)
    df.append(np.where(size >= 2, size - 1.0, np.inf))
    seeds = np.full(n_codes, max(b.shape[0] for b in blocks), dtype=np.int64)
    return Components(total / safe, size, seeds, np.stack(var, axis=1), np.stack(df, axis=1),
                      np.bincount(code, np.maximum(e, 0), n_codes),
                      np.bincount(code, np.maximum(-e, 0), n_codes),
                      np.bincount(code, e > 0, n_codes), np.bincount(code, e < 0, n_codes))


def satterthwaite(var: np.ndarray, df: np.ndarray) -> np.ndarray:
    """(G,) Welch–Satterthwaite degrees of freedom of Σ_k var[:, k]."""
    total = var.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = (var**2 / df).sum(axis=1)
        return np.where(den > 0, total**2 / den, np.inf)


def upper_weights(var: np.ndarray, df: np.ndarray, level: float = DF_LEVEL) -> np.ndarray:
    """The terms at their upper `level` confidence limits (df·v/χ²_{1−level}(df); inf df
    unchanged), for a Satterthwaite df only. A 2-df seed variance that happens to come out
    small would otherwise hand the test the example term's hundreds of df exactly when the
    estimate is least trustworthy: in the far tail a corrected level lives in, that made the
    test reject up to 17 times too often (docs/statistics.md). The verdicts use it
    (`components.variance`); the exploratory tables' test here, at α = 0.05, does not."""
    finite = np.isfinite(df) & (df > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = df * var / chi2.ppf(1.0 - level, np.where(finite, df, 1.0))
    return np.where(finite, scaled, var)


def cochran_cox(var: np.ndarray, df: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(G,) Cochran–Cox critical value at two-sided level alpha (G,): Σ_k v_k t_k / Σ_k v_k."""
    q = student.isf(alpha[:, None] / 2.0, df)  # (G, K); df = inf gives the normal quantile
    total = var.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (var * q).sum(axis=1) / total, 0.0)


def crossed_t(
    c: Components, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, p_value, df, cochran_cox) of the crossed-design t-test of θ = 0 and the
    interval that inverts it: low < 0 < high ⟺ p ≥ 1 − level.

    df is Satterthwaite's (reported for both rules); cochran_cox (G,) bool marks the rows that
    use Cochran–Cox's critical value (some term has 1 df: a method with 2 seeds).
    """
    se = np.sqrt(c.var.sum(axis=1))
    df = satterthwaite(c.var, c.df)
    cc = np.asarray((c.df < 2).any(axis=1))  # by design (a 2-seed method), not by the data
    alpha = np.full(se.shape, 1.0 - level)
    crit = np.where(cc, cochran_cox(c.var, c.df, alpha), student.isf(alpha / 2.0, df))
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.abs(c.estimate) / se
    p = 2.0 * student.sf(stat, df)
    if cc.any():  # the bisection only where Cochran–Cox applies
        p[cc] = cochran_cox_p(c.var[cc], c.df[cc], stat[cc])
    p = np.where(se > 0, p, np.where(c.estimate == 0, 1.0, 0.0))  # no spread at all
    return np.asarray(c.estimate - crit * se), np.asarray(c.estimate + crit * se), p, df, cc


def cochran_cox_p(var: np.ndarray, df: np.ndarray, stat: np.ndarray) -> np.ndarray:
    """(G,) the two-sided α at which the Cochran–Cox critical value of the terms `var` (G, K)
    with `df` equals |t| = stat (the critical value falls as α grows): bisection on log α."""
    lo, hi = np.full(stat.shape, -700.0), np.zeros(stat.shape)  # log α
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        above = cochran_cox(var, df, np.exp(mid)) > stat  # crit too high: α too small
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.minimum(1.0, np.exp(hi))


def concat(parts: Sequence[Components]) -> Components:
    """Rows of several Components in order (component columns padded: var 0, df inf)."""
    width = max(p.var.shape[1] for p in parts)

    def pad(x: np.ndarray, fill: float) -> np.ndarray:
        return np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=fill)

    cat = {f: np.concatenate([getattr(p, f) for p in parts])
           for f in Components.__dataclass_fields__ if f not in ("var", "df")}
    return Components(**cat, var=np.concatenate([pad(p.var, 0.0) for p in parts]),
                      df=np.concatenate([pad(p.df, np.inf) for p in parts]))


def take(c: Components, rows: np.ndarray) -> Components:
    """The rows `rows` (index or mask) of `c`."""
    return Components(**{f: getattr(c, f)[rows] for f in Components.__dataclass_fields__})
