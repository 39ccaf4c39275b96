"""Bad results folders get a clear error naming the file; the CLI turns it into exit status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from robustlab.report import ReportInputError, render_report
from robustlab.report.__main__ import main
from robustlab.report.analysis import analyse, settings_from
from robustlab.report.inputs import load_results
from robustlab.report.slicing import SliceSpec
from robustlab.results import (
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    TRIALS_FILE,
    FileDigest,
    ResultsError,
)
from robustlab.stats import benjamini_hochberg


@pytest.fixture
def folder(results_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic results folder, free to break."""
    return Path(shutil.copytree(results_dir, tmp_path / "study"))


def rewrite_predictions(folder: Path, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    path = folder / PREDICTIONS_FILE
    change(pl.read_parquet(path)).write_parquet(path)


def rewrite_manifest(folder: Path, report: dict[str, object]) -> None:
    path = folder / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["study"]["report"].update(report)
    path.write_text(json.dumps(manifest))


def test_report_input_error_is_a_results_error() -> None:
    assert issubclass(ReportInputError, ResultsError)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="no such directory"):
        render_report(tmp_path / "nope")


@pytest.mark.parametrize("name", [PREDICTIONS_FILE, MANIFEST_FILE])
def test_missing_required_file_is_named(folder: Path, name: str) -> None:
    (folder / name).unlink()
    with pytest.raises(ReportInputError, match=rf"{name}: missing"):
        load_results(folder)


@pytest.mark.parametrize(("change", "message"), [
    (lambda df: df.drop("correct"), "missing column 'correct'"),
    (lambda df: df.with_columns(pl.col("seed").cast(pl.Float64)), "column 'seed' is Float64"),
    (lambda df: pl.concat([df, df.head(1)]), "duplicate rows"),
    (lambda df: df.clear(), "has no rows"),
])
def test_contract_violations_name_the_file(folder: Path, change, message: str) -> None:
    rewrite_predictions(folder, change)
    with pytest.raises(ReportInputError, match=message) as err:
        load_results(folder)
    assert str(folder / PREDICTIONS_FILE) in str(err.value)


def test_unreadable_files(folder: Path) -> None:
    (folder / TRIALS_FILE).write_bytes(b"not parquet")
    with pytest.raises(ReportInputError, match=rf"{TRIALS_FILE}: not a readable Parquet"):
        load_results(folder)
    (folder / TRIALS_FILE).unlink()
    (folder / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ReportInputError, match=rf"{MANIFEST_FILE}: not valid JSON"):
        load_results(folder)
    (folder / MANIFEST_FILE).write_text("[1, 2]")
    with pytest.raises(ReportInputError, match="expected a JSON object, got list"):
        load_results(folder)


@pytest.mark.parametrize("name", [PREDICTIONS_FILE, TRIALS_FILE])
def test_a_results_file_that_no_longer_matches_its_recorded_checksum_is_named(
    folder: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"] = {n: FileDigest.of_file(folder / n).to_json()
                         for n in (PREDICTIONS_FILE, TRIALS_FILE)}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    load_results(folder)  # as written: fine
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit, which Parquet may not notice
    (folder / name).write_bytes(bytes(data))
    assert main([str(folder)]) == 2
    assert capsys.readouterr().err == (
        f"error: {folder / name}: damaged (its size or sha256 differs from the one "
        f"{MANIFEST_FILE} recorded when the study wrote it); rerun the study command with "
        f"--resume to rebuild it from parts/\n")


def test_trials_contract(folder: Path) -> None:
    path = folder / TRIALS_FILE
    pl.read_parquet(path).drop("wall_time_s").write_parquet(path)
    with pytest.raises(ReportInputError, match=f"{TRIALS_FILE}: missing column 'wall_time_s'"):
        load_results(folder)


@pytest.mark.parametrize(("report", "message"), [
    ({"alpha": 2}, r"study\.report\.alpha must be in \(0, 1\), got 2"),
    ({"alpha": "x"}, r"study\.report\.alpha must be a number, got 'x'"),
    ({"correction": "bonferroni"}, r"correction must be one of \('holm', 'bh', 'none'\)"),
    ({"slices": ["site", "planet"]},
     r"slices\.1: 'planet' is not a column of predictions\.parquet; valid:"),
    ({"slices": "site"}, r"slices must be a list, got 'site'"),
    ({"slices": [{"column": "site", "bins": 3}]}, r"slices\.0\.bins: column 'site' is String"),
    ({"slices": [{"column": "label", "bins": 1}]}, r"slices\.0\.bins must be an int in 2\.\.20"),
    ({"slices": [{"column": "label", "bin": 3}]}, r"slices\.0 must be a column name or "),
    ({"reference": "dino"}, r"reference 'dino' is not a method.*'clip'"),
    ({"n_resamples": 5}, r"n_resamples >= 100, got 30 and 5"),
])
def test_bad_report_settings_name_the_field(folder: Path, report: dict[str, object],
                                            message: str) -> None:
    rewrite_manifest(folder, report)
    with pytest.raises(ReportInputError, match=message) as err:
        settings_from(load_results(folder))
    assert f"{MANIFEST_FILE}: study.report" in str(err.value)


@pytest.mark.parametrize("report", [None, {"slices": []}])
def test_default_slices_are_provenance_and_small_metadata(folder: Path, report) -> None:
    """No `study.report`, or the study spec's default `slices: []`: search the default slices."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    if report is None:
        del manifest["study"]["report"]
    else:
        manifest["study"]["report"] = report
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    rewrite_predictions(folder, lambda df: df.with_columns(note=pl.col("example_id").cast(str),
                                                           age=pl.col("example_id") % 71))
    settings = settings_from(load_results(folder))
    # `note`: too many values to slice; `age`: too many, but numeric, so quartiles
    assert settings.slices == (SliceSpec("perturbed_modality"), SliceSpec("site"),
                               SliceSpec("label"), SliceSpec("age", 4))
    assert (settings.alpha, settings.correction, settings.reference) == (0.05, "holm", "clip")


def test_correction_none_tests_contrasts_uncorrected_but_searches_failures_with_holm(
        folder: Path) -> None:
    rewrite_manifest(folder, {"correction": "none", "n_resamples": 200})
    results = load_results(folder)
    analysis = analyse(results, settings_from(results))
    verdicts = analysis.verdicts
    assert verdicts.family_error == "none" and (verdicts.table["level"] == 0.05).all()
    table = analysis.pairwise  # exploratory whatever the setting: Benjamini–Hochberg
    assert np.allclose(table["p_adjusted"], benjamini_hochberg(table["p_value"].to_numpy()))
    assert (table["significant"] == (table["p_adjusted"] < 0.05)).all()
    assert analysis.hidden is not None and analysis.hidden.height > 0
    assert (analysis.hidden["p_adjusted"] > analysis.hidden["p_value"]).all()  # Holm applied


def test_cli_bad_input_exits_2_naming_the_file(folder: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (folder / MANIFEST_FILE).unlink()
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(folder / MANIFEST_FILE) in err


def test_cli_entry_point_runs_as_a_module(tmp_path: Path) -> None:
    """The real `python -m robustlab.report` process: exit status and message."""
    missing = tmp_path / "no_study"
    done = subprocess.run([sys.executable, "-m", "robustlab.report", str(missing)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert f"error: {missing}: not a results folder" in done.stderr
    assert done.stdout == ""
