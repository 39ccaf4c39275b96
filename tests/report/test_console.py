"""`robustlab report DIR` is `python -m robustlab.report DIR`: same report, same errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.cli import main


def test_report_renders_a_results_folder(results_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(results_dir), "--out", str(out), "--seed", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_report_names_a_bad_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--help"])
    assert exit_.value.code == 0 and "usage: robustlab report" in capsys.readouterr().out
