"""Screenshot the top of a study's report (verdict, hidden failures, headline) for the docs,
and print the page's size and rendered height:

    .venv/bin/python docs/default_report.py reports/missing_modality [--out docs/default_report.png]

Renders RESULTS_DIR/report.html afresh (seed 0), opens it in headless Chromium at 1280 px
with the network cut off, and keeps the top `--rows` pixels of the page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
from site_check import load_cdp  # this folder: the same Chromium client as the docs check

from robustlab.report import render_report

HERE = Path(__file__).resolve().parent
HEIGHT = "document.documentElement.scrollHeight"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("results_dir", type=Path)
    args.add_argument("--out", type=Path, default=HERE / "default_report.png")
    args.add_argument("--rows", type=int, default=2400, help="pixels kept from the top")
    opts = args.parse_args(argv)
    cdp = load_cdp()
    html = render_report(opts.results_dir)
    binary = cdp.find_chromium()
    if binary is None:
        print("no chromium: report rendered, no screenshot taken", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, cdp.Browser(binary) as browser:
        full = Path(tmp) / "full.png"
        page = cdp.load_page(browser, html, full, probe=HEIGHT)
        if page.console_errors or page.exceptions or len(page.requests) != 1:
            print(f"unexpected page behaviour: {page}", file=sys.stderr)
            return 1
        mpimg.imsave(opts.out, mpimg.imread(full)[:opts.rows])
    print(f"{html}: {html.stat().st_size:,} bytes, {page.dom['probe']:,} px tall at 1280 px; "
          f"top {opts.rows} px -> {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
