"""Readers of the on-disk `files` format: one `.npz` or `.parquet` file -> named columns.

A reader only decodes; `robustlab.data.files` decides what each column means and checks it.
Decoded columns are numpy arrays (npz arrays; Parquet list/array columns as (N, d) arrays,
null rows as NaN rows) or polars Series (Parquet scalar columns).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import polars as pl

Column = np.ndarray | pl.Series
SUFFIXES = (".npz", ".parquet")


class DataFileError(ValueError):
    """A data file that breaks the `files` format; names the file, the array and the problem."""

    def __init__(self, file: Path | str, array: str | None, problem: str) -> None:
        self.file, self.array, self.problem = str(file), array, problem
        where = f"{file}: " if array is None else f"{file}: array {array!r}: "
        super().__init__(where + problem)


def read_table(path: Path) -> dict[str, Column]:
    """Every named column of one split file, decoded but not yet validated."""
    if path.suffix == ".npz":
        return _read_npz(path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    raise DataFileError(path, None, f"unsupported file type; use one of {list(SUFFIXES)}")


def _read_npz(path: Path) -> dict[str, Column]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataFileError(path, None, f"unreadable .npz file ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataFileError(path, None, "not an .npz archive (np.savez writes one; this file "
                                        "holds a single .npy array)")
    with archive:
        return {name: _npz_array(path, archive, name) for name in archive.files}


def _npz_array(path: Path, archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    try:
        return np.asarray(archive[name])
    except ValueError as err:  # object arrays need pickle, which we never enable
        raise DataFileError(path, name, f"cannot be read without pickle ({err}); store "
                                        "numbers, booleans or fixed-width strings") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataFileError(path, name, f"unreadable ({err})") from None


def _read_parquet(path: Path) -> dict[str, Column]:
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise DataFileError(path, None, f"unreadable Parquet file ({err})") from None
    columns: dict[str, Column] = {}
    for series in frame.get_columns():
        nested = isinstance(series.dtype, pl.List | pl.Array)
        columns[series.name] = _list_to_array(path, series) if nested else series
    return columns


def _list_to_array(path: Path, series: pl.Series) -> np.ndarray:
    """A list/array column of equal-length rows -> (N, d) array; null rows become NaN rows."""
    if isinstance(series.dtype, pl.Array):
        series = series.cast(pl.List(series.dtype.inner))
    present = series.is_not_null().to_numpy()  # (N,)
    lengths = series.filter(series.is_not_null()).list.len().unique().to_list()
    if len(lengths) > 1:
        raise DataFileError(path, series.name, f"rows have different lengths {sorted(lengths)}; "
                                               "every row of a modality needs the same width")
    width = lengths[0] if lengths else 0
    flat = series.filter(series.is_not_null()).explode().to_numpy()  # (n_present * d,)
    if width == 0:
        flat = flat[:0]  # an empty list explodes to one null; there are no values
    if present.all():
        return flat.reshape(len(series), width)
    if not np.issubdtype(flat.dtype, np.floating):
        flat = flat.astype(np.float64)  # null rows need NaN, which only floats hold
    out = np.full((len(series), width), np.nan, dtype=flat.dtype)
    out[present] = flat.reshape(-1, width)
    return out
