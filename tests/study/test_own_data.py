"""A study on one's own data, as a new user would run it: a generated `files` folder with
modalities img / audio / text, a `site` column holding non-ASCII text and HTML, a numeric
`age` with 71 values, and rows missing a modality (13 test rows missing the target). Through
the real CLI on a local Ray cluster (smoke budget): the missing rows are visible (`observed`,
manifest counts), queries without a target are flagged and left out of every statistic, `age`
is binned, the per-slice table is there, text from the data is escaped, and the run talks in
plain lines while stderr is a pipe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from markupsafe import escape

from robustlab.report.render import display_path
from robustlab.report.slicing import bin_labels, quantile_edges
from robustlab.results import check_predictions, scored
from robustlab.study.finals import data_columns
from robustlab.study.manifest import processor_name

ROOT = Path(__file__).resolve().parents[2]
SITES = ("Zürich <b>Nord</b> & Süd", "北京 <script>window.__pwned=1</script>", "São Paulo",
         'Köln "Ost"')
MODALITIES = ("img", "audio", "text")
SIZES = {"train": 400, "val": 80, "test": 200}
TEST_MISSING = {"img": 13, "audio": 30, "text": 11}  # rows marked missing in test.npz


def own_folder(folder: Path, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """One npz per split; img = a shared latent seen through three random maps (so methods
    can learn a little), missing rows as NaN (allowed where the mask says missing)."""
    rng = np.random.default_rng(seed)
    maps = {"img": rng.normal(size=(4, 8)), "audio": rng.normal(size=(4, 6)),
            "text": rng.normal(size=(4, 5))}
    folder.mkdir(parents=True)
    written = {}
    for split, n in SIZES.items():
        z = rng.normal(size=(n, 4))
        columns: dict[str, np.ndarray] = {}
        for m, w in maps.items():
            x = (z @ w + 0.3 * rng.normal(size=(n, w.shape[1]))).astype(np.float32)
            missing = np.zeros(n, bool)
            count = TEST_MISSING[m] if split == "test" else n // 10
            missing[rng.choice(n, size=count, replace=False)] = True
            x[missing] = np.nan
            columns[m], columns[f"mask_{m}"] = x, ~missing
        columns["site"] = np.array(SITES)[rng.integers(0, len(SITES), n)]
        columns["age"] = rng.integers(18, 89, n)  # 71 distinct values
        np.savez(folder / f"{split}.npz", **columns)
        written[split] = columns
    return written


STUDY: dict[str, Any] = {
    "name": "own_data",
    "seed": 0,
    "data": {"kind": "files", "path": "features", "modalities": list(MODALITIES)},
    "task": {"protocol": "retrieval", "target": "img"},
    "methods": {"clip": {}, "symile": {"negatives": "n"}},
    "encoder": {"kind": "mlp", "dim": 16, "depth": 2, "hidden": 32},
    "train": {"batch_size": 64},
    "budget": {"trials": 2, "epochs": 2, "scheduler": "fifo", "metric": "val_top1"},
    "final": {"seeds": [0, 1]},
    "eval_grid": [{"op": "missing", "modality": ["audio"], "fraction": [0.5]}],
    "resources": {"cpu": 1, "gpu": "auto"},
    "report": {"slices": ["site", {"column": "age", "bins": 4}, "observed"],
               "min_slice_size": 10},
}


def test_observed_and_target_missing_come_from_the_unperturbed_masks(tmp_path: Path) -> None:
    from robustlab.data import DATASETS
    from robustlab.evaluate import Task

    written = own_folder(tmp_path / "f")
    data = DATASETS.get("files")(path=str(tmp_path / "f"), modalities=MODALITIES).build(0)
    test = data.split("test")
    frame = data_columns(data, test, Task(target="img"))
    masks = {m: written["test"][f"mask_{m}"] for m in MODALITIES}
    expected = ["+".join(m for m in MODALITIES if masks[m][i]) or "none" for i in range(200)]
    assert frame["observed"].to_list() == expected
    assert frame["target_missing"].to_list() == (~masks["img"]).tolist()
    assert frame["target_missing"].sum() == TEST_MISSING["img"]
    probe = data_columns(data, test, Task(protocol="probe", target="img"))
    assert not probe["target_missing"].any()  # the probe's target is the label


def test_processor_name_reads_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n"
                       "model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n")
    assert processor_name(cpuinfo) == "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    assert isinstance(processor_name(tmp_path / "absent"), str)  # platform's fallback


def test_rerender_command_names_the_folder_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "reports" / "missing_modality") == "reports/missing_modality"
    assert display_path(Path("reports/x")) == "reports/x"
    assert display_path(Path("/elsewhere/x")) == "/elsewhere/x"


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_own_data_end_to_end(tmp_path: Path, cli: Any) -> None:
    written = own_folder(tmp_path / "features")
    study = tmp_path / "own.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False, allow_unicode=True))
    out = tmp_path / "out"
    done = cli(str(study), "--smoke", "--out", str(out), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_progress_lines(done.stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    pred = pl.read_parquet(out / "predictions.parquet")
    check_predictions(pred)
    _check_missing_rows(manifest, pred, written)
    html = (out / "report.html").read_text(encoding="utf-8")
    _check_report(html, pred, written)


def _check_progress_lines(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith("[")]
    text = "\n".join(lines)
    assert "\x1b[" not in stderr  # no terminal codes in a pipe
    for fragment in ("study own_data: 2 variants x 2 trials = 4 tuning trials",
                     "tuning clip: 2 trials", "clip trial 1/2:", "tuning symile done in",
                     "final runs: 4", "final run 4/4 done:", "report written"):
        assert fragment in text, (fragment, stderr[-2000:])
    assert re.search(r"clip trial 1/2: val_top1 [\d.]+, best [\d.]+ · tuning 1/4 · ETA \S+",
                     text), text


def _check_missing_rows(manifest: dict[str, Any], pred: pl.DataFrame,
                        written: dict[str, dict[str, np.ndarray]]) -> None:
    dataset = manifest["dataset"]
    assert dataset["missing"]["test"] == TEST_MISSING
    assert dataset["missing"]["train"] == {m: SIZES["train"] // 10 for m in MODALITIES}
    assert dataset["unscored_queries"] == TEST_MISSING["img"]
    assert "target_missing = true" in dataset["unscored_policy"]
    assert manifest["method_order"] == ["clip", "symile"]
    assert manifest["hardware"]["processor"]  # a model name (Linux: /proc/cpuinfo)
    n_runs = 2 * 2 * 2  # methods x seeds x conditions
    assert pred.height == n_runs * SIZES["test"]  # nothing dropped
    assert pred["target_missing"].sum() == n_runs * TEST_MISSING["img"]
    clean = pred.filter((pl.col("condition") == "clean") & (pl.col("method") == "clip")
                        & (pl.col("seed") == 0)).sort("example_id")
    masks = {m: written["test"][f"mask_{m}"] for m in MODALITIES}  # ids numbered in order
    ids = clean["example_id"].to_numpy() - SIZES["train"] - SIZES["val"]
    expected = ["+".join(m for m in MODALITIES if masks[m][i]) or "none" for i in ids]
    assert clean["observed"].to_list() == expected
    assert clean["site"].to_list() == written["test"]["site"][ids].tolist()
    # the perturbation does not change `observed`: it is what the data held
    half = pred.filter(pl.col("condition") == "missing(audio, fraction=0.5)")
    assert set(half["observed"]) == set(clean["observed"])


def _check_report(html: str, pred: pl.DataFrame,
                  written: dict[str, dict[str, np.ndarray]]) -> None:
    data = json.loads(html.split('id="robustlab-data">')[1].split("</script>")[0])
    n_scored = SIZES["test"] - TEST_MISSING["img"]
    assert f"{TEST_MISSING['img']} queries not scored" in html.split('id="verdict"')[1]
    raw = (scored(pred).group_by("method", "condition")
           .agg(pl.col("correct").mean().alias("raw")))
    shown = pl.DataFrame(data["overview"]["accuracy"]).join(raw, on=["method", "condition"])
    assert shown.height == 4 and (shown["n"] == n_scored).all()  # flagged rows left out
    assert (shown["accuracy"] - shown["raw"]).abs().max() < 1e-12
    slices = pl.DataFrame(data["slice-accuracy"]["slice_accuracy"])
    ages = written["test"]["age"][written["test"]["mask_img"]]  # the scored queries' ages
    labels = bin_labels(quantile_edges(ages, 4))  # quartiles of the examples that count
    assert len(labels) == 4 and all(re.fullmatch(r"\[\d+, \d+[)\]]", b) for b in labels)
    age = slices.filter((pl.col("slice_column") == "age") & (pl.col("method") == "clip")
                        & (pl.col("condition") == "clean"))
    assert sorted(age["slice_value"]) == sorted(labels)
    assert age["n"].sum() == ages.size == n_scored
    site = slices.filter(pl.col("slice_column") == "site")
    assert set(site["slice_value"]) == set(SITES)
    assert {"observed"} <= set(slices["slice_column"])
    for text in SITES:  # escaped in the page, exact in the embedded data
        assert str(escape(text)) in html
    assert len(re.findall(r"<script\b", html)) == 1 and "<b>Nord</b>" not in html
    assert "default-src 'none'" in html


def test_tutorial_study_file_for_own_data_runs_its_dry_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The own-data tutorial's complete study file validates against a folder in the
    documented layout (features/mimic next to studies/)."""
    from robustlab.study.cli import main

    readme = (ROOT / "docs" / "tutorials" / "own-data.md").read_text()
    block = readme.split("A complete study file for that folder")[1].split("```yaml\n")[1]
    spec = yaml.safe_load(block.split("```")[0])
    rng = np.random.default_rng(1)
    (tmp_path / "features" / "mimic").mkdir(parents=True)
    for split, n in {"train": 300, "val": 60, "test": 150}.items():
        np.savez(tmp_path / "features" / "mimic" / f"{split}.npz",
                 cxr=rng.normal(size=(n, 12)).astype(np.float32),
                 ecg=rng.normal(size=(n, 8)).astype(np.float32),
                 labs=rng.normal(size=(n, 5)).astype(np.float32),
                 mask_labs=rng.random(n) > 0.3, site=np.array(["a", "b"])[np.arange(n) % 2],
                 age=rng.integers(18, 90, n))
    (tmp_path / "studies").mkdir()
    path = tmp_path / "studies" / "my_mimic.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main([str(path), "--dry-run", "--smoke"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "data: files:mimic (train 300, val 60, test 150)" in out
    assert "gated_symile_hard: gated_symile" in out and "rough wall time" in out
