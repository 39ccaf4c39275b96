"""The provenance section lists the plugins a study used (manifest.json `plugins`), escaped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from robustlab.report import render_report
from robustlab.results import MANIFEST_FILE


def _provenance(html: str) -> str:
    start = html.index('<section id="provenance">')
    return html[start:html.index("</section>", start)]


def test_plugins_used_are_listed_with_distribution_and_version(results_dir: Path,
                                                              tmp_path: Path) -> None:
    folder = Path(shutil.copytree(results_dir, tmp_path / "study",
                                  ignore=shutil.ignore_patterns("report.html")))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    without = _provenance(render_report(folder).read_text(encoding="utf-8"))
    assert "Plugins" not in without  # built-ins only: no plugin table
    manifest["plugins"] = [{"kind": "methods", "name": "mine", "distribution": "my-<pkg>",
                            "version": "1.2.3", "entry_point": "mine = my_pkg.m:Mine"}]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    section = _provenance(render_report(folder).read_text(encoding="utf-8"))
    assert "<h3>Plugins (components from other distributions)</h3>" in section
    assert "<td class=\"text\">my-&lt;pkg&gt; 1.2.3</td>" in section
    assert "<code>mine = my_pkg.m:Mine</code>" in section and "my-<pkg>" not in section
