"""Fixtures for the report tests: a synthetic results folder, its rendered report, a browser.

The helper modules (`synthetic.py`, `cdp.py`) are loaded by path under unique names: the suite
uses importlib import mode, where a plain `import synthetic` would not resolve (and could
collide with another area's module of the same name).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from robustlab.report import render_report

HERE = Path(__file__).parent
N_RESAMPLES = 1000  # the report's default is 10,000; intervals here only need to exist


def _load(name: str) -> ModuleType:
    unique = f"robustlab_tests_report_{name}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


synthetic = _load("synthetic")
cdp = _load("cdp")


@pytest.fixture(scope="session")
def synth() -> ModuleType:
    """The synthetic results module (write_results, Names, the planted constants)."""
    return synthetic


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An honest synthetic results folder (3 methods x 3 seeds x 6 conditions x 600 ids)."""
    return synthetic.write_results(tmp_path_factory.mktemp("results") / "synthetic_fixture",
                                   n_resamples=N_RESAMPLES)


@pytest.fixture(scope="session")
def report_path(results_dir: Path) -> Path:
    """The report rendered once for the whole session (seed 0)."""
    return render_report(results_dir, seed=0)


@pytest.fixture(scope="session")
def report_html(report_path: Path) -> str:
    return report_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Chromium with no network; a missing browser fails (skip only on request)."""
    if os.environ.get("ROBUSTLAB_SKIP_BROWSER") == "1":
        pytest.skip("ROBUSTLAB_SKIP_BROWSER=1: browser test skipped on request")
    binary = cdp.find_chromium()
    if binary is None:
        pytest.fail("the report's browser test needs Chromium: install Debian's `chromium` "
                    "package (.ci/run does), put it on PATH or set $CHROMIUM; set "
                    "ROBUSTLAB_SKIP_BROWSER=1 to skip this test knowingly", pytrace=False)
    with cdp.Browser(binary) as handle:
        yield handle


@pytest.fixture
def load_page(browser: object) -> object:
    """`load_page(html_path, screenshot=None, clip=None, probe=None) -> PageReport` in the
    session's browser (cdp.load_page)."""
    return lambda path, screenshot=None, **kw: cdp.load_page(browser, path, screenshot, **kw)


def embedded_data(html: str) -> dict[str, object]:
    """The JSON the report embeds in `<script type="application/json" id="robustlab-data">`."""
    start = html.index('id="robustlab-data">') + len('id="robustlab-data">')
    return json.loads(html[start:html.index("</script>", start)])


@pytest.fixture(scope="session")
def data_of() -> object:
    return embedded_data
