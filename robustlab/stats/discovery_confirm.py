"""From searched candidates to findings: choose the candidates, test them, correct, group.

Holdout: the `top_k` candidates of a kind (best discovery z first) are chosen greedily, skipping
one whose discovery rows overlap an already chosen slice of the same target with Jaccard ≥ ½
(near-duplicates) or lie in it for ≥ 80 % (a refinement of a slice already chosen: it inherits
that slice's failure), and letting one slice take at most ⌈top_k/3⌉ places across targets (one
broad failure cannot crowd out the rest).

Each is tested on the confirmation half, one-sided: the discovery half fixed the direction (a
failure, a reversal), so the held-out test is of that direction only (a failure: the
skewness-corrected score test and the crossed t, `discovery_tests.slices_vs_rest`'s p_lower; a
reversal: p₂/2 of the report's symmetric paired test when the estimate points that way, else
1 − p₂/2) — and each interval is the two-sided 1 − 2α one, whose end is the one-sided 1 − α
bound (it excludes 0 exactly when p < α). Holm or BH runs over every chosen candidate of every
kind — that, and nothing searched, is the family — weighted by the discovery ranking (weight
1/rank, best discovery z first: `weighted_adjust`), so the strongest candidate is tested at
about α/3.6 among 20 instead of α/20, and the guarantee is unchanged because the weights come
from the other half.

Permutation: every pair whose max-T adjusted p (× the number of kinds, Bonferroni) is < α is
significant; the same greedy choice (among those that beat their parents by the margin) picks
what is shown, with the effect on all examples and the simultaneous interval estimate ± c · se,
c the max-T critical value.

A **finding** groups confirmed rows: kind "failure" by (condition, slice) — several variants
failing on the same examples; kind "reversal" by (condition, slice, winner) — one winner losing
to several opponents there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from robustlab.stats.correction import adjust
from robustlab.stats.crossed import components
from robustlab.stats.discovery_bits import overlaps
from robustlab.stats.discovery_engine import (
    Candidates,
    Items,
    Kind,
    Level,
    Target,
    margin_ok,
    one_hot,
    search,
)
from robustlab.stats.discovery_options import DiscoveryOptions
from robustlab.stats.discovery_permutation import family, max_t
from robustlab.stats.discovery_space import Column, codes_matrix
from robustlab.stats.discovery_tests import slices_vs_rest
from robustlab.stats.paired import compare

OVERLAP = 0.5  # Jaccard at which two slices of one target are the same finding
INSIDE = 0.8  # share of a slice's rows inside a chosen one that makes it a mere refinement
POOL_FACTOR = 10  # candidates kept by the search per place to fill
ENGINE_KIND: dict[str, Kind] = {"failure": "complement", "reversal": "zero"}
_TYPES: dict[str, Any] = {
    "kind": pl.String, "finding": pl.Int64, "condition": pl.String, "method": pl.String,
    "opponent": pl.String, "slice": pl.String, "depth": pl.Int64, "n": pl.Int64,
    "n_tested": pl.Int64, "acc_slice": pl.Float64, "acc_other": pl.Float64,
    "overall_delta": pl.Float64, "estimate": pl.Float64, "ci_low": pl.Float64,
    "ci_high": pl.Float64, "ci_method": pl.String, "p_value": pl.Float64,
    "p_adjusted": pl.Float64, "confirmed": pl.Boolean, "discovery_z": pl.Float64,
    "example_ids": pl.List(pl.Int64)}
COLUMNS = list(_TYPES)


@dataclass(frozen=True)
class SpaceRows:
    """The coded search space over the test examples: ids (n,), columns, fit (n,) bool (the
    rows the space was fitted and the candidates ranked on)."""

    ids: np.ndarray
    columns: list[Column]
    fit: np.ndarray


@dataclass(frozen=True)
class TargetSet:
    """The targets of one kind: names (condition, method, opponent or None); values (n, T)
    for the search; per target, `correct`: the method's (S, n) correctness (and the
    opponent's, for a reversal) and, for a reversal, the paired Δ blocks (method − opponent,
    `frames.pair_cells`)."""

    kind: str
    names: Sequence[tuple[str, str, str | None]]
    values: np.ndarray
    correct: Sequence[tuple[np.ndarray, ...]]
    blocks: Sequence[tuple[np.ndarray, ...]]


def select(c: Candidates, top_k: int) -> list[int]:
    """Greedy choice of up to `top_k` candidates, best z first (module docstring)."""
    if c.z.size == 0:
        return []
    per_slice = max(1, -(-top_k // 3))
    inter = overlaps(c.bits, c.bits).astype(np.float64)
    jac = inter / np.maximum(c.size[:, None] + c.size[None, :] - inter, 1.0)
    inside = inter / np.maximum(c.size[:, None], 1.0)  # [i, j]: share of i's rows in j
    chosen: list[int] = []
    for i in range(c.z.size):
        same = [j for j in chosen if c.target[j] == c.target[i]]
        if any(jac[i, j] >= OVERLAP or inside[i, j] >= INSIDE for j in same):
            continue
        if sum(jac[i, j] >= 1.0 - 1e-12 for j in chosen) >= per_slice:
            continue
        chosen.append(i)
        if len(chosen) == top_k:
            break
    return chosen


def _items(space: SpaceRows, rows: np.ndarray) -> tuple[Items, np.ndarray]:
    codes, n_levels = codes_matrix(space.columns)
    return one_hot(codes[rows], n_levels), codes


def _mask(codes: np.ndarray, items: Items, chosen: np.ndarray) -> np.ndarray:
    """(n,) membership of the slice with item indices `chosen` (-1 = unused)."""
    mask = np.ones(codes.shape[0], dtype=bool)
    for i in chosen[chosen >= 0]:
        mask &= codes[:, items.column[i]] == items.level[i]
    return mask


def _text(space: SpaceRows, items: Items, chosen: np.ndarray) -> str:
    return " ∧ ".join(f"{space.columns[items.column[i]].name} = "
                      f"{space.columns[items.column[i]].labels[items.level[i]]}"
                      for i in chosen[chosen >= 0])


def confirm_holdout(space: SpaceRows, targets: dict[str, TargetSet], options: DiscoveryOptions,
                    min_count: int, alpha: float, test_rows: np.ndarray
                    ) -> tuple[pl.DataFrame, dict[str, list[int]], int]:
    """(rows, slices evaluated per kind and depth, family size) of the holdout guarantee:
    ranked on the `space.fit` rows, tested on the `test_rows` (n,) bool (the other half)."""
    if not space.columns:
        return _frame([]), {k: [] for k in targets}, 0
    fit = space.fit
    items, codes = _items(space, np.flatnonzero(fit))
    rows, evaluated = [], {}
    for kind, ts in targets.items():
        t = Target.of(ts.values[fit], ENGINE_KIND[kind])
        cand, _ = search(items, t, depth=options.depth, min_count=min_count,
                         keep=max(50, POOL_FACTOR * options.top_k), margin=options.margin)
        evaluated[kind] = list(cand.evaluated)
        chosen = select(cand, options.top_k)
        masks = [_mask(codes, items, cand.items[i]) for i in chosen]
        tested = _tested(ts, [(int(cand.target[i]), m) for i, m in zip(chosen, masks,
                                                                        strict=True)],
                         test_rows, 1.0 - 2.0 * alpha)
        rows += [{**row, **_described(space, items, cand.items[i], m),
                  "discovery_z": float(cand.z[i])}
                 for i, m, row in zip(chosen, masks, tested, strict=True)]
    if rows:
        rank = np.argsort(np.argsort([-r["discovery_z"] for r in rows], kind="stable"))
        p_adj = weighted_adjust(np.array([r["p_value"] for r in rows]), 1.0 / (rank + 1.0),
                                options.correction)
        for r, q in zip(rows, p_adj, strict=True):
            r["p_adjusted"], r["confirmed"] = float(q), bool(q < alpha)
    return _frame(_group(rows)), evaluated, len(rows)


def weighted_adjust(p: np.ndarray, weights: np.ndarray, correction: str) -> np.ndarray:
    """Weighted Holm (Holm 1979) or weighted Benjamini–Hochberg (Genovese, Roeder & Wasserman
    2006) adjusted p-values, shape and order of `p` (m,); weights (m,) > 0.

    Holm: with w normalised to sum 1 and q = p / w sorted ascending, q_(k) becomes
    max_{j ≤ k} min(1, q_(j) Σ_{l ≥ j} w_(l)) — equal weights give Holm's (m − k + 1) p_(k).
    BH: w normalised to mean 1, then BH on p / w. Weights fixed before the tested data are
    seen (here: from the discovery half) keep the error guarantee of the unweighted procedure
    (Rubin, Dudoit & van der Laan 2006 use the same split for the same purpose)."""
    p = np.asarray(p, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if correction == "bh":
        return np.maximum(adjust(np.minimum(p / (w * w.size / w.sum()), 1.0), "bh"), p)
    w = w / w.sum()
    order = np.argsort(p / w, kind="stable")
    tail = np.cumsum(w[order][::-1])[::-1]  # Σ_{l ≥ k} w_(l)
    out = np.empty_like(p)
    out[order] = np.minimum(1.0, np.maximum.accumulate((p / w)[order] * tail))
    return np.maximum(out, p)


def _described(space: SpaceRows, items: Items, chosen: np.ndarray, mask: np.ndarray
               ) -> dict[str, Any]:
    return {"slice": _text(space, items, chosen), "depth": int((chosen >= 0).sum()),
            "n": int(mask.sum()), "example_ids": space.ids[mask].tolist()}


def one_sided(p_two: float, estimate: float) -> float:
    """The one-sided p of "Δ < 0" from a symmetric two-sided test's p and its estimate."""
    return p_two / 2.0 if estimate < 0 else 1.0 - p_two / 2.0


