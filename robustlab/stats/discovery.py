"""Slice discovery: find the slices where a variant fails, or where a significant comparison
reverses, without being told where to look — with a guarantee on false findings.

`discover_slices(pred, ...)` reads the predictions frame (DESIGN §9) and, per example, its
metadata columns and (optionally) embedding clusters:

1. **Split** (guarantee "holdout"): the test examples are split in two halves, stratified on
   the metadata and seeded by the study seed (`discovery_space.holdout_split`).
2. **Search space** (fitted on the discovery half): metadata levels (rare levels pooled,
   missing as a level), numeric columns in quantile bins, and k-means clusters of each
   modality's embedding; conjunctions up to `depth` (`discovery_engine`).
3. **Targets**: per (variant, condition), the seed-averaged error (kind "failure": a slice
   vs the rest); per significant comparison (`winners`: condition, winner, loser — today the
   per-condition pairwise table's significant rows, `significant_comparisons`), the winner's
   seed-averaged loss (kind "reversal": the slice's paired Δ against 0).
4. **Rank** every (slice, target) on the discovery half; keep the `top_k` per kind, at most one
   of near-identical slices per target (`discovery_confirm`).
5. **Confirm** them on the other half with the report's tests (`discovery_tests`), Holm or BH
   over those candidates only; estimates and intervals from the confirmation half.
   Guarantee "permutation" instead scores every slice on all examples and calibrates the
   family's maximum by permutations (`discovery_permutation`).

The result's `rows` hold every tested candidate and say which were confirmed (`finding`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from robustlab.results import OBSERVED_COLUMN, is_reserved_column
from robustlab.stats._cells import BASE_COLUMNS, Cell, cells, method_order, require_columns
from robustlab.stats.discovery_confirm import (
    SpaceRows,
    TargetSet,
    confirm_holdout,
    confirm_permutation,
)
from robustlab.stats.discovery_options import DiscoveryOptions
from robustlab.stats.discovery_space import (
    Column,
    auto_clusters,
    categorical,
    cluster,
    holdout_split,
    numeric,
)
from robustlab.stats.frames import pair_cells

MAX_CATEGORICAL = 20  # a numeric column with more distinct values is binned


@dataclass(frozen=True)
class Embeddings:
    """Per-example embeddings of the test examples, one array (n, d) per modality, rows in the
    order of `example_id` (n,); `source` says which model made them (e.g. "clip, seed 0")."""

    example_id: np.ndarray
    arrays: Mapping[str, np.ndarray]
    source: str


@dataclass(frozen=True)
class Searched:
    """How much was searched: the test examples and halves, the columns (name, levels,
    "metadata" | "embedding"), depth, the smallest slice, slices scored per kind and depth,
    targets per kind, the family corrected over, and notes (e.g. no embeddings saved)."""

    n_examples: int
    n_discovery: int
    n_confirmation: int
    columns: list[tuple[str, int, str]]
    depth: int
    min_count: int
    evaluated: dict[str, list[int]]
    targets: dict[str, int]
    family: int
    guarantee: str
    correction: str
    alpha: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Discovery:
    """rows: one per candidate tested (columns `discovery_confirm.COLUMNS`; docs/discovery.md),
    confirmed findings first; searched: how much was searched; discovery_half: the example ids
    the search ranked on (all of them for the permutation guarantee)."""

    rows: pl.DataFrame
    searched: Searched
    discovery_half: np.ndarray


def significant_comparisons(pairwise: pl.DataFrame) -> pl.DataFrame:
    """The comparisons whose aggregate difference is significant, oriented winner → loser:
    (condition, winner, loser, delta > 0). Reads `stats.pairwise_table(pred, ["condition"])`
    (columns condition, method_a, method_b, delta, significant); the report's declared
    contrasts can replace it as long as they give the same four columns."""
    sig = pairwise.filter(pl.col("significant") & (pl.col("delta") != 0))
    a_wins = pl.col("delta") > 0
    return sig.select(
        "condition",
        winner=pl.when(a_wins).then(pl.col("method_a")).otherwise(pl.col("method_b")),
        loser=pl.when(a_wins).then(pl.col("method_b")).otherwise(pl.col("method_a")),
        delta=pl.col("delta").abs())


def discover_slices(
    pred: pl.DataFrame,
    *,
    options: DiscoveryOptions,
    winners: pl.DataFrame,
    embeddings: Embeddings | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    same_data: bool = False,
) -> Discovery:
    """Discovered slices of `pred` (module docstring). `winners`: significant comparisons
    (`significant_comparisons`); `seed`: the study seed (fixes the split, the clusters and
    the permutations: the same results give the same findings).

    same_data=True (evaluation only; holdout guarantee): rank *and* test on every example, as
    SliceFinder, SliceLine-based tools and Giskard do — the mistake the holdout exists to avoid;
    `python -m bench discovery` and the calibration tests measure its false findings."""
    require_columns(pred, list(BASE_COLUMNS), "discover_slices")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
    split_rng, cluster_rng, perm_rng = (np.random.default_rng(s) for s in
                                        np.random.SeedSequence([seed, 23]).spawn(3))
    ids, meta = _metadata(pred, options.columns)
    holdout = options.guarantee == "holdout"
    fit = holdout_split(_strata(meta), split_rng) if holdout and not same_data \
        else np.ones(ids.size, bool)
    min_count = max(options.min_examples, int(np.ceil(options.min_support * fit.sum())))
    notes: list[str] = []
    columns = _columns(meta, fit, options, min_count)
    columns += _cluster_columns(ids, embeddings, fit, options, min_count, cluster_rng, notes)
    columns = [c for c in columns if len(c.labels) >= 2]
    targets = _targets(pred, ids, winners, options)
    space = SpaceRows(ids, columns, fit)
    if holdout:
        rows, evaluated, family = confirm_holdout(space, targets, options, min_count, alpha,
                                                  fit if same_data else ~fit)
    else:
        rows, evaluated, family = confirm_permutation(space, targets, options, min_count,
                                                      alpha, perm_rng)
    if not columns:
        notes.append("no column to slice on: no metadata with two levels or more and no "
                     "embeddings")
    searched = Searched(
        n_examples=int(ids.size), n_discovery=int(fit.sum()) if holdout else int(ids.size),
        n_confirmation=int((~fit).sum()) if holdout else int(ids.size),
        columns=[(c.name, len(c.labels), "embedding" if c.name in _cluster_names(embeddings)
                  else "metadata") for c in columns],
        depth=options.depth, min_count=min_count, evaluated=evaluated,
        targets={k: len(v.names) for k, v in targets.items()}, family=family,
        guarantee=options.guarantee, correction=options.correction, alpha=alpha, notes=notes)
    return Discovery(rows, searched, ids[fit])


def _cluster_names(embeddings: Embeddings | None) -> set[str]:
    return set() if embeddings is None else {f"{m} cluster" for m in embeddings.arrays}


def metadata_columns(pred: pl.DataFrame) -> list[str]:
    """The columns searched by default: the dataset's metadata, `label` and `observed`."""
    return [c for c in pred.columns
            if not is_reserved_column(c) or c in ("label", OBSERVED_COLUMN)]


