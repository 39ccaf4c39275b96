"""Readers of the on-disk `files` format: one `.npz` or `.parquet` file -> named columns.

A reader only decodes; `robustlab.data.files` decides what each column means and checks it.
Decoded columns are numpy arrays (npz arrays; Parquet list/array columns as (N, d) arrays,
null rows as NaN rows) or polars Series (Parquet scalar columns). `Table.null_rows` says which
rows of a Parquet list/array column held a null (the whole row or an element), so a null is
reported as a null rather than as the NaN it was decoded to.

Data files are never unpickled: a pickle can run code. A file numpy would only read with
`allow_pickle=True` is reported as such, without numpy's advice to load it unsafely.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

Column = np.ndarray | pl.Series
SUFFIXES = (".npz", ".parquet")
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOL = 0x80  # the first byte of a pickle of protocol >= 2


class Table(NamedTuple):
    """The decoded columns of one file, and (N,) bool null-row flags of its Parquet
    list/array columns."""

    columns: dict[str, Column]
    null_rows: dict[str, np.ndarray]


class DataFileError(ValueError):
    """A data file that breaks the `files` format; names the file, the array and the problem."""

    def __init__(self, file: Path | str, array: str | None, problem: str) -> None:
        self.file, self.array, self.problem = str(file), array, problem
        where = f"{file}: " if array is None else f"{file}: array {array!r}: "
        super().__init__(where + problem)


def read_table(path: Path) -> Table:
    """Every named column of one split file, decoded but not yet validated."""
    if path.suffix == ".npz":
        return Table(_read_npz(path), {})
    if path.suffix == ".parquet":
        return _read_parquet(path)
    raise DataFileError(path, None, f"unsupported file type; use one of {list(SUFFIXES)}")


def _read_npz(path: Path) -> dict[str, Column]:
    head = _head(path)
    if not head.startswith((_ZIP_MAGIC, _NPY_MAGIC)):
        raise DataFileError(path, None, _not_npz(head))
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataFileError(path, None, f"unreadable .npz file ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataFileError(path, None, "not an .npz archive (np.savez writes one; this file "
                                        "holds a single .npy array)")
    with archive:
        return {name: _npz_array(path, archive, name) for name in archive.files}


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(8)
    except OSError as err:
        raise DataFileError(path, None, f"unreadable .npz file ({err})") from None


def _not_npz(head: bytes) -> str:
    if not head:
        return "unreadable .npz file: it is empty"
    what = ("a Python pickle, which robustlab never loads (unpickling can run code)"
            if head[0] == _PICKLE_PROTOCOL else "neither a zip archive nor a .npy array")
    return (f"unreadable .npz file: not an .npz archive but {what}; write each split with "
            "numpy.savez(path, name=array, ...)")


def _npz_array(path: Path, archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    try:
        return np.asarray(archive[name])
    except ValueError:  # object arrays need pickle, which we never enable
        raise DataFileError(path, name, "cannot be read without pickle: it holds Python "
                                        "objects (an object array), and robustlab never "
                                        "unpickles data files; store numbers, booleans or "
                                        "fixed-width strings") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataFileError(path, name, f"unreadable ({err})") from None


def _read_parquet(path: Path) -> Table:
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise DataFileError(path, None, f"unreadable Parquet file ({err})") from None
    columns: dict[str, Column] = {}
    nulls: dict[str, np.ndarray] = {}
    for series in frame.get_columns():
        if isinstance(series.dtype, pl.List | pl.Array):
            columns[series.name], nulls[series.name] = _list_to_array(path, series)
        else:
            columns[series.name] = series
    return Table(columns, nulls)


def _list_to_array(path: Path, series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A list/array column of equal-length rows -> ((N, d) array, (N,) null-row flags); null
    rows become NaN rows, null elements NaN entries."""
    if isinstance(series.dtype, pl.Array):
        series = series.cast(pl.List(series.dtype.inner))
    has_null = series.list.eval(pl.element().is_null().any()).list.first()
    nulls = has_null.fill_null(True).to_numpy().astype(bool)  # (N,); a null row is null
    return _to_array(path, series), nulls


def _to_array(path: Path, series: pl.Series) -> np.ndarray:
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
