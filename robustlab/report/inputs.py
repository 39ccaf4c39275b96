"""Read and check a results folder (DESIGN §9) before anything is rendered.

Every problem raises `ReportInputError` whose message names the file and what would be valid,
so `python -m robustlab.report DIR` can print it and exit 2. A results file whose checksum
the manifest recorded when it was written (`files`) must still match it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from robustlab.results import (
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    TARGET_MISSING_COLUMN,
    TRIAL_COLUMNS,
    TRIAL_OPTIONAL_COLUMNS,
    TRIALS_FILE,
    FileDigest,
    ResultsError,
    check_columns,
    check_optional_columns,
    check_predictions,
    scored,
)


class ReportInputError(ResultsError):
    """A results folder the report cannot be rendered from; the message names the file."""


@dataclass(frozen=True)
class Results:
    """The parsed results folder.

    predictions: the rows of predictions.parquet that count (contract-checked, non-empty):
                 all but those flagged `target_missing` (`robustlab.results.scored`), methods
                 in the report's order (`method_order`)
    trials:      trials.parquet, or None when the study recorded no tuning trials
    manifest:    manifest.json as a dict
    unscored:    test queries left out because their retrieval target is missing in the data
    """

    folder: Path
    predictions: pl.DataFrame
    trials: pl.DataFrame | None
    manifest: dict[str, Any]
    unscored: int = 0

    @property
    def study(self) -> dict[str, Any]:
        """The resolved study spec of the manifest ({} when absent)."""
        study = self.manifest.get("study", {})
        return study if isinstance(study, dict) else {}

    @property
    def methods(self) -> list[str]:
        """Method (variant) names in the report's order (`method_order`)."""
        return self.predictions["method"].unique(maintain_order=True).to_list()


def load_results(folder: Path) -> Results:
    """Read `folder`'s predictions.parquet, manifest.json and (optional) trials.parquet."""
    if not folder.is_dir():
        raise ReportInputError(f"{folder}: not a results folder (no such directory)")
    path = folder / PREDICTIONS_FILE
    _verify_recorded(folder)
    everything = _read_predictions(path)
    manifest = _read_manifest(folder / MANIFEST_FILE)
    predictions = scored(everything)
    if predictions.height == 0:
        raise ReportInputError(f"{path}: every row is flagged {TARGET_MISSING_COLUMN} (the "
                               "retrieval target is missing in the data); nothing to score")
    unscored = 0
    if predictions.height < everything.height:  # the flag exists and holds some rows
        flagged = everything.filter(pl.col(TARGET_MISSING_COLUMN).fill_null(False))
        unscored = flagged["example_id"].n_unique()
    order = method_order(everything["method"].unique(maintain_order=True).to_list(), manifest)
    rank = {m: i for i, m in enumerate(order)}
    predictions = (predictions.with_columns(_order=pl.col("method").replace_strict(
        rank, return_dtype=pl.Int64)).sort("_order", maintain_order=True).drop("_order"))
    return Results(folder=folder, predictions=predictions, trials=_read_trials(
        folder / TRIALS_FILE), manifest=manifest, unscored=unscored)


def method_order(found: list[str], manifest: dict[str, Any]) -> list[str]:
    """The order methods appear in, on every table and chart: the study's order (the
    manifest's `method_order`, else first appearance in predictions.parquet), with each
    variant moved next to its base method (variants share the `registry` name of the
    manifest's `methods.<name>`; the variant named like the registry entry comes first)."""
    declared = manifest.get("method_order")
    if not (isinstance(declared, list) and all(isinstance(m, str) for m in declared)):
        declared = []
    names = [m for m in declared if m in found] + [m for m in found if m not in declared]
    records = manifest.get("methods", {})
    records = records if isinstance(records, dict) else {}

    def registry(name: str) -> str:
        record = records.get(name)
        value = record.get("registry") if isinstance(record, dict) else None
        return value if isinstance(value, str) and value else name

    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(registry(name), []).append(name)
    return [m for base, members in groups.items()
            for m in sorted(members, key=lambda m: m != base)]  # stable: the base first


def _verify_recorded(folder: Path) -> None:
    """Raise ReportInputError when predictions.parquet or trials.parquet no longer match the
    checksum manifest.json recorded when the study wrote them."""
    try:
        recorded = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))["files"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return  # no record (another producer, an older study): _read_manifest judges the rest
    if not isinstance(recorded, dict):
        return
    for name in (PREDICTIONS_FILE, TRIALS_FILE):
        path = folder / name
        if name in recorded and path.is_file() and not FileDigest.of_file(path).matches(
                recorded[name]):
            raise ReportInputError(
                f"{path}: damaged (its size or sha256 differs from the one {MANIFEST_FILE} "
                f"recorded when the study wrote it); rerun the study command with --resume "
                f"to rebuild it from parts/")


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise ReportInputError(f"{path}: not a readable Parquet file ({err})") from err


def _read_predictions(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise ReportInputError(f"{path}: missing (the evaluation writes it; see DESIGN §9)")
    df = _read_parquet(path)
    try:
        check_predictions(df, where=str(path))
    except ResultsError as err:
        raise ReportInputError(str(err)) from err
    if df.height == 0:
        raise ReportInputError(f"{path}: has no rows; nothing to report")
    return df


def _read_trials(path: Path) -> pl.DataFrame | None:
    if not path.exists():
        return None
    df = _read_parquet(path)
    try:
        check_columns(df, TRIAL_COLUMNS, str(path))
        check_optional_columns(df, TRIAL_OPTIONAL_COLUMNS, str(path))
    except ResultsError as err:
        raise ReportInputError(str(err)) from err
    return df


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReportInputError(f"{path}: missing (the study runner writes it; see DESIGN §9)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportInputError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict):
        raise ReportInputError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    for key in ("study", "methods"):
        if key in manifest and not isinstance(manifest[key], dict):
            raise ReportInputError(f"{path}: {key!r} must be an object, got "
                                   f"{type(manifest[key]).__name__}")
    return manifest
