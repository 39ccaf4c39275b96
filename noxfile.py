"""Developer sessions: `nox -s tests` (default), lint, typecheck, smoke, docs, bench.

Torch is pinned to a CPU build. uv ignores pip's configuration, so when pip is told where a
local wheel folder is (`pip config get global.find-links`), we hand it to uv as UV_FIND_LINKS.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = False

ROOT = pathlib.Path(__file__).parent
STUDIES = sorted(str(p) for p in (ROOT / "studies").glob("*.yaml"))


def _pip_find_links() -> str | None:
    """The local wheel folder pip is configured with, if any (it holds the CPU torch wheel)."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True, text=True, check=False, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return value or None


if "UV_FIND_LINKS" not in os.environ and (links := _pip_find_links()):
    os.environ["UV_FIND_LINKS"] = links

# Compile bytecode at install time. uv does not by default, and where PYTHONDONTWRITEBYTECODE
# is set nothing caches it later, so every process (each pytest worker, each Ray trial
# worker) would recompile torch, scipy and Ray from source: ~9 s of CPU each, measured.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite: unit, Hypothesis property, Ray and browser tests."""
    _install(session, "test", "build")  # build: num2words, so the m3_lite word table is checked
    # pytest exits 5 when it collects nothing; nox treats any non-zero exit as failure.
    session.run("pytest", "-n", "2", "--dist", "loadgroup", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    _install(session, "lint")
    session.run("ruff", "check", "robustlab", "perturbations", "tests", "bench", "noxfile.py",
                "docs/examples/plugin", "docs/_hooks", "docs/site_check.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    _install(session, "typecheck")
    session.run("mypy", "robustlab", "perturbations")


@nox.session
def smoke(session: nox.Session) -> None:
    """Every study file end to end with a tiny budget (`--smoke`)."""
    _install(session)
    for study in STUDIES:
        session.run("python", "-m", "robustlab.study", study, "--smoke",
                    "--out", str(ROOT / "reports" / "smoke" / pathlib.Path(study).stem))


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: `mkdocs build --strict` into site/ (broken links and anchors,
    pages missing from the nav and docstrings mkdocstrings cannot render fail it), then every
    page opened in headless Chromium with the network cut off (any request off the disk, any
    console error fails). `nox -s docs -- --screenshots` also rewrites docs/site_*.png."""
    _install(session, "docs")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"),
                env={"NO_MKDOCS_2_WARNING": "1"})  # Material's banner about its successor
    session.run("python", str(ROOT / "docs" / "site_check.py"), str(ROOT / "site"),
                *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: every figure is a ratio against a baseline measured in the same run."""
    _install(session, "test")
    # the reference Symile package, compared against in `symile_memory`; --no-deps keeps
    # our pinned CPU torch (it requires only numpy and torch>=1.9, both already here)
    session.install("--no-deps", "symile==0.1.0")
    # the SliceLine baseline of `discovery` (its numpy, scipy and scikit-learn are ours)
    session.install("--no-deps", "sliceline==0.3.0")
    session.run("python", "-m", "bench", *session.posargs)
