"""The resampling engine behind every bootstrap in robustlab.stats.

A slice's data is a tuple of *blocks*, each `(S_j, n)` float: block j holds one method's
per-example values for each of its S_j seeds, already signed and weighted, so the statistic is
`θ = Σ_j mean(block_j)` (accuracy: one block of 0/1; paired Δ: one block a − b, or blocks a and
−b when seeds are resampled independently; robustness metrics: level-weighted sums).

A bootstrap resample draws S_j seed rows with replacement for every block (independently per
block) and n example columns with replacement (the same columns for all blocks). θ* depends on
the example draw only through how often each distinct column *pattern* is drawn, and those
counts are Multinomial(n, pattern frequencies): drawing them directly is the same bootstrap
distribution as drawing ids, at O(#patterns) per resample instead of O(n).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Largest (resamples × slices × patterns) count array built at once; bounds peak memory (~64 MB).
_CHUNK_ELEMENTS = 1 << 23
_ID_CHUNK_ELEMENTS = 1 << 20  # drawn ids per chunk: small blocks stay in the allocator's cache
_MAX_KEY = 1 << 62
# Relative costs that pick the cheaper of two exact draws (numpy 2.4, 2 busy cores; the matrix
# product is priced high because BLAS slows down most when the cores are shared): one
# category of a multinomial draw, one drawn example id (draw + count), one multiply-add.
_BINOMIAL_NS = 60.0
_ID_NS = 10.0
_GEMM_NS = 0.15


@dataclass(frozen=True)
class Compressed:
    """One slice reduced to its distinct example patterns.

    patterns: (K, S_total) float, one row per distinct column of the stacked blocks
    counts:   (K,) int, how many examples show each pattern (sums to n)
    seeds:    S_j per block (the block boundaries inside a pattern row)
    """

    patterns: np.ndarray
    counts: np.ndarray
    seeds: tuple[int, ...]

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def example_values(self) -> np.ndarray:
        """(K,) each pattern's contribution to θ: Σ_j mean over the block's seeds."""
        out = np.zeros(self.patterns.shape[0])
        start = 0
        for s in self.seeds:
            out += self.patterns[:, start : start + s].mean(axis=1)
            start += s
        return out

    def estimate(self) -> float:
        return float(self.counts @ self.example_values()) / self.n


def _row_digits(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(levels, digits): the distinct values of `row` and each entry's index into them."""
    if row.size and np.all(row == np.round(row)):
        low, high = row.min(), row.max()
        if high - low < 1 << 16:  # small integers (0/1 correctness): no sort needed
            digits = (row - low).astype(np.int64)
            present = np.bincount(digits) > 0
            remap = np.cumsum(present) - 1  # dense digits over the values present
            return np.arange(low, high + 1)[present], remap[digits]
    levels, digits = np.unique(row, return_inverse=True)
    return levels, digits.astype(np.int64)


def compress(blocks: Sequence[np.ndarray]) -> Compressed:
    """Reduce the blocks `(S_j, n)` of one slice to distinct column patterns and their counts."""
    stacked = np.concatenate([np.asarray(b, dtype=np.float64) for b in blocks], axis=0)
    per_row = [_row_digits(row) for row in stacked]  # mixed-radix digits, one per row
    cards = [levels.size for levels, _ in per_row]
    if float(np.prod(np.asarray(cards, dtype=np.float64))) >= _MAX_KEY:
        patterns, counts = np.unique(stacked.T, axis=0, return_counts=True)
        return Compressed(patterns, counts.astype(np.int64), tuple(b.shape[0] for b in blocks))
    key = np.zeros(stacked.shape[1], dtype=np.int64)
    for (_, digits), card in zip(per_row, cards, strict=True):
        key = key * card + digits
    keys, counts = np.unique(key, return_counts=True)
    patterns = np.empty((keys.size, stacked.shape[0]))
    rest = keys.copy()
    for r in range(stacked.shape[0] - 1, -1, -1):  # decode digits, last row first
        levels, _ = per_row[r]
        patterns[:, r] = levels[rest % cards[r]]
        rest //= cards[r]
    return Compressed(patterns, counts.astype(np.int64), tuple(b.shape[0] for b in blocks))


def _seed_weights(seeds: tuple[int, ...], rng: np.random.Generator, n_resamples: int) -> list:
    """Per block (R, S_j) seed multiplicities / S_j; a single seed is never resampled."""
    out = []
    for s in seeds:
        if s == 1:
            out.append(np.ones((n_resamples, 1)))
        else:
            draws = rng.multinomial(s, np.full(s, 1.0 / s), size=n_resamples)  # (R, S_j)
            out.append(draws / s)
    return out


