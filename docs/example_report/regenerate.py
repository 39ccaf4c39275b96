"""Regenerate the example report from the synthetic test fixture (nothing here is trained):

    .venv/bin/python docs/example_report/regenerate.py

Writes `report.html` (default settings: 10,000 resamples, seed 0) and `screenshot.png` (the top
of the page in headless Chromium) next to this file.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import matplotlib.image as mpimg

from robustlab.report import render_report

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1] / "tests" / "report"
SCREENSHOT_ROWS = 1700  # pixels of the page kept in the screenshot (headline + failures)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", TESTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    synthetic, cdp = _load("synthetic"), _load("cdp")
    with tempfile.TemporaryDirectory() as tmp:
        folder = synthetic.write_results(Path(tmp) / "synthetic_fixture")
        html = render_report(folder, out=HERE / "report.html")
        binary = cdp.find_chromium()
        if binary is None:
            print("no chromium: report.html written, screenshot not updated", file=sys.stderr)
            return 1
        full = Path(tmp) / "full.png"
        with cdp.Browser(binary) as browser:
            page = cdp.load_page(browser, html, full)
        if page.console_errors or len(page.requests) != 1:
            print(f"unexpected page behaviour: {page}", file=sys.stderr)
            return 1
        mpimg.imsave(HERE / "screenshot.png", mpimg.imread(full)[:SCREENSHOT_ROWS])
    print(f"wrote {html} and {HERE / 'screenshot.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
