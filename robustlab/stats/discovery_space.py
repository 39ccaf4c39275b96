"""The search space of slice discovery: which test examples discover and which confirm, and the
categorical columns whose levels a slice is a conjunction of.

Everything that is *fitted* — which rare levels are pooled, the quantile edges of a numeric
column, the PCA and k-means of an embedding — is fitted on the rows marked `fit` (the discovery
half) and then applied to every row, so the confirmation half never shapes the slices it tests.
Nothing here looks at outcomes (correctness): the split and the columns depend on the examples'
features only, which keeps the confirmation tests valid conditionally on them.

A column is `Column(name, labels, codes)`: codes `(n,)` int in `[0, len(labels))`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OTHER = "(other)"  # rare levels pooled (fewer than min_count discovery rows), unseen levels
MISSING = "(missing)"


@dataclass(frozen=True)
class Column:
    """One categorical search column: `labels[codes[i]]` is row i's level."""

    name: str
    labels: tuple[str, ...]
    codes: np.ndarray

    def __post_init__(self) -> None:
        if self.codes.ndim != 1 or (self.codes.size and (
                self.codes.min() < 0 or self.codes.max() >= len(self.labels))):
            raise ValueError(f"column {self.name!r}: codes must be (n,) in [0, "
                             f"{len(self.labels)})")


def holdout_split(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool, True = discovery half: a seeded split, stratified on `strata`.

    strata: (n, p) int codes, coarsest column first. Rows are sorted by the strata (first
    column first, ties at random) and cut into consecutive pairs; a coin decides which row of a
    pair discovers. Every level of the first column is then split to within one row, and finer
    columns as far as their cells allow (nested stratification). An odd last row goes by coin.
    """
    n = strata.shape[0]
    keys = np.vstack([rng.random(n), *(strata[:, j] for j in range(strata.shape[1] - 1, -1, -1))])
    order = np.lexsort(keys)  # (n,) primary key: strata[:, 0]
    coin = rng.random((n + 1) // 2) < 0.5  # one per pair
    first = np.zeros(n, dtype=bool)  # position within the sorted order is discovery
    first[0::2] = coin
    first[1::2] = ~coin[: n // 2]
    out = np.zeros(n, dtype=bool)
    out[order] = first
    return out


def categorical(name: str, values: Sequence[object], fit: np.ndarray, min_count: int) -> Column:
    """A column of levels: null → "(missing)"; a level with < min_count rows among the `fit`
    rows (or none) is pooled into "(other)". Levels are sorted; the two pooled ones last."""
    text = np.array(["\x00" if v is None else str(v) for v in values], dtype=object)
    levels, counts = np.unique(text[fit].astype(str), return_counts=True)
    kept = [str(v) for v, c in zip(levels, counts, strict=True) if c >= min_count
            and v != "\x00"]
    labels = [*kept, OTHER, MISSING]
    index = {v: i for i, v in enumerate(kept)}
    codes = np.array([index.get(v, len(kept) + (v == "\x00")) for v in text], dtype=np.int64)
    return _compact(Column(name, tuple(labels), codes))


def numeric(name: str, values: np.ndarray, fit: np.ndarray, bins: int) -> Column:
    """Quantile bins of a numeric column, edges from the `fit` rows (inverted-CDF quantiles:
    every edge is an observed value; repeated edges merge). Bins are `[lo, hi)`, the last
    `[lo, hi]`; rows outside the fitted range go to the first or last bin; NaN → "(missing)"."""
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    seen = x[fit & finite]
    if seen.size == 0:
        return _compact(Column(name, (MISSING,), np.zeros(x.size, dtype=np.int64)))
    edges = np.unique(np.quantile(seen, np.linspace(0, 1, bins + 1), method="inverted_cdf"))
    inner = edges[1:-1]
    k = max(edges.size - 1, 1)
    codes = np.where(finite, np.minimum(np.searchsorted(inner, np.nan_to_num(x),
                                                        side="right"), k - 1), k)
    text = [f"{v:.4g}" for v in edges]
    labels = ([f"[{text[i]}, {text[i + 1]}{']' if i == k - 1 else ')'}" for i in range(k)]
              if edges.size > 1 else [f"= {text[0]}"])
    return _compact(Column(name, (*labels, MISSING), codes.astype(np.int64)))


def _compact(col: Column) -> Column:
    """Drop levels that no row takes (codes renumbered, order kept)."""
    used = np.unique(col.codes)
    remap = np.full(len(col.labels), -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return Column(col.name, tuple(col.labels[i] for i in used), remap[col.codes])


def cluster(name: str, embedding: np.ndarray, fit: np.ndarray, k: int, dims: int,
            rng: np.random.Generator) -> Column:
    """k-means clusters of an embedding, fitted on the `fit` rows and assigned to all rows.

    embedding: (n, D) float. PCA to `dims` components (centre and axes from the fit rows), then
    k-means with k-means++ starts (scipy's kmeans2, 30 Lloyd steps, seeded by `rng`); every row
    goes to its nearest centre. Labels "1" … "k", numbered by size on the fit
    rows (largest first), so a name does not depend on the start.
    """
    from scipy.cluster.vq import kmeans2

    x = np.asarray(embedding, dtype=np.float64)
    centre = x[fit].mean(axis=0)
    z = (x - centre) @ principal_axes(x[fit] - centre, dims)  # (n, dims)
    k = max(1, min(k, int(fit.sum())))
    with warnings.catch_warnings():  # an empty cluster only leaves fewer levels
        warnings.simplefilter("ignore", UserWarning)
        centres, _ = kmeans2(z[fit], k, iter=30, minit="++", rng=rng)
    dist = ((z[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # (n, k)
    nearest = dist.argmin(axis=1)
    sizes = np.bincount(nearest[fit], minlength=k)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    labels = tuple(str(i + 1) for i in range(k))
    return _compact(Column(name, labels, rank[nearest]))


def principal_axes(centred: np.ndarray, dims: int) -> np.ndarray:
    """(D, ≤ dims) leading principal axes of centred rows (n, D), from the eigenvectors of
    the D × D scatter matrix (cheaper than an SVD of the rows when n ≫ D)."""
    _, vectors = np.linalg.eigh(centred.T @ centred)  # eigenvalues ascending
    return vectors[:, ::-1][:, :dims]


def auto_clusters(n_fit: int, min_count: int) -> int:
    """Clusters per modality when the study says `auto`: about two minimum-size slices per
    cluster (so the smallest reportable slice can be a cluster), between 2 and 32."""
    return int(np.clip(n_fit // (2 * max(min_count, 1)), 2, 32))


def codes_matrix(columns: Sequence[Column]) -> tuple[np.ndarray, np.ndarray]:
    """((n, p) int codes, (p,) number of levels) of the columns, in order."""
    if not columns:
        raise ValueError("the search space has no column")
    codes = np.stack([c.codes for c in columns], axis=1)
    return codes, np.array([len(c.labels) for c in columns], dtype=np.int64)
