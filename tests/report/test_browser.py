"""The report in a real headless Chromium with the network cut off: it loads with no console
error, no script exception and no request other than the file itself; a screenshot is kept in
the test's temporary folder. A hostile control page proves the same checks can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

SECTIONS = ["verdict", "hidden-failures", "discovered-slices", "overview", "curves",
            "slice-accuracy", "pairwise", "fairness", "provenance"]
PNG = b"\x89PNG\r\n\x1a\n"


def leaving(requests: list[str], page: Path) -> list[str]:
    """Requests other than the page itself and data: URIs."""
    own = page.resolve().as_uri()
    return [url for url in requests if url != own and not url.startswith("data:")]


@pytest.mark.browser
def test_report_loads_offline_cleanly(report_path: Path, load_page, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    page = load_page(report_path, shot)
    assert page.console_errors == [], page.console
    assert page.exceptions == []
    assert page.requests == [report_path.resolve().as_uri()]
    assert leaving(page.requests, report_path) == [] and page.failed == []
    assert page.dom["sections"] == SECTIONS
    assert page.dom["svgs"] == 3 and page.dom["scripts"] == ["application/json"]
    assert page.dom["bodyText"].index("Verdict") < page.dom["bodyText"].index("Hidden failures")
    assert "Hidden failures" in page.dom["bodyText"]
    assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 50_000


@pytest.mark.browser
def test_harness_sees_requests_console_errors_and_scripts(load_page, tmp_path: Path) -> None:
    """A page that reaches out and logs an error: every check above would have failed."""
    control = tmp_path / "control.html"
    control.write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>control</title>'
        '<link rel="stylesheet" href="https://fonts.example.com/x.css"></head><body>'
        '<img src="http://example.com/pixel.png">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        "<script>console.error('boom'); window.__robustlab_pwned = true;</script>"
        "</body></html>", encoding="utf-8")
    page = load_page(control)
    assert set(leaving(page.requests, control)) == {
        "https://fonts.example.com/x.css", "http://example.com/pixel.png"}
    assert len(page.failed) == 2  # offline: both requests fail
    assert any("boom" in e for e in page.console_errors)
    assert page.dom["pwned"] is True and page.dom["scripts"] == [""]


# What the top of the page looks like to a reader: where the verdict sits, how much room it
# takes, whether the pairwise tables are folded, and whether "show all" unfolds a long table.
LAYOUT = """(() => {
  const top = s => document.querySelector(s).getBoundingClientRect().top + scrollY;
  const verdictTop = top('#verdict'), hiddenTop = top('#hidden-failures');
  const verdictHeight = document.querySelector('#verdict').getBoundingClientRect().height;
  const blocks = Array.from(document.querySelectorAll('#pairwise details.block'));
  const more = document.querySelector('#hidden-failures tbody.more');
  const before = more ? getComputedStyle(more).display : null;
  if (more) document.querySelector('#hidden-failures .more-label').click();
  const after = more ? getComputedStyle(more).display : null;
  const sticky = getComputedStyle(document.querySelector('table.headline td.method')).position;
  return {verdictTop: verdictTop, verdictHeight: verdictHeight, hiddenTop: hiddenTop,
          pageHeight: document.documentElement.scrollHeight,
          blocks: blocks.length, openBlocks: blocks.filter(d => d.open).length,
          foldedHeight: blocks.map(d => d.getBoundingClientRect().height
                                        - d.querySelector('summary').getBoundingClientRect().height)
                              .reduce((a, b) => a + b, 0),
          more: [before, after], sticky: sticky};
})()"""


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.browser
def test_verdict_leads_on_the_first_screen_and_details_stay_folded(
        results_dir: Path, tmp_path: Path, load_page, monkeypatch: pytest.MonkeyPatch) -> None:
    """The screenshot test of the top block: the verdict is the first section, fits a
    1280 x 900 screen, and its picture is real (not blank); the 6 pairwise tables are folded
    to one line each; "show all" unfolds a long table without any script of the page."""
    from robustlab.report import render_report
    from robustlab.report.sections import failures

    monkeypatch.setattr(failures, "MAX_ROWS", 2)  # so the fixture's failure table folds
    page_path = render_report(results_dir, out=tmp_path / "report.html")
    shot = tmp_path / "verdict.png"
    page = load_page(page_path, shot, clip="#verdict", probe=LAYOUT)
    layout = page.dom["probe"]
    assert page.console_errors == [] and page.exceptions == []
    assert layout["verdictTop"] < 200 and layout["verdictHeight"] < 900 - 200, layout
    assert layout["hiddenTop"] > layout["verdictTop"]  # hidden failures come next
    assert layout["blocks"] == 6 and layout["openBlocks"] == 0 and layout["foldedHeight"] == 0
    assert layout["more"] == ["none", "table-row-group"]
    assert layout["sticky"] == "sticky"
    data = shot.read_bytes()
    assert data.startswith(PNG)
    width, height = _png_size(data)
    assert 1000 <= width <= 1280 and abs(height - layout["verdictHeight"]) <= 2
    assert len(data) > 20_000  # text and a table, not a blank strip
