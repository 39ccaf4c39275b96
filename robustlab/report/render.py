"""`render_report`: results folder in, one self-contained `report.html` out."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import robustlab
from robustlab.report.analysis import analyse, settings_from
from robustlab.report.inputs import load_results
from robustlab.report.sections import BUILDERS
from robustlab.report.template import render_page
from robustlab.results import REPORT_FILE, atomic_write_bytes


def render_report(results_dir: Path, *, out: Path | None = None, seed: int = 0) -> Path:
    """Render `results_dir`'s results files into `out` (default `results_dir/report.html`).

    Reads predictions.parquet, manifest.json and (if present) trials.parquet; computes every
    statistic with generators spawned from `seed` (same seed, same bytes); writes atomically.
    Raises `ReportInputError` (a `ResultsError`) naming the file for bad input. Returns `out`.
    """
    results_dir = Path(results_dir)
    results = load_results(results_dir)
    analysis = analyse(results, settings_from(results, seed))
    sections = [build(results, analysis) for build in BUILDERS]
    html = render_page({
        "study_name": results.study.get("name", results_dir.name),
        "folder_name": results_dir.name,
        "rerender": shlex.quote(display_path(results_dir)),
        "version": robustlab.__version__,
        "sections": sections,
        "data": {s.id: s.data for s in sections},
    })
    target = Path(out) if out is not None else results_dir / REPORT_FILE
    atomic_write_bytes(target, html.encode("utf-8"))
    return target


def display_path(folder: Path) -> str:
    """`folder` as a re-render command should name it: relative to the working directory when
    it lies below it (`reports/missing_modality`), else absolute."""
    absolute = Path(os.path.abspath(folder))
    try:
        return str(absolute.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(absolute)
