"""`files`: real data from disk — precomputed features, one file per split
(docs/tutorials/own-data.md).

A folder holds `train`, `test` and optionally `val`, each as `<split>.npz` or
`<split>.parquet`. In each file:
- one float array per modality, (N, d_m): an npz array, or a Parquet list/array column;
- optional `mask_<modality>` (N,) bool, True = present (absent -> all present); rows marked
  missing may hold anything, NaN included, and are zeroed on load;
- optional `label` (N,) non-negative integers (all splits or none); `num_classes` = max + 1;
- optional `example_id` (N,) integers, unique across splits (all splits or none; absent ->
  0..N-1 numbered through train, val, test);
- any other 1-D array / scalar column is a metadata (slice) column, the same set in every split.
Without a val file, `val_fraction` of train is drawn as val with the build seed.
Every violation raises `DataFileError` naming the file, the array and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from robustlab.data.dataset import SPLITS, Split, TrimodalDataset
from robustlab.data.file_readers import SUFFIXES, Column, DataFileError, read_table
from robustlab.data.registry import DATASETS, DatasetOptions
from robustlab.data.splitting import check_float, check_seed, seed_streams, split_sizes
from robustlab.results import is_reserved_column, reserved_columns_text

NAME = "files"
RESERVED = ("label", "example_id")
REQUIRED_SPLITS = ("train", "test")


@DATASETS.register(NAME)
@dataclass(frozen=True)
class Files(DatasetOptions):
    """Options of `files`. `path` is a folder; the study resolves a relative one against the
    study file's folder (here a relative path is taken from the working directory)."""

    path: str | Path
    modalities: tuple[str, str, str]
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.path, str | Path) or not str(self.path):
            raise ValueError(f"{NAME}.path: must be a folder path, got {self.path!r}")
        if isinstance(self.modalities, str) or not isinstance(self.modalities, list | tuple):
            raise ValueError(f"{NAME}.modalities: must be a list of 3 names, "
                             f"got {self.modalities!r}")
        object.__setattr__(self, "modalities", tuple(self.modalities))
        _check_modality_names(self.modalities)
        check_float(NAME, "val_fraction", self.val_fraction, 0.0, 1.0,
                    open_low=True, open_high=True)

    def build(self, seed: int) -> TrimodalDataset:
        check_seed(NAME, seed)
        folder = Path(self.path)
        paths = split_files(folder)
        loaded = {s: load_split(p, self.modalities) for s, p in paths.items()}
        _check_consistent(loaded, paths)
        splits = _with_ids(loaded, paths)
        if "val" not in splits:
            splits = _carve_val(splits, self.val_fraction, seed, paths["train"])
        labels = [s.label for s in splits.values() if s.label is not None]
        return TrimodalDataset(
            name=f"{NAME}:{folder.name}",
            modalities=self.modalities,
            splits={s: splits[s] for s in SPLITS},
            split_seed=seed,
            num_classes=max(int(lab.max()) for lab in labels) + 1 if labels else None,
        )


def _check_modality_names(names: tuple[str, ...]) -> None:
    if len(names) != 3 or len(set(names)) != 3:
        raise ValueError(f"{NAME}.modalities: must be 3 distinct names, got {list(names)}")
    for name in names:
        bad = (not isinstance(name, str) or not name.isidentifier() or name in RESERVED
               or name.startswith("mask_") or is_reserved_column(name))
        if bad:
            raise ValueError(f"{NAME}.modalities: {name!r} is not a valid modality name (use an "
                             f"identifier other than {list(RESERVED)}, mask_*, or a results "
                             f"column: {reserved_columns_text()})")


def split_files(folder: Path) -> dict[str, Path]:
    """split -> its file; unknown split names, duplicates and missing splits raise."""
    if not folder.is_dir():
        raise DataFileError(folder, None, "not a folder (files.path must name the folder "
                                          "holding train/val/test .npz or .parquet files)")
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES):
        if path.stem not in SPLITS:
            raise DataFileError(path, None, f"unknown split {path.stem!r}; split files are "
                                            f"named {[s + '.npz|.parquet' for s in SPLITS]}")
        if path.stem in found:
            raise DataFileError(path, None, f"two files for split {path.stem!r} "
                                            f"({found[path.stem].name} and {path.name}); keep one")
        found[path.stem] = path
    for split in REQUIRED_SPLITS:
        if split not in found:
            raise DataFileError(folder, None, f"no {split} split file ({split}.npz or "
                                              f"{split}.parquet); found {sorted(found)}")
    return found


