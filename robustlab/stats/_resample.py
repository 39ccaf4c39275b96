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
_MAX_KEY = 1 << 62
# Draw example ids instead of a multinomial once patterns exceed n / this (ids cost ~1/8 as much).
_IDS_WHEN_PATTERNS_OVER = 8


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

    Seed draws are shared by the slices of one call (each slice's own distribution is
    unaffected); example draws are independent per slice. Pattern counts come from one
    multinomial draw per resample when a slice has few patterns, and from drawn example ids
    when almost every example is its own pattern (then ids are cheaper than K binomials).
    """
    seeds = group[0].seeds
    weights = _seed_weights(seeds, rng, n_resamples)
    out = np.empty((n_resamples, len(group)))
    many = [g for g, c in enumerate(group) if c.counts.size * _IDS_WHEN_PATTERNS_OVER > c.n]
    few = sorted(set(range(len(group))) - set(many))
    n_pat = max([group[g].counts.size for g in few], default=1)
    step = max(1, _CHUNK_ELEMENTS // (n_resamples * n_pat))
    for lo in range(0, len(few), step):
        idx = few[lo : lo + step]
        out[:, idx] = _multinomial_stats([group[g] for g in idx], weights, rng, n_resamples)
    for g in many:
        counts = _id_counts(group[g], rng, n_resamples)[:, None, :]  # (R, 1, K)
        out[:, [g]] = _stats(counts, group[g].patterns[None], weights, seeds, group[g].n)
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


def _id_counts(c: Compressed, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """(R, K) pattern counts from n example ids drawn with replacement per resample."""
    pattern_of = np.repeat(np.arange(c.counts.size), c.counts)  # (n,) pattern of each example
    k = c.counts.size
    out = np.empty((n_resamples, k), dtype=np.int64)
    rows = max(1, _CHUNK_ELEMENTS // c.n)
    for lo in range(0, n_resamples, rows):
        r = min(rows, n_resamples - lo)
        drawn = pattern_of[rng.integers(0, c.n, size=(r, c.n))]  # (r, n)
        flat = drawn + (np.arange(r) * k)[:, None]
        out[lo : lo + r] = np.bincount(flat.ravel(), minlength=r * k).reshape(r, k)
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
