"""Section 6: provenance — where the numbers come from, from the manifest and the files."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, json_safe
from robustlab.results import MANIFEST_FILE, PREDICTIONS_FILE, TRIALS_FILE

# Top-level manifest keys shown as a fact list; everything else appears in the raw manifest.
FACTS = ("git_sha", "started_at", "finished_at", "seeds")


def build(results: Results, analysis: Analysis) -> Section:
    manifest = results.manifest
    facts = [(key, _text(manifest[key])) for key in FACTS if key in manifest]
    facts.append(("report seed", str(analysis.settings.seed)))
    files = [(name, _sha256(results, name)) for name in (PREDICTIONS_FILE, TRIALS_FILE,
                                                         MANIFEST_FILE)
             if (results.folder / name).is_file()]
    return Section(
        id="provenance", title="Provenance",
        view={"facts": facts, "versions": _pairs(manifest.get("versions")),
              "plugins": _plugins(manifest.get("plugins")),
              "hardware": _pairs(manifest.get("hardware")), "files": files,
              "manifest": json.dumps(json_safe(manifest), indent=2, sort_keys=True,
                                     default=str)},
        data={"files": dict(files)},
    )


def _plugins(value: Any) -> list[tuple[str, str, str, str]]:
    """(kind, name, distribution + version, entry point) of each plugin the study used."""
    if not isinstance(value, list):
        return []
    return [(_text(p.get("kind", "")), _text(p.get("name", "")),
             f"{_text(p.get('distribution', '?'))} {_text(p.get('version', '?'))}",
             _text(p.get("entry_point", ""))) for p in value if isinstance(p, dict)]


def _pairs(value: Any) -> list[tuple[str, str]]:
    return [(str(k), _text(v)) for k, v in value.items()] if isinstance(value, dict) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(json_safe(value), sort_keys=True, default=str)


def _sha256(results: Results, name: str) -> str:
    digest = hashlib.sha256()
    with (results.folder / name).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
