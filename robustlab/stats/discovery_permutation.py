"""Westfall–Young max-T over the whole searched family: the guarantee for small test sets.

The family is every (slice, target) pair the search scores without any outcome-based pruning
(every slice up to the depth with `min_count` rows). The null distribution of the family's
largest z comes from re-randomising the outcomes and rescoring every pair:

- kind "complement" (a slice vs the rest): permute the examples' values (one permutation for
  every target at once, so the targets' dependence is kept). Under the complete null —
  outcomes independent of slice membership — every permutation is equally likely.
- kind "zero" (a comparison's slice Δ against 0): flip the sign of each example's Δ (one flip
  vector for all targets). Under the null that Δ_i is symmetric around 0 on every example,
  every flip is equally likely; a slice whose Δ leans the winner's way only makes rejection
  rarer.

Adjusted p of a pair = (1 + #{replicates whose maximum ≥ its z}) / (B + 1) (single-step
max-T): reporting every pair with adjusted p < α keeps the chance of any false report ≤ α
under the complete null (and in the strong sense where subset pivotality holds, Westfall &
Young 1993). The z of both kinds uses fixed per-target scales, which permutations and flips
leave unchanged, so rescoring is the family's sums of the re-randomised values per block of
replicates (popcounts, or a matrix product for short rows). Both kinds searched together split α
(Bonferroni over the two, done by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustlab.stats.discovery_bits import Sums, sizes, unpack
from robustlab.stats.discovery_engine import Level, Target, score

_REPLICATE_COLUMNS = 512  # targets × replicates rescored together
_DENSE = 1 << 22  # unpacked membership entries per block (32 MB as float64)


@dataclass(frozen=True)
class MaxT:
    """z: (M, T) observed statistics of the family (−inf where a pair is not in it);
    maxima: (B,) the family's largest z in each replicate."""

    z: np.ndarray
    maxima: np.ndarray

    def adjusted(self, z: np.ndarray) -> np.ndarray:
        """Single-step adjusted p of statistics `z` (any shape)."""
        ordered = np.sort(self.maxima)
        above = ordered.size - np.searchsorted(ordered, z, side="left")  # #{max ≥ z}
        return (1.0 + above) / (ordered.size + 1.0)

    def critical(self, alpha: float) -> float:
        """c with: adjusted p(z) < alpha ⟺ z > c (inf when no z can reach it)."""
        b = self.maxima.size
        allowed = int(np.ceil(alpha * (b + 1) - 1)) - 1  # replicates allowed at or above z
        if allowed < 0:
            return float("inf")
        return float(np.sort(self.maxima)[::-1][min(allowed, b - 1)])


def family(levels: list[Level]) -> tuple[np.ndarray, np.ndarray]:
    """(bits (M, W), z (M, T)) of every slice of an unpruned search, level after level."""
    return np.concatenate([lv.bits for lv in levels]), np.concatenate([lv.z for lv in levels])


def max_t(bits: np.ndarray, z: np.ndarray, t: Target, *, permutations: int, min_count: int,
          rng: np.random.Generator) -> MaxT:
    """The null maxima of the family with membership `bits` (M, W) and observed `z` (M, T)."""
    if permutations < 1:
        raise ValueError(f"permutations: must be >= 1, got {permutations}")
    n, n_targets = t.values.shape
    size = sizes(bits)
    in_family = np.isfinite(z).all(axis=1) & (size >= min_count)
    bits, size = bits[in_family], size[in_family]
    maxima = np.full(permutations, -np.inf)
    per = max(1, _REPLICATE_COLUMNS // n_targets)
    # long rows: popcounts against level masks; short rows (n < 4,096): a dense product is
    # faster than numpy's per-call overhead on 64 words or fewer (measured, bench_discovery)
    rows = size.size if bits.shape[1] >= 64 else max(1, _DENSE // max(n, 1))
    for start in range(0, permutations, per):
        count = min(per, permutations - start)
        values = _rerandomised(t, count, rng)  # (n, count · T)
        tiled = _tiled(t, count)
        best = np.full(count, -np.inf)
        for first in range(0, size.size, rows):
            block = bits[first:first + rows]
            sums = Sums.of(values).over(block) if bits.shape[1] >= 64 \
                else unpack(block, n).astype(np.float64) @ values
            _, zb = score(tiled, sums, size[first:first + rows])
            if t.kind == "complement":
                zb[n - size[first:first + rows] < min_count] = -np.inf
            best = np.maximum(best, zb.reshape(-1, count, n_targets).max(axis=(0, 2)))
        maxima[start:start + count] = best
    return MaxT(np.where(in_family[:, None], z, -np.inf) if z.size else z, maxima)


def _rerandomised(t: Target, count: int, rng: np.random.Generator) -> np.ndarray:
    """(n, count · T): `count` permutations (complement) or sign flips (zero) of the values,
    replicate-major."""
    n = t.values.shape[0]
    if t.kind == "complement":
        parts = [t.values[rng.permutation(n)] for _ in range(count)]
    else:
        parts = [t.values * rng.choice((-1.0, 1.0), size=(n, 1)) for _ in range(count)]
    return np.concatenate(parts, axis=1)


def _tiled(t: Target, count: int) -> Target:
    """`t`'s constants repeated for `count` replicates (permutations keep totals and scales;
    flips keep the scale, and the zero kind does not use the total)."""
    rep = lambda a: np.tile(a, count)  # noqa: E731
    return Target(t.kind, np.empty((t.values.shape[0], 0)), t.sums, t.positive, rep(t.total),
                  rep(t.vmax), rep(t.scale))
