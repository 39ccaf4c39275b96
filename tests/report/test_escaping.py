"""Text from data renders inert: `<script>` planted in a method name, a slice value and the
study name shows up as text — in the HTML, the SVG charts, the embedded JSON and a real browser.

The hostile slice value is the one carrying the planted hidden failure, and the hostile method
is the failing one, so both strings reach every section (failure list, tables, chart legends).
"""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import pytest
from markupsafe import escape

from robustlab.report import render_report

PWN = "window.__robustlab_pwned=true"
METHOD = f"<script>{PWN}</script><b>gated</b> $\\alpha$"
SLICE = f"</script><script>{PWN}</script>\"'&amp;"
STUDY = f'<img src=x onerror="{PWN}">'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, synth) -> tuple[Path, str]:
    names = synth.Names(methods=("clip", "symile", METHOD),
                        sites=("north", "south", "east", SLICE), study=STUDY)
    folder = synth.write_results(tmp_path_factory.mktemp("hostile") / "hostile",
                                 names=names, n_resamples=500)
    path = render_report(folder)
    return path, path.read_text(encoding="utf-8")


def test_no_markup_from_data_survives(hostile: tuple[Path, str]) -> None:
    _, page = hostile
    assert len(re.findall(r"<script\b", page, flags=re.I)) == 1  # the JSON data block
    assert len(re.findall(r"</script", page, flags=re.I)) == 1  # so nothing can close it early
    assert f"<script>{PWN}" not in page
    assert "<img" not in page.lower() and "<b>gated" not in page


def test_hostile_strings_appear_as_text(hostile: tuple[Path, str], data_of) -> None:
    _, page = hostile
    for text in (METHOD, SLICE, STUDY):  # escaped the way Jinja2 escapes (markupsafe)
        assert str(escape(text)) in page, text
    data = data_of(page)  # the embedded JSON round-trips the exact strings
    methods = {r["method"] for r in data["overview"]["accuracy"]}
    assert METHOD in methods
    assert any(r["slice_value"] == SLICE for r in data["hidden-failures"]["hidden_failures"])


def test_chart_legend_keeps_dollar_signs_literal(hostile: tuple[Path, str]) -> None:
    """matplotlib would typeset `$\\alpha$` as math; the report escapes `$` so it stays text."""
    _, page = hostile
    start = page.index('<section id="curves">')
    curves = page[start:page.index("</section>", start)]
    legend = htmllib.escape(METHOD, quote=False)  # matplotlib escapes &, <, > only
    assert len(re.findall(r"<text[^>]*>" + re.escape(legend) + "</text>", curves)) == 2


@pytest.mark.browser
def test_browser_runs_no_planted_script(hostile: tuple[Path, str], load_page) -> None:
    path, _ = hostile
    page = load_page(path)
    assert page.dom["pwned"] is False
    assert page.dom["scripts"] == ["application/json"]
    assert METHOD in page.dom["bodyText"] and SLICE in page.dom["bodyText"]
    assert page.dom["title"] == f"Robustness report · {STUDY}"
    assert page.requests == [path.resolve().as_uri()]
    assert page.console_errors == [] and page.exceptions == []