def load_split(path: Path, modalities: tuple[str, ...]) -> Split:
    """One split file, checked; `example_id` is -1s when the file has none."""
    columns, nulls = read_table(path)
    _check_names(path, columns, modalities)
    n = _common_length(path, columns, modalities)
    masks = {m: _mask(path, columns, m, n) for m in modalities}
    for m in modalities:
        _check_nulls(path, m, nulls.get(m), masks[m])
    return Split(
        features={m: _features(path, m, columns[m], masks[m]) for m in modalities},
        masks=masks,
        example_id=_ids(path, columns.get("example_id"), n),
        label=_label(path, columns.get("label")),
        metadata=_metadata(path, columns, modalities),
    )


def _check_names(path: Path, columns: Mapping[str, Column], modalities: tuple[str, ...]) -> None:
    for m in modalities:
        if m not in columns:
            raise DataFileError(path, m, f"missing modality (file has {sorted(columns)}; "
                                         f"modalities are {list(modalities)})")
    for name, column in columns.items():
        if isinstance(column, np.ndarray) and column.ndim == 0:
            raise DataFileError(path, name, "is a scalar; every array has one row per example")
        if name.startswith("mask_") and name[5:] not in modalities:
            raise DataFileError(path, name, f"mask of unknown modality {name[5:]!r} "
                                            f"(modalities are {list(modalities)})")
        if name not in modalities and isinstance(column, np.ndarray) and column.ndim != 1:
            raise DataFileError(path, name, f"has shape {column.shape} but is not a modality; "
                                            f"modalities are {list(modalities)} and any other "
                                            "array must be a 1-D metadata column")


def _common_length(path: Path, columns: Mapping[str, Column], modalities: tuple[str, ...]
                   ) -> int:
    n = len(columns[modalities[0]])
    for name, column in columns.items():
        if len(column) != n:
            raise DataFileError(path, name, f"length mismatch: {len(column)} rows, but "
                                            f"modality {modalities[0]!r} has {n}")
    if n == 0:
        raise DataFileError(path, modalities[0], "empty split: 0 rows")
    return n


def _numpy(path: Path, name: str, column: Column) -> np.ndarray:
    """A column as numpy; Parquet nulls in a scalar column are an error."""
    if isinstance(column, np.ndarray):
        return column
    if column.null_count():
        raise DataFileError(path, name, f"has {column.null_count()} null values")
    return column.to_numpy()


def _mask(path: Path, columns: Mapping[str, Column], modality: str, n: int) -> np.ndarray:
    name = f"mask_{modality}"
    if name not in columns:
        return np.ones(n, dtype=bool)
    mask = _numpy(path, name, columns[name])
    if mask.dtype != np.bool_ or mask.ndim != 1:
        raise DataFileError(path, name, f"wrong dtype/shape {mask.dtype} {mask.shape}; a mask "
                                        "is a 1-D bool array (True = present)")
    return mask


def _check_nulls(path: Path, name: str, nulls: np.ndarray | None, mask: np.ndarray) -> None:
    """A Parquet null (a null row, or a null inside a row) is fine where the row is marked
    missing, and an error where it is marked present."""
    if nulls is None:
        return
    bad = nulls & mask  # (N,)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataFileError(path, name, f"null in {int(bad.sum())} rows marked present (first: "
                                        f"row {first}); a present row needs numbers in every "
                                        f"entry; mark missing rows with mask_{name}")


def _features(path: Path, name: str, x: Column, mask: np.ndarray) -> np.ndarray:
    """(N, d) float32 with missing rows zeroed; present rows must be finite."""
    x = _numpy(path, name, x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise DataFileError(path, name, f"has shape {x.shape}; a modality is (N, d) with d >= 1")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataFileError(path, name, f"wrong dtype {x.dtype}; modality features must be "
                                        "floating point (float32 recommended)")
    with np.errstate(over="ignore"):  # float64 beyond float32 range becomes inf: caught below
        # no copy when already float32: the array was just decoded and belongs to this load
        out = x.astype(np.float32, copy=False)
    # a float64 row sum of finite float32 values stays finite; NaN/inf propagate. One pass,
    # no (N, d) temporary.
    bad_rows = ~np.isfinite(out.sum(axis=1, dtype=np.float64)) & mask  # (N,)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise DataFileError(path, name, f"NaN/inf (or beyond float32 range) in "
                                        f"{int(bad_rows.sum())} present rows (first: row "
                                        f"{first}); mark missing rows with mask_{name}")
    if not mask.all():
        if not out.flags.writeable:  # polars may hand out read-only zero-copy views
            out = out.copy()
        out[~mask] = 0.0
    return out


def _ids(path: Path, column: Column | None, n: int) -> np.ndarray:
    if column is None:
        return np.full(n, -1, dtype=np.int64)
    ids = _numpy(path, "example_id", column)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise DataFileError(path, "example_id", f"wrong dtype {ids.dtype}; ids are integers")
    if np.unique(ids).size != ids.size:
        raise DataFileError(path, "example_id", "ids are not unique")
    return ids.astype(np.int64)


