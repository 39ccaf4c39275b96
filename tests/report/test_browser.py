"""The report in a real headless Chromium with the network cut off: it loads with no console
error, no script exception and no request other than the file itself; a screenshot is kept in
the test's temporary folder. A hostile control page proves the same checks can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

SECTIONS = ["overview", "hidden-failures", "curves", "pairwise", "fairness", "provenance"]
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
