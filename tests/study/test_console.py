"""The `robustlab` console command: the installed script runs, says the one version, and each
subcommand is its module command (same options, same output, same exit statuses)."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import robustlab
from robustlab.cli import main
from robustlab.study.cli import parser as study_parser

ROOT = Path(__file__).resolve().parents[2]


def script() -> str:
    """The installed console script, next to this interpreter (as pip and uv install it)."""
    found = shutil.which("robustlab", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the `robustlab` console script is not installed next to "
                    f"{sys.executable}: reinstall with `pip install -e .`")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          check=False)


def test_the_installed_script_says_the_one_version() -> None:
    done = run(script(), "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"robustlab {robustlab.__version__}"
    # the distribution's metadata is built from the same place (hatch's dynamic version)
    assert importlib.metadata.version("robustlab") == robustlab.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", robustlab.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{robustlab.__version__}]" in changelog


def test_list_is_the_study_commands_list() -> None:
    ours = run(script(), "list")
    theirs = run(sys.executable, "-m", "robustlab.study", "--list")
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout and "gated_symile" in ours.stdout


def test_study_takes_the_module_commands_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["study", "--help"])
    assert exit_.value.code == 0
    ours = capsys.readouterr().out
    theirs = study_parser().format_help()
    assert ours.startswith("usage: robustlab study")
    words = " ".join(ours.replace("robustlab study", "python -m robustlab.study").split())
    assert words == " ".join(theirs.split())  # the same text, wrapped to another prog width


def test_study_runs_a_dry_run_and_refuses_a_bad_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", str(ROOT / "studies/noise.yaml"), "--smoke", "--dry-run",
                 "--set", "budget.trials=1"]) == 0
    assert "study 'noise'" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndata: {kind: synthetic_xnor}\nmethods: {clip: {}}\nbudgte: {}\n")
    assert main(["study", str(bad)]) == 2
    assert "budgte: unknown key; did you mean 'budget'?" in capsys.readouterr().err


def test_no_or_unknown_command_is_a_usage_error() -> None:
    none = run(script())
    assert none.returncode == 2 and "COMMAND" in none.stderr and "report" in none.stderr
    bogus = run(script(), "tune")
    assert bogus.returncode == 2 and "invalid choice: 'tune'" in bogus.stderr
