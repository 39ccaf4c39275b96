"""The on-disk `files` format: round trips in both formats, and one test per bad-file error."""

from __future__ import annotations

import pickle
import re

import numpy as np
import polars as pl
import pytest

from robustlab.data import DATASETS, DataFileError

FILES = DATASETS.get("files")
MODALITIES = ["x", "y", "z"]


def _build(folder, seed=0, **extra):
    return FILES(path=str(folder), modalities=MODALITIES, **extra).build(seed)


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_round_trip(fmt, make_folder, good):
    ds = _build(make_folder(fmt))
    assert ds.modalities == ("x", "y", "z") and ds.dims == {"x": 4, "y": 3, "z": 2}
    assert {s: len(ds.split(s)) for s in ds.splits} == {"train": 40, "val": 10, "test": 20}
    expected = good(10, 1)
    val = ds.split("val")
    np.testing.assert_array_equal(val.example_id, np.arange(40, 50))  # numbered train, val, test
    np.testing.assert_allclose(val.features["x"], expected["x"])
    assert val.features["y"].dtype == np.float32  # float64 on disk is cast
    np.testing.assert_array_equal(val.masks["y"], expected["mask_y"])
    np.testing.assert_array_equal(val.masks["x"], True)
    np.testing.assert_array_equal(val.features["y"][~expected["mask_y"]], 0.0)  # missing -> 0
    np.testing.assert_array_equal(val.label, expected["label"])
    assert ds.num_classes == 3 and ds.slice_columns == ["site"]
    assert val.metadata["site"].to_list() == expected["site"].tolist()


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_missing_rows_may_hold_nan_or_null(fmt, make_folder, good):
    train = good(40, 0)
    train["y"] = train["y"].astype(np.float32)  # float32: loaded without a copy
    train["y"][~train["mask_y"]] = np.nan
    ds = _build(make_folder(fmt, {"train": train, "test": good(20, 2)}))
    x = np.concatenate([ds.split(s).features["y"] for s in ("train", "val")])
    assert np.isfinite(x).all()


def test_parquet_array_columns_and_null_rows(tmp_path, good):
    columns = good(12, 0, label=False)
    present = columns["mask_y"]
    frame = pl.DataFrame({
        "x": pl.Series(columns["x"]),  # 2-D numpy -> fixed-width Array column
        "y": [list(r) if ok else None for r, ok in zip(columns["y"], present, strict=True)],
        "z": [list(r) for r in columns["z"]],
        "mask_y": present,
    })
    assert isinstance(frame.schema["x"], pl.Array)
    tmp_path.joinpath("d").mkdir()
    for split in ("train", "val", "test"):
        frame.write_parquet(tmp_path / "d" / f"{split}.parquet")
    ds = _build(tmp_path / "d")
    test = ds.split("test")
    np.testing.assert_allclose(test.features["x"], columns["x"])
    np.testing.assert_allclose(test.features["y"][present], columns["y"][present], rtol=1e-6)
    np.testing.assert_array_equal(test.features["y"][~present], 0.0)
    assert ds.num_classes is None and test.label is None


def test_explicit_example_ids_are_kept(make_folder, good):
    splits = {s: {**good(n, i), "example_id": np.arange(n) + 1000 * i}
              for i, (s, n) in enumerate([("train", 10), ("val", 5), ("test", 5)])}
    ds = _build(make_folder("npz", splits))
    np.testing.assert_array_equal(ds.split("test").example_id, np.arange(2000, 2005))


def test_val_is_drawn_from_train_with_the_seed_when_absent(make_folder, good):
    folder = make_folder("npz", {"train": good(50, 0), "test": good(10, 1)})
    first, again = _build(folder, seed=1), _build(folder, seed=1)
    other = _build(folder, seed=2, val_fraction=0.2)
    assert len(first.split("val")) == 5 and len(first.split("train")) == 45
    np.testing.assert_array_equal(first.split("val").example_id, again.split("val").example_id)
    assert len(other.split("val")) == 10
    ids = np.concatenate([first.split(s).example_id for s in ("train", "val")])
    np.testing.assert_array_equal(np.sort(ids), np.arange(50))


def test_relative_path_is_taken_from_the_working_directory(make_folder, monkeypatch):
    folder = make_folder("npz")
    monkeypatch.chdir(folder.parent)
    assert len(_build(folder.name).split("train")) == 40


# ---- every bad file names the file, the array and the problem ----------------------------

def _with(good, **changes):
    """A valid three-split layout where the train file gets `changes` (None drops a key)."""
    train = good(40, 0)
    for key, value in changes.items():
        if value is None:
            train.pop(key)
        else:
            train[key] = value
    return {"train": train, "val": good(10, 1), "test": good(20, 2)}


