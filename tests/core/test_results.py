import os
import stat

import polars as pl
import pytest

from robustlab.results import (
    PREDICTION_COLUMNS,
    ResultsError,
    atomic_write_json,
    atomic_write_parquet,
    check_predictions,
)


def _predictions(n: int = 3) -> pl.DataFrame:
    values = {
        "method": ["clip"] * n, "seed": [0] * n, "condition": ["clean"] * n,
        "cond_op": ["clean"] * n, "cond_modality": ["none"] * n, "cond_level": [0.0] * n,
        "example_id": list(range(n)), "correct": [True] * n, "rank": [1] * n,
        "score_margin": [0.5] * n, "perturbed": [False] * n,
        "perturbed_modality": ["none"] * n, "op": ["none"] * n, "severity": [0.0] * n,
    }
    return pl.DataFrame(values, schema=PREDICTION_COLUMNS)


def test_atomic_writes_leave_no_temp_and_normal_permissions(tmp_path):
    atomic_write_parquet(_predictions(), tmp_path / "p.parquet")
    atomic_write_json({"a": 1}, tmp_path / "m.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "p.parquet"]
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "m.json").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert pl.read_parquet(tmp_path / "p.parquet").equals(_predictions())


def test_check_predictions_names_missing_column_and_duplicates():
    with pytest.raises(ResultsError, match="missing column 'correct'"):
        check_predictions(_predictions().drop("correct"))
    doubled = pl.concat([_predictions(), _predictions()])
    with pytest.raises(ResultsError, match="duplicate rows"):
        check_predictions(doubled)
    check_predictions(_predictions())


def test_reserved_names_cover_every_provenance_column_operators_write():
    """The reserved list (one place: robustlab.results) holds every column an operator's
    provenance adds, including each step of a composition, so no metadata column can be
    overwritten by one."""
    import numpy as np

    from perturbations import PROVENANCE_COLUMNS, Compose, build
    from robustlab.results import is_reserved_column

    op = Compose((build({"op": "missing", "modality": "b", "fraction": 0.5}),
                  build({"op": "gaussian_noise", "modality": "c", "severity": 2})))
    arrays = {m: np.ones((6, 3), np.float32) for m in "abc"}
    masks = {m: np.ones(6, bool) for m in "abc"}
    out = op.apply(arrays, masks, np.arange(6), seed=0)
    written = [*PROVENANCE_COLUMNS, *out.provenance]
    assert any(c.startswith("step2_") for c in written)
    assert all(is_reserved_column(c) for c in written), [c for c in written
                                                         if not is_reserved_column(c)]
    assert not any(is_reserved_column(c) for c in ("site", "age", "step_op", "stepX_op",
                                                   "step1_other", "observed_at"))


def test_scored_leaves_out_flagged_rows_only():
    from robustlab.results import scored

    pred = _predictions(4).with_columns(target_missing=pl.Series([False, True, None, False]))
    assert scored(pred)["example_id"].to_list() == [0, 2, 3]
    assert scored(_predictions(2)).height == 2  # older folders: no flag, every row counts
