"""The worked example plugin (`docs/examples/plugin`), installed for real: its own tests pass,
`--list` shows it, a smoke study compares it with `clip` and `symile` on a local Ray cluster
and records it in manifest.json and the report, and uninstalling it removes it.

Where it is installed, and why. The plugin is installed (editable, with pip or uv) into a
throwaway virtual environment layered on the test environment: the child's site-packages
holds only the plugin, and a .pth file adds the test environment's site-packages after it
(`site.addsitedir`, so robustlab's own editable install, torch, Ray and pytest resolve
exactly as in the test environment). Every command of the test runs the child's interpreter;
Ray starts its workers from the driver's interpreter, so the trials and final runs on the
local cluster import the plugin from the installed package, as a user's would. Installing into
the test environment itself instead would (1) change what the other pytest-xdist worker sees
mid-run (a test there that refreshes a registry would discover the plugin, and a half-written
dist-info can be read while pip writes it), and (2) leave the plugin installed if the run is
killed before the uninstall, polluting every later run. The child environment is deleted
with the test's tmp folder whatever happens; the test still uninstalls the plugin through the
installer and checks that robustlab no longer lists it. pip when the test environment has it
(a `python -m venv` + pip checkout), else `uv pip --python` (nox's uv-built environments have
no pip; CI installs uv next to nox).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import polars as pl
import pytest

from robustlab.results import check_predictions

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "docs" / "examples" / "plugin"
DIST, VERSION = "robustlab-pairtemp", "0.1.0"


def child_env(tmp: Path) -> Path:
    """A venv without pip whose site-packages chains to the test environment's; its python."""
    folder = tmp / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True,
                   timeout=120)
    python = folder / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                          "['purelib'])"], capture_output=True, text=True, check=True,
                         timeout=60).stdout.strip()
    parents = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    line = "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents)
    (Path(own) / "zz_test_environment.pth").write_text(line + "\n")
    return python


def installer(python: Path) -> tuple[list[str], list[str]]:
    """(install, uninstall) command prefixes acting on the child environment."""
    if importlib.util.find_spec("pip") is not None:
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        return [*pip, "install", "--no-deps"], [*pip, "uninstall", "-y"]
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("neither pip (in the test environment) nor uv (on PATH) can install the "
                    "example plugin: python3 -m pip install uv")
    return ([uv, "pip", "install", "--python", str(python), "--no-deps"],
            [uv, "pip", "uninstall", "--python", str(python)])


def run(python: Path, *args: str, cwd: Path = ROOT, timeout: float = 300,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def lines_of(listing: str, name: str) -> list[list[str]]:
    return [line.split() for line in listing.splitlines() if line.split()[:1] == [name]]


def test_the_example_plugin_installs_runs_a_study_and_uninstalls(tmp_path: Path) -> None:
    python = child_env(tmp_path)
    install, uninstall = installer(python)
    done = subprocess.run([*install, "-e", str(PLUGIN)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    try:
        check_installed(python)
        check_smoke_study(python, tmp_path)
    finally:
        removed = subprocess.run([*uninstall, DIST], capture_output=True, text=True,
                                 timeout=300, check=False)
    assert removed.returncode == 0, removed.stderr[-2000:]
    listing = run(python, "-m", "robustlab.study", "--list")
    assert listing.returncode == 0 and not lines_of(listing.stdout, "pair_temp_clip")
    gone = run(python, "-m", "robustlab.study", str(PLUGIN / "study.yaml"), "--dry-run")
    assert gone.returncode == 2 and "data.kind: unknown dataset 'noisy_views'" in gone.stderr


def check_installed(python: Path) -> None:
    listing = run(python, "-m", "robustlab.study", "--list")
    assert listing.returncode == 0, listing.stderr
    for name, where in (("pair_temp_clip", "robustlab_pairtemp.pair_temp_clip:PairTempClip"),
                        ("noisy_views", "robustlab_pairtemp.noisy_views:NoisyViews")):
        assert lines_of(listing.stdout, name) == [[name, "plugin", DIST, VERSION, f"({where})"]]
    tests = run(python, "-m", "pytest", "-q", "-p", "no:xdist", cwd=PLUGIN, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "5 passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout[-500:]


def check_smoke_study(python: Path, tmp: Path) -> None:
    out, home = tmp / "out", tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"HOME": str(home)}
    done = run(python, "-m", "robustlab.study", str(PLUGIN / "study.yaml"), "--smoke",
               "--out", str(out), "--quiet", timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    methods = ["clip", "pair_temp_clip", "symile"]
    predictions = pl.read_parquet(out / "predictions.parquet")
    check_predictions(predictions)
    assert sorted(predictions["method"].unique()) == methods
    assert "c_reliable" in predictions.columns  # the plugin dataset's slice column
    assert sorted(predictions["condition"].unique()) == ["clean", "missing(c, fraction=0.5)"]
    # the tuning trials ran in Ray workers, which imported the plugin from the install
    trials = pl.read_parquet(out / "trials.parquet")
    ours = trials.filter(pl.col("method") == "pair_temp_clip")
    assert ours.height == 2 and set(ours["status"]) == {"completed"}, ours
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plugins"] == [
        {"kind": "datasets", "name": "noisy_views", "distribution": DIST, "version": VERSION,
         "entry_point": "noisy_views = robustlab_pairtemp.noisy_views:NoisyViews"},
        {"kind": "methods", "name": "pair_temp_clip", "distribution": DIST, "version": VERSION,
         "entry_point": "pair_temp_clip = robustlab_pairtemp.pair_temp_clip:PairTempClip"}]
    record = manifest["methods"]["pair_temp_clip"]
    assert record["registry"] == "pair_temp_clip" and record["param_count"] > 0
    assert record["budget"] == {**record["budget"], "trials": 2, "epochs": 4}
    assert manifest["methods"]["clip"]["budget"]["epochs"] == 4  # the same budget for all
    assert manifest["report"]["status"] == "written", manifest["report"]
    html = (out / "report.html").read_text(encoding="utf-8")
    provenance = html[html.index('<section id="provenance">'):]
    assert f"{DIST} {VERSION}" in provenance and "pair_temp_clip" in provenance
