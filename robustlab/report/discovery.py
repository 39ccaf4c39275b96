"""Slice discovery for the report: options from the manifest, embeddings from the results
folder, and the comparisons whose reversals are searched (docs/discovery.md).

Which comparisons: `COMPARISONS(frame)` on the verdicts (`analysis._called_frame`: the
declared contrasts, `significant` = called better or worse): a reversal must overturn an
average win the study's confirmatory family established.

Which embeddings: the clusters come from one model, so that every variant's slices are the same
sets of examples and comparisons stay paired: the study's `report.discovery.embeddings` variant,
else the first variant in study order that saved them, at its lowest seed. Its clusters are
clusters of that model's view of the test examples; with another model they would differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from robustlab.embedding_store import find_embeddings, read_embeddings
from robustlab.report.inputs import ReportInputError, Results
from robustlab.results import MANIFEST_FILE
from robustlab.stats.discovery import (
    Discovery,
    Embeddings,
    discover_slices,
    metadata_columns,
)
from robustlab.stats.discovery import significant_comparisons as _significant
from robustlab.stats.discovery_options import DiscoveryOptions

COMPARISONS: Callable[[pl.DataFrame], pl.DataFrame] = _significant


def options_from(results: Results) -> DiscoveryOptions:
    """`study.report.discovery` of the manifest (absent: the defaults); ReportInputError
    naming the manifest and the key when it is not valid."""
    report = results.study.get("report", {})
    raw: Any = report.get("discovery", {}) if isinstance(report, dict) else {}
    where = f"{results.folder / MANIFEST_FILE}: study.report.discovery"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ReportInputError(f"{where} must be an object, got {type(raw).__name__}")
    try:
        return DiscoveryOptions.from_mapping(raw)
    except (TypeError, ValueError) as err:
        raise ReportInputError(f"{where}.{err}") from err


def embeddings_of(results: Results, options: DiscoveryOptions) -> Embeddings | None:
    """The embeddings the clusters are fitted on (module docstring), or None."""
    if options.clusters == 0:
        return None
    order = results.methods if options.embeddings is None else [options.embeddings]
    found = find_embeddings(results.folder, order)
    if found is None:
        return None
    variant, seed, path = found
    try:
        ids, arrays = read_embeddings(path)
    except ValueError as err:
        raise ReportInputError(str(err)) from err
    return Embeddings(ids, arrays, f"{variant}, seed {seed}")


def discover(results: Results, pairwise: pl.DataFrame, options: DiscoveryOptions,
             alpha: float) -> Discovery | None:
    """The discovered slices of the results (None when the study turned discovery off)."""
    if not options.enabled:
        return None
    valid = metadata_columns(results.predictions)
    unknown = [c for c in options.columns or () if c not in valid]
    if unknown:
        raise ReportInputError(f"{results.folder / MANIFEST_FILE}: study.report.discovery."
                               f"columns: {unknown} not in predictions.parquet; metadata "
                               f"columns: {valid}")
    seed = results.study.get("seed", 0)
    return discover_slices(results.predictions, options=options, winners=COMPARISONS(pairwise),
                           embeddings=embeddings_of(results, options), alpha=alpha,
                           seed=seed if isinstance(seed, int) else 0)
