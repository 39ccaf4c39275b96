"""Fixtures of tests/data: tiny options per dataset and writers of the on-disk format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import polars as pl
import pytest

# Small enough that every generator builds in milliseconds; a dataset without an entry here is
# still tested, with its default options.
TINY: dict[str, dict[str, object]] = {
    "symile_xor": {"d": 3, "n": 400},
    "synthetic_xnor": {"n": 400, "corruption": 0.3},
    "pid": {"setting": "synergy", "n": 400, "latent_dim": 4, "dim": 8},
    "m3_lite": {"w": 5, "n": 400, "text_dim": 64},
}


def write_split(folder: Path, split: str, fmt: str, columns: Mapping[str, object]) -> Path:
    """One split file: npz arrays as given, or a Parquet frame (2-D arrays -> list columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}.{fmt}"
    if fmt == "npz":
        np.savez(path, **columns)  # type: ignore[arg-type]
        return path
    series = []
    for name, value in columns.items():
        if isinstance(value, np.ndarray) and value.ndim == 2:
            series.append(pl.Series(name, [list(row) for row in value]))
        else:
            series.append(pl.Series(name, value))
    pl.DataFrame(series).write_parquet(path)
    return path


def good_columns(n: int, seed: int, *, label: bool = True) -> dict[str, np.ndarray]:
    """A valid split with modalities x (4), y (3), z (2), a mask, labels and a metadata column."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {
        "x": rng.standard_normal((n, 4)).astype(np.float32),
        "y": rng.standard_normal((n, 3)),
        "z": rng.standard_normal((n, 2)).astype(np.float32),
        "mask_y": np.arange(n) % 3 != 0,
        "site": np.array(["north", "south"])[np.arange(n) % 2],
    }
    if label:
        columns["label"] = rng.integers(0, 3, n)
    return columns


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    """make_folder(fmt, splits={"train": columns, ...}) -> folder holding those files."""

    def make(fmt: str, splits: Mapping[str, Mapping[str, object]] | None = None) -> Path:
        folder = tmp_path / f"data_{fmt}"
        if splits is None:
            splits = {"train": good_columns(40, 0), "val": good_columns(10, 1),
                      "test": good_columns(20, 2)}
        for split, columns in splits.items():
            write_split(folder, split, fmt, columns)
        return folder

    return make


@pytest.fixture
def writer() -> Callable[..., Path]:
    return write_split


@pytest.fixture
def good() -> Callable[..., dict[str, np.ndarray]]:
    return good_columns


@pytest.fixture
def tiny_options(make_folder: Callable[..., Path]) -> Callable[[str], dict[str, object]]:
    """Small valid options for any registered dataset (`files` gets a freshly written folder)."""

    def options(name: str) -> dict[str, object]:
        if name == "files":  # no val file: val is drawn from train with the build seed
            splits = {"train": good_columns(60, 0), "test": good_columns(20, 2)}
            return {"path": str(make_folder("npz", splits)), "modalities": ["x", "y", "z"]}
        return dict(TINY.get(name, {}))

    return options
