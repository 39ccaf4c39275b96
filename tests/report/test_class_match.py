"""The report states class-level retrieval (`task.match: label`) and its chance level."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from robustlab.report import render_report
from robustlab.results import MANIFEST_FILE

SENTENCE = "Class-level retrieval: a hit when the retrieved item&#39;s class equals the query&#39;s"


def test_overview_gives_chance_for_class_level_retrieval(results_dir: Path, tmp_path: Path,
                                                         report_html: str) -> None:
    assert SENTENCE not in report_html  # item matching: no class-level line
    folder = tmp_path / "class_match"
    shutil.copytree(results_dir, folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["study"]["task"]["match"] = "label"
    manifest["dataset"] = {"name": "m3_lite", "num_classes": 10}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    manifest.setdefault("adequacy", {})["chance"] = {"level": 0.1013, "basis": "stated basis"}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    html = render_report(folder, seed=0).read_text(encoding="utf-8")
    # the report's one chance level: the study's recorded value, with its basis
    assert f"{SENTENCE} (chance 10.1 %: stated basis (recorded by the study))." in html
