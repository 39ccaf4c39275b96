"""Read and check a results folder (DESIGN §9) before anything is rendered.

Every problem raises `ReportInputError` whose message names the file and what would be valid,
so `python -m robustlab.report DIR` can print it and exit 2.
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
    TRIAL_COLUMNS,
    TRIAL_OPTIONAL_COLUMNS,
    TRIALS_FILE,
    ResultsError,
    check_columns,
    check_optional_columns,
    check_predictions,
)


class ReportInputError(ResultsError):
    """A results folder the report cannot be rendered from; the message names the file."""


@dataclass(frozen=True)
class Results:
    """The parsed results folder.

    predictions: the long frame of predictions.parquet (contract-checked, non-empty)
    trials:      trials.parquet, or None when the study recorded no tuning trials
    manifest:    manifest.json as a dict
    """

    folder: Path
    predictions: pl.DataFrame
    trials: pl.DataFrame | None
    manifest: dict[str, Any]

    @property
    def study(self) -> dict[str, Any]:
        """The resolved study spec of the manifest ({} when absent)."""
        study = self.manifest.get("study", {})
        return study if isinstance(study, dict) else {}

    @property
    def methods(self) -> list[str]:
        """Method (variant) names in order of first appearance in predictions.parquet (the
        study's order; the manifest's JSON objects are key-sorted, so they cannot say it)."""
        return self.predictions["method"].unique(maintain_order=True).to_list()


def load_results(folder: Path) -> Results:
    """Read `folder`'s predictions.parquet, manifest.json and (optional) trials.parquet."""
    if not folder.is_dir():
        raise ReportInputError(f"{folder}: not a results folder (no such directory)")
    return Results(
        folder=folder,
        predictions=_read_predictions(folder / PREDICTIONS_FILE),
        trials=_read_trials(folder / TRIALS_FILE),
        manifest=_read_manifest(folder / MANIFEST_FILE),
    )


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
