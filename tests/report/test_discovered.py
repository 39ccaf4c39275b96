"""The report's "Discovered slices": the synthetic fixture's planted failure (gated_symile on
site = west) is found without being declared, in words with its guarantee; a null fixture says
it found nothing and how much it searched; saved embeddings become cluster columns; the option
turns it off; a bad option in the manifest names its key."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from robustlab.embedding_store import reduce, write_embeddings
from robustlab.report import ReportInputError, render_report
from robustlab.results import MANIFEST_FILE, PREDICTIONS_FILE

from .conftest import N_RESAMPLES, embedded_data, synthetic


def section(page: str) -> str:
    start = page.index('<section id="discovered-slices">')
    text = re.sub(r"<[^>]+>", " ", page[start:page.index("</section>", start)])
    return re.sub(r"\s+", " ", html_lib.unescape(text))


def _with_discovery(folder: Path, **options: object) -> Path:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["study"]["report"]["discovery"] = options
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def folder(results_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(results_dir, tmp_path / "copy"))


def test_finds_the_planted_failure_without_being_told(report_html: str, results_dir: Path
                                                      ) -> None:
    data = embedded_data(report_html)["discovered-slices"]
    findings = data["findings"]
    assert findings, "the planted failure was not found"
    west = (pl.read_parquet(results_dir / PREDICTIONS_FILE)
            .filter(pl.col("site") == synthetic.FAILING_SITE)["example_id"].unique().sort())
    for f in findings:  # everything confirmed is the planted slice, for the planted method
        assert f["slice"] == f"site = {synthetic.FAILING_SITE}"
        assert f["example_ids"] == west.to_list()
        assert {e["method"] for e in f["entries"]} == {"gated_symile"}
        for e in f["entries"]:
            assert e["estimate"] < 0 and e["ci_high"] < 0 and e["p_adjusted"] < 0.05
    assert {f["kind"] for f in findings} == {"failure", "reversal"}
    text = section(report_html)
    assert "gated_symile fails on site = west" in text
    assert "gated_symile loses to" in text and "confirmed on the held-out half" in text
    assert "Holm-adjusted p" in text and "Searched: 600 test examples" in text
    searched = data["searched"]
    assert searched["guarantee"] == "holdout"
    assert searched["n_discovery"] + searched["n_confirmation"] == 600
    assert searched["family"] == len(data["tested"]) <= 2 * 10


def test_null_results_say_nothing_was_found_and_how_much_was_searched(tmp_path: Path) -> None:
    out = synthetic.write_results(tmp_path / "null", n_resamples=N_RESAMPLES, failure_logit=0.0)
    page = render_report(out).read_text()
    assert embedded_data(page)["discovered-slices"]["findings"] == []
    text = section(page)
    assert "No slice found: none of the" in text
    assert "Searched: 600 test examples; 2 columns — site (4), label (3)" in text
    assert "slices for 18 variant × condition targets" in text


def test_saved_embeddings_become_cluster_columns(folder: Path) -> None:
    ids = np.arange(600)
    rng = np.random.default_rng(0)
    site = (pl.read_parquet(folder / PREDICTIONS_FILE).select("example_id", "site").unique()
            .sort("example_id")["site"].to_numpy())
    centres = {s: rng.normal(0, 5, 8) for s in synthetic.SITES}  # one tight cluster per site
    arrays = {m: reduce(np.stack([centres[s] for s in site]) + rng.normal(0, 0.3, (600, 8)))
              for m in ("a", "b")}
    part = folder / "parts" / "finals" / "clip"
    part.mkdir(parents=True)
    write_embeddings(part / "seed0.emb.npz", ids, arrays)
    page = render_report(folder).read_text()
    searched = embedded_data(page)["discovered-slices"]["searched"]
    kinds = {name: kind for name, _, kind in searched["columns"]}
    assert kinds["a cluster"] == kinds["b cluster"] == "embedding"
    assert searched["notes"] == []
    assert "a cluster (" in section(page)


def test_old_folders_without_embeddings_render_with_a_note(report_html: str) -> None:
    assert "no test embeddings were saved" in section(report_html)


def test_permutation_guarantee(folder: Path) -> None:
    page = render_report(_with_discovery(folder, guarantee="permutation",
                                         permutations=199)).read_text()
    data = embedded_data(page)["discovered-slices"]
    assert data["findings"] and data["searched"]["guarantee"] == "permutation"
    assert all(f["slice"] == "site = west" for f in data["findings"])
    assert "max-T" in section(page) and "Westfall–Young" in section(page)


def test_the_option_turns_it_off(folder: Path) -> None:
    page = render_report(_with_discovery(folder, enabled=False)).read_text()
    assert "Slice discovery is turned off" in section(page)
    assert embedded_data(page)["discovered-slices"] == {"enabled": False}


@pytest.mark.parametrize(("options", "expected"), [
    ({"depht": 2}, "study.report.discovery.depht: unknown key; did you mean 'depth'?"),
    ({"depth": 5}, "study.report.discovery.depth: must be an int in 1..3, got 5"),
    ({"columns": ["nowhere"]}, "study.report.discovery.columns: ['nowhere'] not in predictions"),
])
def test_a_bad_option_names_its_key(folder: Path, options: dict, expected: str) -> None:
    with pytest.raises(ReportInputError, match=re.escape(expected)):
        render_report(_with_discovery(folder, **options))
