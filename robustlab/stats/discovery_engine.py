"""The slice search: a level-wise lattice over conjunctions of categorical levels (SliceLine's
enumeration, Sagadeeva & Boehm 2021), scored for many targets at once by matrix products.

An *item* is one (column, level); a slice of depth k is k items of k different columns, kept
sorted by column. Membership is a bit matrix, one packed row per slice (`discovery_bits`): a child
is its parent's row AND its new item's row, a size is a popcount, a level's sums for every
target are popcounts of its rows against the targets' level masks (the bit form of the
product `members · values`), and the sizes of every (parent, item) pair come from one such
product before any child is built.

Each target t is a column of per-example values v (n,), and a slice S is scored by a z-type
statistic with a fixed per-target scale, so that its maximum over any child is bounded in
closed form (`_upper_bound`):

- kind "complement" (values ≥ 0, e.g. a model's error): effect = mean_S v − mean_{not S} v,
  z = effect · √(s (n − s) / n) / σ, σ the sd of v over all n rows (at one seed the pooled
  two-proportion z statistic);
- kind "zero" (e.g. the loss of a comparison's winner): effect = mean_S v,
  z = effect · √s / √mean(v²).

Pruning (exact for the pool's top `keep`): a slice needs `min_count` rows (a candidate of kind
"complement" also needs `min_count` outside it); a child needs every parent alive; a slice is
expanded only when some child could still beat the `keep`-th best score found so far (upper
bound from its size, its positive sum and the largest value of v). A child enters the pool only
when its effect beats every parent's effect on that target by `margin` (it must concentrate the
failure, not inherit it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from robustlab.stats.discovery_bits import Sums, overlaps, pack, sizes

Kind = Literal["complement", "zero"]


@dataclass(frozen=True)
class Items:
    """The items of a search space: bits (L, W) packed membership; column, level: (L,)."""

    bits: np.ndarray
    column: np.ndarray
    level: np.ndarray


def one_hot(codes: np.ndarray, n_levels: np.ndarray) -> Items:
    """Items of `codes` (n, p) with `n_levels` (p,), column by column, level by level."""
    p = codes.shape[1]
    column = np.repeat(np.arange(p), n_levels)
    level = np.concatenate([np.arange(k) for k in n_levels]) if p else np.zeros(0, np.int64)
    return Items(pack(level[:, None] == codes[:, column].T), column, level)


@dataclass(frozen=True)
class Target:
    """Per-target constants: values (n, T), how to sum them and their positive parts over
    slices, totals, maxima and scales (T,)."""

    kind: Kind
    values: np.ndarray
    sums: Sums
    positive: Sums | None  # None for "complement" (values >= 0: the sums themselves)
    total: np.ndarray
    vmax: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, kind: Kind) -> Target:
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"values: expected (n, T), got shape {v.shape}")
        if kind == "complement" and (v < 0).any():
            raise ValueError("values: kind 'complement' needs values >= 0 (an error rate)")
        scale = v.std(axis=0) if kind == "complement" else np.sqrt((v * v).mean(axis=0))
        scale = np.where(scale > 0, scale, np.inf)  # a constant target scores 0 everywhere
        positive = None if kind == "complement" else Sums.of(np.maximum(v, 0.0))
        return cls(kind, v, Sums.of(v), positive, v.sum(axis=0),
                   np.maximum(v.max(axis=0), 1e-12), scale)


def score(t: Target, sums: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(effect, z), each (m, T), of slices with `sums` (m, T) and `size` (m,)."""
    n = t.values.shape[0]
    s = size[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if t.kind == "complement":
            effect = sums / s - (t.total - sums) / (n - s)
            z = effect * np.sqrt(s * (n - s) / n) / t.scale
        else:
            effect = sums / s
            z = effect * np.sqrt(s) / t.scale
    return np.nan_to_num(effect), np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def upper_bound(t: Target, size: np.ndarray, positive: np.ndarray, min_count: int
                ) -> np.ndarray:
    """(m, T) bound on z of any slice inside one with `size` (m,) and positive-part sums
    `positive` (m, T): a sub-slice has s ≤ size rows and sum ≤ min(positive, s · vmax).

    For both kinds z rises with s while the sum can grow as s · vmax, and falls with s once
    the sum is capped (derivative in docs/discovery.md), so the bound sits at
    s* = clip(positive / vmax, min_count, size)."""
    n = t.values.shape[0]
    s = np.clip(positive / t.vmax, min_count, size[:, None].astype(np.float64))
    u = np.minimum(positive, s * t.vmax)
    with np.errstate(invalid="ignore", divide="ignore"):
        if t.kind == "complement":
            s = np.minimum(s, n - min_count)
            z = (u * n - t.total * s) / (t.scale * np.sqrt(n * s * (n - s)))
        else:
            z = u / (t.scale * np.sqrt(s))
    return np.nan_to_num(z, nan=-np.inf, posinf=np.inf, neginf=-np.inf)


@dataclass(frozen=True)
class Level:
    """The slices of one depth: items (m, k) sorted by column; bits (m, W) membership."""

    items: np.ndarray
    bits: np.ndarray
    size: np.ndarray
    effect: np.ndarray  # (m, T)
    z: np.ndarray  # (m, T)
    positive: np.ndarray  # (m, T)


@dataclass(frozen=True)
class Candidates:
    """What the search keeps: (slice, target) pairs, best z first.

    items: (c, depth) item indices, -1 past the slice's depth; target, size: (c,) int;
    z, effect: (c,); bits: (c, W) membership. `evaluated`: slices scored per depth."""

    items: np.ndarray
    target: np.ndarray
    size: np.ndarray
    z: np.ndarray
    effect: np.ndarray
    bits: np.ndarray
    evaluated: tuple[int, ...]


def search(items: Items, t: Target, *, depth: int, min_count: int, keep: int,
           margin: float = 0.0, z_floor: float = 0.0, prune: bool = True
           ) -> tuple[Candidates, list[Level]]:
    """The `keep` best (slice, target) pairs with z > z_floor that pass the margin rule, and
    every level scored. With prune=False nothing is skipped but for support (the whole
    family, as a permutation test needs)."""
    if depth < 1 or min_count < 1 or keep < 1:
        raise ValueError(f"depth, min_count, keep: must be >= 1, got {depth}, {min_count}, "
                         f"{keep}")
    levels: list[Level] = []
    alive: list[np.ndarray] = []
    pool = _Pool(keep, z_floor)
    level = _first(items, t, min_count)
    for k in range(1, depth + 1):
        ok = margin_ok(level, levels[-1], margin) if k > 1 else np.ones(level.z.shape, bool)
        pool.add(level, ok, k)
        levels.append(level)
        if k == depth or level.size.size == 0:
            break
        bound = upper_bound(t, level.size, level.positive, min_count)
        alive.append(np.asarray((bound > pool.threshold).any(axis=1)) if prune
                     else np.ones(level.size.size, dtype=bool))
        level = _children(items, t, levels, alive, min_count, pool.threshold if prune
                          else -np.inf)
    return pool.result(depth, [lv.size.size for lv in levels]), levels


def _stats(t: Target, items: np.ndarray, bits: np.ndarray, min_count: int) -> Level:
    """A level's sizes and scores. A slice whose complement has < min_count rows (kind
    "complement") gets z = -inf: it is no candidate, but its children may be."""
    n = t.values.shape[0]
    size = sizes(bits)
    sums = t.sums.over(bits)  # (m, T)
    positive = sums if t.positive is None else t.positive.over(bits)
    effect, z = score(t, sums, size)
    if t.kind == "complement":
        z[n - size < min_count] = -np.inf
    return Level(items, bits, size, effect, z, positive)


def _first(items: Items, t: Target, min_count: int) -> Level:
    keep = np.flatnonzero(sizes(items.bits) >= min_count)
    return _stats(t, keep[:, None], items.bits[keep], min_count)


def _keys(items: np.ndarray, base: int) -> np.ndarray:
    """(m,) int64 key of each sorted item tuple (m, k)."""
    key = np.zeros(items.shape[0], dtype=np.int64)
    for j in range(items.shape[1]):
        key = key * base + items[:, j]
    return key


def _children(items: Items, t: Target, levels: list[Level], alive: list[np.ndarray],
              min_count: int, threshold: float) -> Level:
    """Every child of the last level's alive slices extended by an alive first-level item of a
    later column, with enough rows, every parent alive, and a bound above `threshold`."""
    parent, first = levels[-1], levels[0]
    base = items.bits.shape[0] + 1
    pa, fa = np.flatnonzero(alive[-1]), np.flatnonzero(alive[0])
    p_items, f_items = parent.items[pa], first.items[fa, 0]
    overlap = overlaps(parent.bits[pa], first.bits[fa])  # (|pa|, |fa|) sizes
    later = items.column[f_items][None, :] > items.column[p_items[:, -1]][:, None]
    pi, fi = np.nonzero(later & (overlap >= min_count))
    child = np.concatenate([p_items[pi], f_items[fi, None]], axis=1)  # (c, k + 1)
    rows = _parent_rows(child, p_items, base)  # (c, k + 1) rows into pa; -1: parent dead
    full = (rows >= 0).all(axis=1)
    child, pi, fi, rows = child[full], pi[full], fi[full], rows[full]
    positive = parent.positive[pa]
    bound_pos = np.min(np.stack([positive[rows[:, j]] for j in range(rows.shape[1])]), axis=0) \
        if child.shape[0] else np.zeros((0, t.values.shape[1]))
    size = overlap[pi, fi].astype(np.float64)
    ok = (upper_bound(t, size, bound_pos, min_count) > threshold).any(axis=1)
    child, pi, fi = child[ok], pi[ok], fi[ok]
    return _stats(t, child, parent.bits[pa[pi]] & first.bits[fa[fi]], min_count)


def _parent_rows(child: np.ndarray, parents: np.ndarray, base: int) -> np.ndarray:
    """(c, k + 1): for each child and each item dropped, the row of that parent among
    `parents` (m, k) (the alive slices of the last level), or -1 when it is not there."""
    keys = _keys(parents, base)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    out = np.empty((child.shape[0], child.shape[1]), dtype=np.int64)
    for j in range(child.shape[1]):
        sub = np.delete(child, j, axis=1)
        k = _keys(sub, base)
        pos = np.clip(np.searchsorted(sorted_keys, k), 0, max(sorted_keys.size - 1, 0))
        found = sorted_keys.size > 0
        hit = (sorted_keys[pos] == k) if found else np.zeros(k.shape, dtype=bool)
        out[:, j] = np.where(hit, order[pos] if found else -1, -1)
    return out


def margin_ok(level: Level, prev: Level, margin: float) -> np.ndarray:
    """(m, T): each slice's effect beats each of its parents' (in `prev`, the level above) by
    `margin` (a parent missing from `prev` does not count)."""
    base = int(max(level.items.max(initial=0), prev.items.max(initial=0))) + 2
    rows = _parent_rows(level.items, prev.items, base)
    best = np.max(np.stack([np.where((rows[:, j] >= 0)[:, None], prev.effect[rows[:, j]],
                                     -np.inf) for j in range(rows.shape[1])]), axis=0)
    return level.effect >= best + margin


class _Pool:
    """The `keep` best (slice, target) pairs seen so far (by z, ties: earlier first)."""

    def __init__(self, keep: int, z_floor: float) -> None:
        self.keep, self.floor = keep, z_floor
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.z = np.zeros(0)

    @property
    def threshold(self) -> float:
        return float(self.z.min()) if self.z.size >= self.keep else self.floor

    def add(self, level: Level, ok: np.ndarray, depth: int) -> None:
        take = ok & (level.z > self.threshold)
        rows, cols = np.nonzero(take)
        if rows.size > self.keep:
            top = np.argsort(-level.z[rows, cols], kind="stable")[: self.keep]
            rows, cols = rows[top], cols[top]
        self.parts.append((np.full(rows.size, depth), rows, cols, level.z[rows, cols],
                           level.effect[rows, cols], level.size[rows], level.items[rows],
                           level.bits[rows]))
        z_all = np.concatenate([p[3] for p in self.parts])
        self.z = np.sort(z_all)[::-1][: self.keep]

    def result(self, depth: int, evaluated: list[int]) -> Candidates:
        z = np.concatenate([p[3] for p in self.parts]) if self.parts else np.zeros(0)
        order = np.argsort(-z, kind="stable")[: self.keep]
        pad = [np.pad(p[6], ((0, 0), (0, depth - p[6].shape[1])), constant_values=-1)
               for p in self.parts]
        cat = lambda i: np.concatenate([p[i] for p in self.parts])[order]  # noqa: E731
        bits = np.concatenate([p[7] for p in self.parts])[order] if self.parts \
            else np.zeros((0, 0), np.uint64)
        items = np.concatenate(pad)[order] if pad else np.zeros((0, depth), np.int64)
        return Candidates(items.astype(np.int64), cat(2).astype(np.int64),
                          cat(5).astype(np.int64), z[order], cat(4), bits,
                          tuple(evaluated))
