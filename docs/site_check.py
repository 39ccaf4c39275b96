"""Open every page of the built docs site in headless Chromium with the network cut off, as
the report's browser test does (tests/report/cdp.py), and fail on any request to a non-file
URL, any console error or script exception, or a search box that finds nothing; optionally
screenshot two pages for the docs.

    .venv/bin/python docs/site_check.py site                  # nox -s docs runs this
    .venv/bin/python docs/site_check.py site --screenshots    # also docs/site_home.png,
                                                              # docs/site_api.png

A control page that loads a web font and a remote image is checked first: the same checks
must flag it, or the checker itself is broken. Exit status 0 when every page is clean, 1
otherwise (each problem printed), 2 without Chromium.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
CDP = HERE.parent / "tests" / "report" / "cdp.py"
SHOTS = {"index.html": HERE / "site_home.png", "reference/api/stats.html": HERE / "site_api.png"}
SHOT_ROWS = 900  # the first screen at 1280 x 900


def load_cdp() -> ModuleType:
    """The report tests' Chrome DevTools client (`tests/report/cdp.py`), loaded by path."""
    spec = importlib.util.spec_from_file_location("docs_site_cdp", CDP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def problems(page: Any) -> list[str]:
    """What is wrong with one page load: requests off the disk, errors, exceptions."""
    out = [f"request to a non-file URL: {url}" for url in page.requests
           if not url.startswith(("file:", "data:", "blob:", "about:"))]
    out += [f"console error: {text}" for text in page.console_errors]
    out += [f"script exception: {text}" for text in page.exceptions]
    return out


def _control(cdp: ModuleType, browser: Any, folder: Path) -> None:
    page = folder / "control.html"
    page.write_text('<!doctype html><html><head><link rel="stylesheet" '
                    'href="https://fonts.googleapis.com/css?family=Roboto"></head><body>'
                    '<img src="https://example.com/x.png"></body></html>', encoding="utf-8")
    found = problems(cdp.load_page(browser, page))
    if not any("fonts.googleapis.com" in p for p in found):
        raise SystemExit(f"the checker missed the control page's remote font: {found}")


SEARCH = """(() => { const box = document.querySelector('input.md-search__input');
  box.focus(); box.value = 'hidden failures';
  box.dispatchEvent(new Event('input', {bubbles: true}));
  box.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true})); return 1; })()"""
FOUND = "document.querySelectorAll('.md-search-result__item').length"


def search_results(browser: Any, index: Path) -> int:
    """Type a query into the home page's search box, offline; how many results it lists.
    Material's search runs in a Web Worker, which file:// pages can only start through the
    iframe-worker shim the site ships."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    sid = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"]
    for domain in ("Page", "Runtime", "Network"):
        browser.send(f"{domain}.enable", session=sid)
    browser.send("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
    }, session=sid)
    browser.send("Page.navigate", {"url": index.resolve().as_uri()}, session=sid)
    browser.wait_for("Page.loadEventFired", session=sid)
    found = 0
    for _ in range(20):  # the index loads in the background: up to ~10 s
        browser.drain(0.5)
        browser.send("Runtime.evaluate", {"expression": SEARCH}, session=sid)
        browser.drain(0.5)
        found = browser.send("Runtime.evaluate", {"expression": FOUND, "returnByValue": True},
                             session=sid)["result"]["value"]
        if found:
            break
    browser.send("Target.closeTarget", {"targetId": target})
    return int(found)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("site", type=Path, help="the built site (mkdocs' site_dir)")
    args.add_argument("--screenshots", action="store_true",
                      help=f"write {', '.join(p.name for p in SHOTS.values())} into docs/")
    opts = args.parse_args(argv)
    cdp = load_cdp()
    binary = cdp.find_chromium()
    if binary is None:
        print("no chromium found (install Debian's `chromium`)", file=sys.stderr)
        return 2
    pages = sorted(p for p in opts.site.rglob("*.html") if p.name != "404.html")
    if not pages:
        print(f"{opts.site}: no HTML pages (build the site first)", file=sys.stderr)
        return 1
    bad = 0
    with tempfile.TemporaryDirectory() as tmp, cdp.Browser(binary) as browser:
        _control(cdp, browser, Path(tmp))
        for path in pages:
            rel = path.relative_to(opts.site).as_posix()
            shot = Path(tmp) / "full.png" if opts.screenshots and rel in SHOTS else None
            page = cdp.load_page(browser, path, shot)
            for problem in problems(page):
                bad += 1
                print(f"{rel}: {problem}", file=sys.stderr)
            if shot is not None:
                _crop(shot, SHOTS[rel])
        hits = search_results(browser, opts.site / "index.html")
        if not hits:
            bad += 1
            print("index.html: the search box found nothing for 'hidden failures' offline",
                  file=sys.stderr)
    print(f"{len(pages)} pages opened offline, search found {hits} result(s), "
          f"{bad} problem(s)")
    return 1 if bad else 0


def _crop(full: Path, out: Path) -> None:
    import matplotlib.image as mpimg

    mpimg.imsave(out, mpimg.imread(full)[:SHOT_ROWS])
    print(f"screenshot: {out}")


if __name__ == "__main__":
    raise SystemExit(main())