BAD = {
    "missing modality": (lambda g: _with(g, z=None), "z", "missing modality"),
    "length mismatch": (lambda g: _with(g, label=np.zeros(39, np.int64)), "label",
                        "length mismatch: 39 rows"),
    "nan": (lambda g: _with(g, x=np.where(np.eye(40, 4) > 0, np.nan, 1.0)), "x", "NaN/inf"),
    "inf": (lambda g: _with(g, z=np.full((40, 2), np.inf)), "z", "NaN/inf"),
    "float64 beyond float32": (lambda g: _with(g, z=np.full((40, 2), 1e300)), "z", "NaN/inf"),
    "integer features": (lambda g: _with(g, x=np.ones((40, 4), np.int64)), "x",
                         "wrong dtype int64"),
    "string features": (lambda g: _with(g, x=np.full((40, 4), "a")), "x", "wrong dtype"),
    "float mask": (lambda g: _with(g, mask_y=np.ones(40)), "mask_y", "wrong dtype"),
    "float label": (lambda g: _with(g, label=np.ones(40)), "label", "wrong dtype float64"),
    "negative label": (lambda g: _with(g, label=-np.ones(40, np.int64)), "label", "negative"),
    "1-D modality": (lambda g: _with(g, x=np.ones(40, np.float32)), "x", "has shape"),
    "mask of unknown modality": (lambda g: _with(g, mask_w=np.ones(40, bool)), "mask_w",
                                 "unknown modality 'w'"),
    "2-D array that is no modality": (lambda g: _with(g, w=np.ones((40, 2))), "w",
                                      "not a modality"),
    "metadata clashes with results": (lambda g: _with(g, seed=np.ones(40)), "seed",
                                      "harness writes into predictions.parquet"),
    "metadata named like provenance": (lambda g: _with(g, fraction=np.ones(40)), "fraction",
                                       "would be overwritten"),
    "metadata named like a step column": (lambda g: _with(g, step2_op=np.array(["a"] * 40)),
                                          "step2_op", "would be overwritten"),
    "metadata named observed": (lambda g: _with(g, observed=np.array(["a"] * 40)), "observed",
                                "would be overwritten"),
    "duplicate ids": (lambda g: _with(g, example_id=np.zeros(40, np.int64)), "example_id",
                      "not unique"),
    "empty split": (lambda g: {"train": {k: v[:0] for k, v in g(40, 0).items()},
                               "test": g(5, 1)}, "x", "empty split"),
}


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_errors_name_file_array_and_problem(case, fmt, make_folder, good):
    if fmt == "parquet" and case == "length mismatch":
        pytest.skip("a Parquet table cannot hold columns of different lengths")
    make_splits, array, problem = BAD[case]
    folder = make_folder(fmt, make_splits(good))
    with pytest.raises(DataFileError, match=problem) as err:
        _build(folder)
    assert err.value.file.endswith(f"train.{fmt}") and err.value.array == array
    assert f"train.{fmt}" in str(err.value) and repr(array) in str(err.value)


def test_split_mismatches(make_folder, good):
    narrow = {**good(20, 2), "x": np.ones((20, 5), np.float32)}
    cases = [
        ({"test": narrow}, "x", "width 5 differs"),
        ({"test": {k: v for k, v in good(20, 2).items() if k != "label"}}, "label",
         "only some splits"),
        ({"test": {**good(20, 2), "extra": np.ones(20)}}, "extra",
         "metadata column not in train.npz"),
        ({"test": {k: v for k, v in good(20, 2).items() if k != "site"}}, "site",
         "metadata column missing here but present in train.npz"),
        ({"test": {**good(20, 2), "site": np.arange(20)}}, "site",
         "metadata column is Int64 here but String in train.npz"),
        ({"train": {**good(40, 0), "example_id": np.arange(40)},
          "val": {**good(10, 1), "example_id": np.arange(10) + 100},
          "test": {**good(20, 2), "example_id": np.arange(20) + 30}}, "example_id",
         "appears in more than one split"),
    ]
    for i, (changes, array, problem) in enumerate(cases):
        splits = {"train": good(40, 0), "val": good(10, 1), "test": good(20, 2), **changes}
        folder = make_folder("npz", splits)
        with pytest.raises(DataFileError, match=problem) as err:
            _build(folder)
        assert err.value.array == array, i
        for path in folder.iterdir():
            path.unlink()


def test_folder_level_errors(make_folder, good, tmp_path, writer):
    with pytest.raises(DataFileError, match="not a folder"):
        _build(tmp_path / "nowhere")
    folder = make_folder("npz")
    writer(folder, "training", "npz", good(5, 0))
    with pytest.raises(DataFileError, match=r"training\.npz: unknown split 'training'"):
        _build(folder)
    (folder / "training.npz").unlink()
    writer(folder, "test", "parquet", good(5, 0))
    with pytest.raises(DataFileError, match="two files for split 'test'"):
        _build(folder)
    (folder / "test.parquet").unlink()
    (folder / "test.npz").unlink()
    with pytest.raises(DataFileError, match="no test split file"):
        _build(folder)


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_unreadable_files(fmt, make_folder):
    folder = make_folder(fmt)
    (folder / f"val.{fmt}").write_bytes(b"this is not a data file")
    with pytest.raises(DataFileError, match=rf"val\.{fmt}: unreadable") as err:
        _build(folder)
    assert err.value.array is None