def _tested(ts: TargetSet, picks: list[tuple[int, np.ndarray]], half: np.ndarray,
            level: float) -> list[dict[str, Any]]:
    """The tests of (target, slice mask (n,)) pairs on the examples `half` (n,), batched.
    `level` is the two-sided level of the intervals (1 − 2α: their upper end is the one-sided
    1 − α bound that the one-sided p inverts)."""
    rows, ok = [], []
    for t, mask in picks:
        cond, method, opponent = ts.names[t]
        inside = mask & half
        rows.append({"kind": ts.kind, "condition": cond, "method": method,
                     "opponent": opponent, "n_tested": int(inside.sum()), "acc_slice": None,
                     "acc_other": None, "overall_delta": None, "estimate": None,
                     "ci_low": None, "ci_high": None, "ci_method": "too few examples",
                     "p_value": 1.0})
        ok.append(inside.sum() >= 2 and (ts.kind != "failure" or (half & ~mask).sum() >= 2))
    todo = [i for i in range(len(picks)) if ok[i]]
    if ts.kind == "failure":
        res = slices_vs_rest([ts.correct[picks[i][0]][0][:, half] for i in todo],
                             [picks[i][1][half] for i in todo], level)
        for i, r in zip(todo, res, strict=True):
            rows[i].update(acc_slice=r.acc_slice, acc_other=r.acc_rest, estimate=r.estimate,
                           ci_low=r.low, ci_high=r.high, ci_method=r.method,
                           p_value=r.p_lower)
        return rows
    inside = [picks[i][1] & half for i in todo]
    blocks = [[blk[:, m] for blk in ts.blocks[picks[i][0]]] for i, m in zip(todo, inside,
                                                                          strict=True)]
    res_c = compare(components(blocks), level) if blocks else []
    for i, m, c in zip(todo, inside, res_c, strict=True):
        t = picks[i][0]
        rows[i].update(acc_slice=float(ts.correct[t][0][:, m].mean()),
                       acc_other=float(ts.correct[t][1][:, m].mean()),
                       overall_delta=float(-ts.values[:, t].mean()), estimate=c.estimate,
                       ci_low=c.low, ci_high=c.high, ci_method=c.method,
                       p_value=one_sided(c.p_value, c.estimate))
    return rows