def replicates(
    group: Sequence[Compressed], rng: np.random.Generator, n_resamples: int
) -> np.ndarray:
    """(R, G) bootstrap replicates θ* of every slice in `group` (all with the same seeds).

    Seed draws are shared by the slices of one call, and example draws may be shared by slices
    of equal size: each slice's own bootstrap distribution is exact either way (the report
    uses marginal intervals only). A slice with few patterns draws its pattern counts as one
    multinomial per resample (O(K)); a slice where most examples are their own pattern (K
    near n) draws example ids instead, shared with the other such slices of its size, and sums
    them with one matrix product.
    """
    seeds = group[0].seeds
    weights = _seed_weights(seeds, rng, n_resamples)
    out = np.empty((n_resamples, len(group)))
    by_ids = _id_drawn(group)
    few = sorted(set(range(len(group))) - {g for idx in by_ids.values() for g in idx})
    n_pat = max([group[g].counts.size for g in few], default=1)
    step = max(1, _CHUNK_ELEMENTS // (n_resamples * n_pat))
    for lo in range(0, len(few), step):
        idx = few[lo : lo + step]
        out[:, idx] = _multinomial_stats([group[g] for g in idx], weights, rng, n_resamples)
    for n, idx in by_ids.items():
        step = max(1, _CHUNK_ELEMENTS // (n * sum(seeds)))
        for lo in range(0, len(idx), step):
            part = idx[lo : lo + step]
            out[:, part] = _id_stats([group[g] for g in part], weights, rng, n_resamples)
    return out


def _id_drawn(group: Sequence[Compressed]) -> dict[int, list[int]]:
    """{n: slices of size n that draw ids}: those whose multinomial costs more than their share
    of a matrix product, when the saving pays for drawing n ids per resample once."""
    by_n: dict[int, list[int]] = {}
    for g, c in enumerate(group):
        by_n.setdefault(c.n, []).append(g)
    out = {}
    for n, idx in by_n.items():
        gain = [_BINOMIAL_NS * group[g].counts.size - _GEMM_NS * n * sum(group[g].seeds)
                for g in idx]
        if sum(x for x in gain if x > 0) > _ID_NS * n:
            out[n] = [g for g, x in zip(idx, gain, strict=True) if x > 0]
    return out


def _multinomial_stats(
    chunk: Sequence[Compressed], weights: list, rng: np.random.Generator, n_resamples: int
) -> np.ndarray:
    """(R, g) replicates of `chunk`, pattern counts drawn as Multinomial(n, frequencies)."""
    n_pat = max(c.counts.size for c in chunk)
    n = np.array([c.n for c in chunk], dtype=np.int64)  # (g,)
    pvals = np.zeros((len(chunk), n_pat))  # (g, K), zero-padded
    pats = np.zeros((len(chunk), n_pat, chunk[0].patterns.shape[1]))  # (g, K, S_total)
    for i, c in enumerate(chunk):
        pvals[i, : c.counts.size] = c.counts / c.n
        pats[i, : c.counts.size] = c.patterns
    counts = rng.multinomial(n, pvals, size=(n_resamples, len(chunk)))  # (R, g, K)
    return _stats(counts, pats, weights, chunk[0].seeds, n)


def _id_stats(
    chunk: Sequence[Compressed], weights: list, rng: np.random.Generator, n_resamples: int
) -> np.ndarray:
    """(R, g) replicates of equal-size slices from one shared draw of n example positions.

    Each slice's examples are laid out by pattern (a permutation of its examples, which a
    uniform draw of positions does not notice); per resample, how often each position is
    drawn times the values, summed by one (r, n) @ (n, g·S) product.
    """
    n, n_cols = chunk[0].n, chunk[0].patterns.shape[1]
    values = np.concatenate(  # (n, g·S_total): example i's pattern row, slice after slice
        [np.repeat(c.patterns, c.counts, axis=0) for c in chunk], axis=1)
    out = np.empty((n_resamples, len(chunk)))
    rows = max(1, _ID_CHUNK_ELEMENTS // n)
    for lo in range(0, n_resamples, rows):
        r = min(rows, n_resamples - lo)
        drawn = rng.integers(0, n, size=(r, n), dtype=np.int32)  # (r, n) positions
        drawn += (np.arange(r, dtype=np.int32) * n)[:, None]  # row offsets for one bincount
        counts = np.bincount(drawn.ravel(), minlength=r * n).reshape(r, n)
        sums = (counts.astype(np.float64) @ values).reshape(r, len(chunk), n_cols)
        out[lo : lo + r] = _combine(sums, [w[lo : lo + r] for w in weights], chunk[0].seeds) / n
    return out


def _stats(counts: np.ndarray, pats: np.ndarray, weights: list, seeds: tuple[int, ...],
           n: np.ndarray | int) -> np.ndarray:
    """(R, g) θ* from pattern counts (R, g, K) and patterns (g, K, S_total)."""
    sums = np.einsum("rgk,gks->rgs", counts.astype(np.float64), pats)  # (R, g, S_total)
    return _combine(sums, weights, seeds) / n


def _combine(sums: np.ndarray, weights: list, seeds: tuple[int, ...]) -> np.ndarray:
    """(R, g) Σ_j Σ_s w_j[r, s] · sums[r, g, s]: average the drawn seeds within each block."""
    total = np.zeros(sums.shape[:2])
    start = 0
    for w, s in zip(weights, seeds, strict=True):
        total += np.einsum("rgs,rs->rg", sums[:, :, start : start + s], w)
        start += s
    return total


def acceleration(c: Compressed) -> float:
    """BCa acceleration from the leave-one-example-out jackknife, in closed form.

    For a mean of per-example values v, dropping example i moves θ by (v̄ − v_i)/(n − 1), so
    â = Σ (v_i − v̄)³ / (6 (Σ (v_i − v̄)²)^{3/2}); NaN when every v_i is equal.
    """
    v = c.example_values()
    dev = v - (c.counts @ v) / c.n
    den = float(c.counts @ dev**2)
    if den <= 0.0:
        return float("nan")
    return float(c.counts @ dev**3) / (6.0 * den**1.5)
