"""Seeds until decided, end to end (issue 22): the sequential final phase trains its added seeds
as ordinary final units, records every look in the manifest, and an interrupted phase (an
added seed's unit missing, another's damaged) resumes to the same looks, decisions and
predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_added_seeds_resume_to_the_same_looks(tmp_path: Path, tiny: dict[str, Any],
                                               writer: Any, cli: Any) -> None:
    tiny["final"] = {"seeds": [0, 1], "until_decided": {"max_seeds": 3, "step": 1}}
    tiny["report"] = {"contrasts": [{"pairs": [["symile", "clip"]]}]}
    study = writer(tmp_path, tiny)
    reference = tmp_path / "reference"
    done = cli(str(study), "--out", str(reference), "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((reference / "manifest.json").read_text())
    record = manifest["sequential"]
    assert record["design"] == {"initial": [0, 1], "max_seeds": 3, "step": 1,
                                "spending": "obrien_fleming", "looks": [2, 3]}
    looks = record["looks"]
    assert looks[0]["seeds"] == 2 and sum(len(x["decided"]) for x in looks) + \
        looks[-1]["undecided"] == 4  # the pair under clean and 3 perturbed conditions
    added = {v for v, s in looks[-1]["variant_seeds"].items() if 2 in s}
    assert added == ({"clip", "symile"} if len(looks) == 2 else set())
    for variant in added:  # an added seed is an ordinary final unit
        assert (reference / "parts" / "finals" / variant / "seed2.predictions.parquet").is_file()
        assert "2" in manifest["methods"][variant]["finals"]
    pred = pl.read_parquet(reference / "predictions.parquet")
    assert sorted(pred["seed"].unique()) == ([0, 1, 2] if added else [0, 1])
    html = (reference / "report.html").read_text()
    assert "seeds until decided" in html
    if not added:
        pytest.skip("every contrast decided at the first look: nothing to resume")
    # interrupted after the first look: clip's added seed is gone, symile's damaged
    resumed = tmp_path / "resumed"
    shutil.copytree(reference, resumed)
    for unit in (resumed / "parts" / "finals" / "clip").glob("seed2.*"):
        unit.unlink()
    damaged = resumed / "parts" / "finals" / "symile" / "seed2.predictions.parquet"
    size = damaged.stat().st_size
    damaged.write_bytes(damaged.read_bytes()[:100])
    for name in ("predictions.parquet", "report.html"):
        (resumed / name).unlink()
    done = cli(str(study), "--out", str(resumed), "--resume", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: {damaged}: damaged (100 bytes, {size} recorded when it was written); "
        f"finals/symile/seed2 is redone"]
    again = json.loads((resumed / "manifest.json").read_text())["sequential"]
    assert again == record
    assert pl.read_parquet(resumed / "predictions.parquet").equals(pred)