def confirm_permutation(space: SpaceRows, targets: dict[str, TargetSet],
                        options: DiscoveryOptions, min_count: int, alpha: float,
                        rng: np.random.Generator
                        ) -> tuple[pl.DataFrame, dict[str, list[int]], int]:
    """(rows, slices evaluated per kind and depth, family size) of the max-T guarantee."""
    if not space.columns:
        return _frame([]), {k: [] for k in targets}, 0
    everything = np.ones(space.ids.size, dtype=bool)
    items, codes = _items(space, np.flatnonzero(everything))
    rows, evaluated, size = [], {}, 0
    kinds = max(len(targets), 1)
    for kind, ts in targets.items():
        t = Target.of(ts.values, ENGINE_KIND[kind])
        _, levels = search(items, t, depth=options.depth, min_count=min_count, keep=1,
                           prune=False)
        evaluated[kind] = [lv.size.size for lv in levels]
        bits, z = family(levels)
        null = max_t(bits, z, t, permutations=options.permutations, min_count=min_count,
                     rng=rng)
        size += int(np.isfinite(null.z).sum())
        crit = null.critical(alpha / kinds)
        cand = _significant(levels, bits, null.z, crit, options)
        chosen = select(cand, options.top_k)
        masks = [_mask(codes, items, cand.items[i]) for i in chosen]
        tested = _tested(ts, [(int(cand.target[i]), m) for i, m in zip(chosen, masks,
                                                                        strict=True)],
                         everything, 1.0 - 2.0 * alpha)
        for i, mask, row in zip(chosen, masks, tested, strict=True):
            se = _se(t, int(cand.target[i]), int(cand.size[i]))
            est = -float(cand.effect[i])  # accuracy (failure) or Δ (reversal) units
            p = min(1.0, kinds * float(null.adjusted(np.array(cand.z[i]))))
            rows.append({**row, **_described(space, items, cand.items[i], mask),
                         "estimate": est, "ci_low": est - crit * se, "ci_high": est + crit * se,
                         "ci_method": "max-T simultaneous", "p_value": None, "p_adjusted": p,
                         "confirmed": p < alpha, "discovery_z": float(cand.z[i])})
    return _frame(_group(rows)), evaluated, size