def test_npz_specific_errors(make_folder, good, tmp_path):
    folder = make_folder("npz", _with(good, site=np.array([{"a": 1}] * 40, dtype=object)))
    with pytest.raises(DataFileError, match="'site': cannot be read without pickle"):
        _build(folder)
    single = tmp_path / "single"
    single.mkdir()
    for split in ("train", "test"):
        np.save(single / f"{split}.npy", np.ones(3))
        (single / f"{split}.npy").rename(single / f"{split}.npz")
    with pytest.raises(DataFileError, match=r"not an \.npz archive"):
        _build(single)


def test_reserved_names_are_listed_in_the_error(make_folder, good):
    """Every column the harness writes is refused, and the error lists them all."""
    folder = make_folder("npz", _with(good, target_missing=np.zeros(40, bool)))
    with pytest.raises(DataFileError) as err:
        _build(folder)
    message = str(err.value)
    for name in ("method", "seed", "condition", "perturbed_modality", "fraction", "observed",
                 "target_missing", "label", "step<k>_perturbed/_modality/_op/_severity/_fraction"):
        assert name in message, name


@pytest.mark.parametrize(("content", "says"), [
    (b"\x00\x01garbage bytes, not an archive", "neither a zip archive nor a .npy array"),
    (pickle.dumps({"x": [1.0, 2.0]}), "a Python pickle, which robustlab never loads"),
    (b"", "it is empty"),
])
def test_npz_that_numpy_would_unpickle_is_refused_without_its_advice(make_folder, content,
                                                                      says):
    folder = make_folder("npz")
    (folder / "test.npz").write_bytes(content)
    with pytest.raises(DataFileError, match=re.escape(says)) as err:
        _build(folder)
    assert err.value.file.endswith("test.npz") and err.value.array is None
    assert "allow_pickle" not in str(err.value) and "unsafely" not in str(err.value)


def test_object_array_error_has_no_unsafe_advice(make_folder, good):
    folder = make_folder("npz", _with(good, site=np.array([{"a": 1}] * 40, dtype=object)))
    with pytest.raises(DataFileError, match="never unpickles") as err:
        _build(folder)
    assert "allow_pickle" not in str(err.value)


@pytest.mark.parametrize("where", ["row", "element"])
def test_parquet_null_in_a_present_row_is_called_null(tmp_path, good, where):
    columns = good(12, 0, label=False)
    rows = [list(r) for r in columns["y"]]
    rows[4] = None if where == "row" else [rows[4][0], None, rows[4][2]]
    frame = pl.DataFrame({"x": [list(r) for r in columns["x"]], "y": rows,
                          "z": [list(r) for r in columns["z"]],
                          "mask_y": np.arange(12) != 5})  # row 4 is marked present
    tmp_path.joinpath("d").mkdir()
    for split in ("train", "test"):
        frame.write_parquet(tmp_path / "d" / f"{split}.parquet")
    with pytest.raises(DataFileError, match=r"null in 1 rows marked present \(first: row 4\)"
                       ) as err:
        _build(tmp_path / "d")
    assert err.value.array == "y" and "NaN" not in str(err.value)
    frame = frame.with_columns(mask_y=np.arange(12) != 4)  # marked missing: accepted, zeroed
    for split in ("train", "test"):
        frame.write_parquet(tmp_path / "d" / f"{split}.parquet")
    np.testing.assert_array_equal(_build(tmp_path / "d").split("test").features["y"][4], 0.0)


def test_parquet_specific_errors(make_folder, good):
    ragged = [[1.0, 2.0, 3.0]] * 39 + [[1.0]]
    with pytest.raises(DataFileError, match=r"'y': rows have different lengths \[1, 3\]"):
        _build(make_folder("parquet", _with(good, y=ragged)))
    with_null = pl.Series("label", [1] * 39 + [None])
    with pytest.raises(DataFileError, match="'label': has 1 null values"):
        _build(make_folder("parquet", _with(good, label=with_null)))


@pytest.mark.parametrize(("options", "problem"), [
    ({"modalities": ["x", "y"]}, "3 distinct names"),
    ({"modalities": ["x", "x", "y"]}, "3 distinct names"),
    ({"modalities": "xyz"}, "list of 3 names"),
    ({"modalities": ["x", "y", "label"]}, "'label' is not a valid modality name"),
    ({"modalities": ["x", "y", "mask_q"]}, "'mask_q' is not a valid"),
    ({"path": ""}, "files.path"),
    ({"val_fraction": 1.0}, r"files\.val_fraction.*1\.0"),
])
def test_invalid_options(options, problem):
    values = {"path": "somewhere", "modalities": MODALITIES, **options}
    with pytest.raises(ValueError, match=problem):
        FILES(**values)
