"""The results contract between evaluation, the study runner, statistics and the report (DESIGN §9).

`reports/<study>/` holds:

predictions.parquet — one row per (method, seed, condition, example_id):
    method          str    the study's variant name (e.g. "gated_symile_no_null")
    seed            int64  final-run seed
    condition       str    condition id: "clean" or e.g. "missing(b, fraction=0.5)"
    cond_op         str    operator name of the condition ("clean" for the clean condition;
                           "+"-joined names for a composition)
    cond_modality   str    modality the condition targets ("none" for clean)
    cond_level      float  the condition's position on its robustness curve: the severity
                           for severity operators, the fraction for fraction-only operators,
                           0.0 for clean
    example_id      int64
    correct         bool
    rank            int64  1-based rank of the true item (1 = retrieved / classified right)
    score_margin    float  true item's score minus the best other score
    perturbed       bool   was this example changed by the condition
    perturbed_modality str modality changed for this example ("none" if untouched)
    op              str    per-example operator ("none" if untouched)
    severity        float  per-example severity (0.0 if untouched)
    written by the study runner, optional for readers (older folders lack them):
    fraction        float  per-example fraction of the operator (0.0 if untouched)
    step<k>_perturbed / _modality / _op / _severity / _fraction   per step of a composition
    observed        str    the modalities present in the data before any perturbation,
                           "+"-joined in the dataset's order (e.g. "a+b+c", "a+c"; "none")
    target_missing  bool   retrieval only: the query's target is missing in the data itself,
                           so it cannot be retrieved; the row is kept, flagged, and left out
                           of every statistic (`scored`)
    label           int64  the example's class, when the dataset has labels
    ... plus every metadata column of the dataset (e.g. corrupted_modality, site); a
    metadata column may not take any of the names above (`is_reserved_column`)

trials.parquet — one row per tuning trial:
    method str, trial_id str, config str (JSON), status str ("completed" | "stopped" |
    "failed"), metric float (best-so-far of budget.metric), metric_history list[float],
    epochs int64, wall_time_s float, cpu float, gpu float, error str (null unless failed)
    written by the study runner, optional for readers (older folders lack them):
    finished_at float (Unix time of the trial's last result: the completion order),
    still_rising bool (the trial's validation curve still rises at its end, per the
    under-trained rule; null when it cannot be judged: stopped, failed or too short),
    adequacy list[str] (the budget-adequacy rules flagged for the trial's variant; [] = adequate)

manifest.json — resolved study spec, package versions, git SHA, seeds, hardware, start/end
times, `files` (the sha256 and size of predictions.parquet, trials.parquet, optuna.db and
report.html as written: `FileDigest.to_json()`; the report verifies the first two), and per
method: registry name, options, search space (`search_ranges`: structured),
best config, parameter count, budget used, final runs (with their per-epoch `val_history`)
and the budget-adequacy verdict (`adequacy`); top-level `adequacy`: chance level, thresholds,
the flagged rules per variant (docs/adequacy.md).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

PREDICTION_COLUMNS: dict[str, type[pl.DataType]] = {
    "method": pl.String,
    "seed": pl.Int64,
    "condition": pl.String,
    "cond_op": pl.String,
    "cond_modality": pl.String,
    "cond_level": pl.Float64,
    "example_id": pl.Int64,
    "correct": pl.Boolean,
    "rank": pl.Int64,
    "score_margin": pl.Float64,
    "perturbed": pl.Boolean,
    "perturbed_modality": pl.String,
    "op": pl.String,
    "severity": pl.Float64,
}

# Columns the harness writes beside the contract columns (optional for readers).
PREDICTION_OPTIONAL_COLUMNS: dict[str, type[pl.DataType]] = {
    "fraction": pl.Float64,
    "observed": pl.String,
    "target_missing": pl.Boolean,
    "label": pl.Int64,
}
OBSERVED_COLUMN = "observed"
TARGET_MISSING_COLUMN = "target_missing"
# A composition's per-step provenance (perturbations.Compose): step1_op, step2_severity, ...
STEP_FIELDS = ("perturbed", "modality", "op", "severity", "fraction")
_STEP_COLUMN = re.compile(r"step[0-9]+_(?:" + "|".join(STEP_FIELDS) + r")")

TRIAL_COLUMNS: dict[str, type[pl.DataType]] = {
    "method": pl.String,
    "trial_id": pl.String,
    "config": pl.String,
    "status": pl.String,
    "metric": pl.Float64,
    "epochs": pl.Int64,
    "wall_time_s": pl.Float64,
    "cpu": pl.Float64,
    "gpu": pl.Float64,
    "error": pl.String,
}

# Columns the study runner writes that readers accept missing (older results folders).
TRIAL_OPTIONAL_COLUMNS: dict[str, Any] = {
    "metric_history": pl.List(pl.Float64),
    "finished_at": pl.Float64,
    "still_rising": pl.Boolean,
    "adequacy": pl.List(pl.String),
}

PREDICTIONS_FILE = "predictions.parquet"
TRIALS_FILE = "trials.parquet"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.html"


def is_reserved_column(name: str) -> bool:
    """Whether the harness writes a column `name` into predictions.parquet itself (a dataset's
    metadata column may not take such a name: it would be overwritten or misread)."""
    return (name in PREDICTION_COLUMNS or name in PREDICTION_OPTIONAL_COLUMNS
            or _STEP_COLUMN.fullmatch(name) is not None)


def reserved_columns_text() -> str:
    """The reserved names, for error messages and the docs."""
    names = [*PREDICTION_COLUMNS, *PREDICTION_OPTIONAL_COLUMNS]
    fields = "/".join(f"_{f}" for f in STEP_FIELDS)
    return f"{', '.join(names)} and step<k>{fields} (k = 1, 2, ...)"


def scored(pred: pl.DataFrame) -> pl.DataFrame:
    """The rows that count in a statistic: all but those flagged `target_missing` (a query
    whose retrieval target is missing in the data cannot be right; it is kept in
    predictions.parquet, flagged, and counted in the report instead)."""
    if TARGET_MISSING_COLUMN not in pred.columns:
        return pred
    return pred.filter(~pl.col(TARGET_MISSING_COLUMN).fill_null(False))


class ResultsError(ValueError):
    """A results file that breaks the contract; the message names the file and the column."""


def check_columns(df: pl.DataFrame, schema: Mapping[str, type[pl.DataType]], where: str) -> None:
    """Raise ResultsError unless `df` has every column of `schema` with that dtype."""
    for name, dtype in schema.items():
        if name not in df.columns:
            raise ResultsError(f"{where}: missing column {name!r} (has {df.columns})")
        if df.schema[name] != dtype:
            raise ResultsError(f"{where}: column {name!r} is {df.schema[name]}, expected {dtype}")


def check_optional_columns(df: pl.DataFrame, schema: Mapping[str, Any], where: str) -> None:
    """Raise ResultsError when a column of `schema` is present with another dtype (an
    all-null column written without a dtype passes)."""
    for name, dtype in schema.items():
        if name in df.columns and df.schema[name] not in (dtype, pl.Null):
            raise ResultsError(f"{where}: column {name!r} is {df.schema[name]}, expected {dtype}")


def check_predictions(df: pl.DataFrame, where: str = PREDICTIONS_FILE) -> None:
    check_columns(df, PREDICTION_COLUMNS, where)
    check_optional_columns(df, PREDICTION_OPTIONAL_COLUMNS, where)
    key = ["method", "seed", "condition", "example_id"]
    if df.select(key).is_duplicated().any():
        raise ResultsError(f"{where}: duplicate rows for (method, seed, condition, example_id)")


@dataclass(frozen=True)
class FileDigest:
    """What was written: the sha256 of a file's bytes and their number (a truncated copy
    differs in size, a flipped bit in the hash)."""

    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.size}

    @classmethod
    def of_bytes(cls, data: bytes) -> FileDigest:
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    @classmethod
    def of_file(cls, path: Path) -> FileDigest:
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        return cls(digest.hexdigest(), size)

    def matches(self, recorded: Any) -> bool:
        """Whether `recorded` (a `to_json()` read back) describes these bytes."""
        return isinstance(recorded, dict) and recorded == self.to_json()


TEMP_SUFFIX = ".tmp"


def _readable_temp(path: Path) -> tuple[int, str]:
    """A temp file beside `path`, with the permissions a plain open() would give (mkstemp
    makes it 0600, which would leave reports unreadable to anyone but their author)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def remove_temp_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Remove the temp files an atomic write killed midway left in `folder` (only the
    writer of the folder may call this: another writer's temp file would vanish)."""
    pattern = f".*{TEMP_SUFFIX}"
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    removed = [p for p in found if p.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> FileDigest:
    """Write via a temp file in the same folder, fsync, then rename: never half-written.
    A full disk raises OSError(ENOSPC) and leaves `path` as it was. Returns the digest."""
    fd, tmp = _readable_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:  # a failed write names nothing
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    _fsync_folder(path.parent)
    return FileDigest.of_bytes(data)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut could otherwise undo it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory; the data is synced
        pass
    finally:
        os.close(fd)


def atomic_write_parquet(df: pl.DataFrame, path: Path) -> FileDigest:
    """Parquet through memory, so a full disk is our OSError(ENOSPC), not a polars error
    about a file "out of specification", and the digest is of the bytes written."""
    return atomic_write_bytes(path, parquet_bytes(df))


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.write_parquet(buffer)
    return buffer.getvalue()


def atomic_write_json(obj: Any, path: Path) -> FileDigest:
    return atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True,
                                               default=str).encode())


class StorageError(RuntimeError):
    """Writing the output folder failed part way (typically: the disk is full). What was
    written before stays whole; rerunning with --resume continues once the cause is gone."""


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXT = ("No space left on device", "Disk quota exceeded", "database or disk is full")


def is_disk_full(err: BaseException) -> bool:
    """Whether `err`, or an error it was raised from, says the disk (or a quota) is full:
    OSError ENOSPC/EDQUOT, SQLite's "database or disk is full", or such text (Ray re-raises
    errors from its loop as text)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in NO_SPACE:
            return True
        if any(text in str(current) for text in _NO_SPACE_TEXT):
            return True
        current = current.__cause__ or current.__context__
    return False