def _metadata(pred: pl.DataFrame, declared: Sequence[str] | None
              ) -> tuple[np.ndarray, pl.DataFrame]:
    """((n,) sorted example ids, one row per example with the searched columns)."""
    names = list(declared) if declared is not None else metadata_columns(pred)
    missing = [c for c in names if c not in pred.columns]
    if missing:
        raise ValueError(f"columns: {missing} not in the predictions; metadata columns: "
                         f"{metadata_columns(pred)}")
    per = pred.select(["example_id", *names]).unique().sort("example_id")
    if per["example_id"].is_duplicated().any():
        bad = per.filter(pl.col("example_id").is_duplicated())["example_id"][0]
        raise ValueError(f"discover_slices: example {bad} has different values of a metadata "
                         f"column {names} across rows; slices must be per example")
    return per["example_id"].to_numpy(), per.drop("example_id")


def _strata(meta: pl.DataFrame) -> np.ndarray:
    """(n, p) codes of the categorical metadata (fewest levels first) for the split."""
    cols = sorted((c for c in meta.columns if meta[c].n_unique() <= MAX_CATEGORICAL),
                  key=lambda c: meta[c].n_unique())
    if not cols:
        return np.zeros((meta.height, 1), dtype=np.int64)
    codes = [np.unique(meta[c].cast(pl.String).fill_null("\x00").to_numpy(),
                       return_inverse=True)[1] for c in cols]
    return np.stack(codes, axis=1)