def _label(path: Path, column: Column | None) -> np.ndarray | None:
    if column is None:
        return None
    label = _numpy(path, "label", column)
    if label.ndim != 1 or not np.issubdtype(label.dtype, np.integer):
        raise DataFileError(path, "label", f"wrong dtype {label.dtype}; labels are integer "
                                           "class indices 0..K-1")
    if label.min() < 0:
        raise DataFileError(path, "label", f"negative class index {int(label.min())}")
    return label.astype(np.int64)


def _metadata(path: Path, columns: Mapping[str, Column], modalities: tuple[str, ...]
              ) -> pl.DataFrame:
    """Every column that is not a modality, mask, label or example_id."""
    skip = {*modalities, *RESERVED, *(f"mask_{m}" for m in modalities)}
    series = []
    for name, column in columns.items():
        if name in skip:
            continue
        if is_reserved_column(name):
            raise DataFileError(path, name, "is a name the harness writes into "
                                            "predictions.parquet itself, so this metadata "
                                            "column would be overwritten; rename it (reserved: "
                                            f"{reserved_columns_text()})")
        if isinstance(column, np.ndarray) and column.dtype.kind not in "biufU":
            raise DataFileError(path, name, f"wrong dtype {column.dtype}; metadata columns hold "
                                            "numbers, booleans or strings")
        series.append(pl.Series(name, column))
    return pl.DataFrame(series)


def _check_consistent(loaded: Mapping[str, Split], paths: Mapping[str, Path]) -> None:
    """Widths, label presence, ids presence and metadata columns agree with train."""
    ref = loaded["train"]
    for split, part in loaded.items():
        path = paths[split]
        for m, x in part.features.items():
            if x.shape[1] != ref.features[m].shape[1]:
                raise DataFileError(path, m, f"width {x.shape[1]} differs from "
                                             f"{paths['train'].name}'s {ref.features[m].shape[1]}")
        for what, has, ref_has in (
            ("label", part.label is not None, ref.label is not None),
            ("example_id", bool(part.example_id[0] >= 0), bool(ref.example_id[0] >= 0)),
        ):
            if has != ref_has:
                where = path.name if ref_has else paths["train"].name
                raise DataFileError(path, what, f"present in only some splits (missing from "
                                                f"{where}); give it in every split or none")
        _check_metadata(part.metadata.schema, ref.metadata.schema, path, paths["train"])


def _check_metadata(schema: Mapping[str, pl.DataType], ref: Mapping[str, pl.DataType],
                    path: Path, ref_path: Path) -> None:
    """The same metadata columns, with the same types, as train; the error names the first
    column that differs."""
    for name in ref:
        if name not in schema:
            raise DataFileError(path, name, f"metadata column missing here but present in "
                                            f"{ref_path.name}; give it in every split or none")
    for name, dtype in schema.items():
        if name not in ref:
            raise DataFileError(path, name, f"metadata column not in {ref_path.name}; give it "
                                            "in every split or none")
        if dtype != ref[name]:
            raise DataFileError(path, name, f"metadata column is {dtype} here but "
                                            f"{ref[name]} in {ref_path.name}")


def _with_ids(loaded: Mapping[str, Split], paths: Mapping[str, Path]) -> dict[str, Split]:
    """Number examples through train, val, test when the files carry no ids; else check them."""
    order = [s for s in SPLITS if s in loaded]
    if loaded["train"].example_id[0] < 0:
        out, start = {}, 0
        for split in order:
            n = len(loaded[split])
            out[split] = loaded[split].replace(example_id=np.arange(start, start + n))
            start += n
        return out
    seen = np.concatenate([loaded[s].example_id for s in order])
    values, counts = np.unique(seen, return_counts=True)
    if (counts > 1).any():
        dup = int(values[counts > 1][0])
        holders = [paths[s].name for s in order if dup in loaded[s].example_id]
        raise DataFileError(paths[order[-1]], "example_id", f"id {dup} appears in more than one "
                                                            f"split ({holders}); ids are unique")
    return dict(loaded)


def _carve_val(splits: dict[str, Split], fraction: float, seed: int, train_path: Path
               ) -> dict[str, Split]:
    """Draw `fraction` of train as val with the build seed (no val file in the folder)."""
    train = splits["train"]
    sizes = split_sizes(len(train), fraction, 0.0)
    if sizes["val"] < 1 or sizes["train"] < 1:
        raise DataFileError(train_path, None, f"{len(train)} train rows cannot give up "
                                              f"val_fraction={fraction} as a val split; add a "
                                              "val file or change files.val_fraction")
    (rng,) = seed_streams(seed, 1)
    order = rng.permutation(len(train))
    val_rows, train_rows = np.sort(order[: sizes["val"]]), np.sort(order[sizes["val"] :])
    return {**splits, "train": train.take(train_rows), "val": train.take(val_rows)}