def _significant(levels: list[Level], bits: np.ndarray, z: np.ndarray, crit: float,
                 options: DiscoveryOptions) -> Candidates:
    """The family's pairs with z > crit whose effect beats their parents' by the margin (what
    may be shown), best z first."""
    shown = np.concatenate([np.ones(levels[0].z.shape, bool)] + [
        margin_ok(levels[k], levels[k - 1], options.margin) for k in range(1, len(levels))])
    m, j = np.nonzero((z > crit) & shown)
    order = np.argsort(-z[m, j], kind="stable")
    m, j = m[order], j[order]
    items = np.concatenate([np.pad(lv.items, ((0, 0), (0, options.depth - lv.items.shape[1])),
                                   constant_values=-1) for lv in levels])
    size = np.concatenate([lv.size for lv in levels])
    effect = np.concatenate([lv.effect for lv in levels])
    return Candidates(items[m], j, size[m], z[m, j], effect[m, j], bits[m],
                      tuple(lv.size.size for lv in levels))


def _se(t: Target, j: int, s: int) -> float:
    """The standard error the z of target j uses for a slice of s rows."""
    n = t.values.shape[0]
    if t.kind == "complement":
        return float(t.scale[j] * np.sqrt(n / (s * (n - s))))
    return float(t.scale[j] / np.sqrt(s))


def _group(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finding ids for confirmed rows (module docstring); confirmed first, by p_adjusted."""
    key_of = lambda r: (r["kind"], r["condition"], tuple(r["example_ids"]),  # noqa: E731
                        r["method"] if r["kind"] == "reversal" else "")
    confirmed = sorted((r for r in rows if r.get("confirmed")), key=lambda r: r["p_adjusted"])
    ids: dict[tuple, int] = {}
    for r in confirmed:
        r["finding"] = ids.setdefault(key_of(r), len(ids))
    rest = sorted((r for r in rows if not r.get("confirmed")),
                  key=lambda r: (r["p_adjusted"], -r["discovery_z"]))
    for r in rest:
        r["finding"] = None
    return sorted(confirmed, key=lambda r: (r["finding"], r["p_adjusted"])) + rest


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], schema=_TYPES)