def _columns(meta: pl.DataFrame, fit: np.ndarray, options: DiscoveryOptions,
             min_count: int) -> list[Column]:
    out = []
    for name in meta.columns:
        col = meta[name]
        if col.dtype.is_numeric() and col.dtype != pl.Boolean \
                and col.n_unique() > MAX_CATEGORICAL:
            out.append(numeric(name, col.cast(pl.Float64).to_numpy(), fit, options.bins))
        else:
            out.append(categorical(name, col.cast(pl.String).to_list(), fit, min_count))
    return out


def _cluster_columns(ids: np.ndarray, embeddings: Embeddings | None, fit: np.ndarray,
                     options: DiscoveryOptions, min_count: int, rng: np.random.Generator,
                     notes: list[str]) -> list[Column]:
    if options.clusters == 0:
        return []
    if embeddings is None:
        notes.append("no test embeddings were saved with these results (an older results "
                     "folder, or none asked for): slices of metadata only")
        return []
    pos = np.searchsorted(embeddings.example_id, ids)
    pos = np.clip(pos, 0, max(embeddings.example_id.size - 1, 0))
    if embeddings.example_id.size == 0 or not (embeddings.example_id[pos] == ids).all():
        notes.append(f"the saved embeddings ({embeddings.source}) do not cover every test "
                     "example: no clusters")
        return []
    k = auto_clusters(int(fit.sum()), min_count) if options.clusters == "auto" \
        else int(options.clusters)
    return [cluster(f"{m} cluster", x[pos], fit, k, options.pca, rng)
            for m, x in embeddings.arrays.items()]


def _targets(pred: pl.DataFrame, ids: np.ndarray, winners: pl.DataFrame,
             options: DiscoveryOptions) -> dict[str, TargetSet]:
    """{kind: TargetSet} for the kinds asked for (a kind without any target is left out)."""
    groups = cells(pred, ["condition"])
    order = method_order(pred)
    out: dict[str, TargetSet] = {}
    if "failure" in options.targets:
        names, values, correct = [], [], []
        for (cond,), per in groups.items():
            for m in order:
                if m in per:
                    cell = _aligned(per[m], ids, cond, m)
                    names.append((str(cond), m, None))
                    values.append(1.0 - cell.correct.mean(axis=0))
                    correct.append((cell.correct.astype(np.float64),))
        if names:
            out["failure"] = TargetSet("failure", names, np.stack(values, axis=1), correct, [])
    if "reversal" in options.targets and winners.height:
        names, values, blocks, pairs = [], [], [], []
        for r in winners.iter_rows(named=True):
            per = groups.get((r["condition"],), {})
            if r["winner"] not in per or r["loser"] not in per:
                continue
            a = _aligned(per[r["winner"]], ids, r["condition"], r["winner"])
            b = _aligned(per[r["loser"]], ids, r["condition"], r["loser"])
            pair = pair_cells(a, b, f"condition {r['condition']!r}")
            names.append((str(r["condition"]), r["winner"], r["loser"]))
            values.append(-np.sum([blk.mean(axis=0) for blk in pair], axis=0))
            blocks.append(pair)
            pairs.append((a.correct.astype(np.float64), b.correct.astype(np.float64)))
        if names:
            out["reversal"] = TargetSet("reversal", names, np.stack(values, axis=1), pairs,
                                        blocks)
    return out


def _aligned(cell: Cell, ids: np.ndarray, condition: object, method: str) -> Cell:
    if not np.array_equal(cell.ids, ids):
        raise ValueError(f"condition {condition!r}, {method}: holds other example ids than the "
                         "test set; discovery needs every condition on the same examples")
    return cell
