"""A study that talks while it works: plain progress lines off a terminal (with elapsed time
and an ETA), silence with --quiet, and a --dry-run that prints rounded options, the trial
count and a rough wall-time estimate; --help and the docs agree on --address."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from robustlab.study.cli import main, parser
from robustlab.study.progress import StudyProgress, choose_mode, duration

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_off_a_terminal_name_each_unit_with_elapsed_time_and_eta() -> None:
    clock, stream = Clock(), io.StringIO()
    with StudyProgress(None, stream=stream, clock=clock) as p:
        assert p.mode == "lines"
        p.start_study("tiny", variants=2, trials=2, finals=4)
        p.start_tuning("clip", 2)
        clock.now += 30
        p.trial_done("clip", {"val_top1": 0.25}, "val_top1")
        clock.now += 30
        p.trial_done("clip", {"val_top1": 0.5}, "val_top1")
        p.tuning_done("clip", 60.0)
        p.start_tuning("symile", 2)
        clock.now += 60
        p.trial_done("symile", {"failed": True}, "val_top1")
        p.start_finals(4, done=1)
        clock.now += 120
        p.final_done("clip seed 0")
        p.note("report written in 2.0s")
    lines = stream.getvalue().splitlines()
    assert lines[0] == ("[     0s] study tiny: 2 variants x 2 trials = 4 tuning trials, then 4 "
                        "final runs")
    assert lines[2] == ("[    30s] clip trial 1/2: val_top1 0.2500, best 0.2500 · tuning 1/4 · "
                        "ETA 1m30s")  # 30 s per trial so far, 3 trials left
    assert lines[3] == ("[  1m00s] clip trial 2/2: val_top1 0.5000, best 0.5000 · tuning 2/4 · "
                        "ETA 1m00s")
    assert lines[4] == "[  1m00s] tuning clip done in 1m00s (best 0.5000)"
    assert lines[6] == "[  2m00s] symile trial 1/2: failed · tuning 3/4 · ETA 40s"
    assert lines[7] == "[  2m00s] final runs: 4 (already done: 1)"
    assert lines[8] == "[  4m00s] final run 2/4 done: clip seed 0 · ETA 4m00s"
    assert lines[9] == "[  4m00s] report written in 2.0s"


def test_quiet_says_nothing_and_a_terminal_gets_the_live_display() -> None:
    stream = io.StringIO()
    with StudyProgress(False, stream=stream) as p:
        p.start_study("tiny", 2, 2, 4)
        p.start_tuning("clip", 2)
        p.trial_done("clip", {"val_top1": 0.5}, "val_top1")
        p.note("done")
    assert stream.getvalue() == ""
    assert choose_mode(None, Tty()) == "rich" and choose_mode(None, io.StringIO()) == "lines"
    assert choose_mode(False, Tty()) == "off" and choose_mode(True, io.StringIO()) == "rich"
    tty = Tty()
    with StudyProgress(None, stream=tty) as p:
        p.start_tuning("clip", 2)
        p.trial_done("clip", {"val_top1": 0.5}, "val_top1")
    assert "tune clip" in tty.getvalue() and "clip trial" not in tty.getvalue()


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.4, "59s"), (61, "1m01s"),
                                               (3600, "1h00m"), (7322, "2h02m")])
def test_durations_read_like_a_clock(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_dry_run_rounds_for_people_and_estimates_wall_time(
        tiny_study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tiny_study), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "logit_scale_init=2.66" in out and "2.659260036932778" not in out
    assert "estimated tuning trials: 4 (<= 8 epochs)" in out
    estimate = re.search(r"rough wall time on this machine: ~([\d.]+) (s|min|h) \(tuning ~.*, "
                         r"final runs ~.*; (\d+) runs? at once\)", out)
    assert estimate, out
    steps = re.search(r"per training step at batch 64 \(timed on 64 rows, 3 steps after 1 "
                      r"warm-up\): clip ([\d.]+) ms, symile ([\d.]+) ms", out)
    assert steps and all(float(t) > 0 for t in steps.groups()), out


def test_help_and_docs_agree_on_the_address_form() -> None:
    help_text = parser().format_help()
    readme = (ROOT / "docs" / "how-to" / "cluster.md").read_text()
    assert "--address head:6379" in help_text and "ray://" not in help_text
    assert "--address head:6379" in readme and "ray://" not in readme
    assert "HOST:PORT" in help_text


def test_cli_progress_is_plain_lines_when_piped(tiny_study: Path, tmp_path: Path,
                                                cli: Any) -> None:
    """Only the cheap part of a real run: a bad request fails before Ray starts, and the
    subprocess's stderr (a pipe) carries no terminal control codes."""
    done = cli(str(tiny_study), "--set", "resources.cpu=4096", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "\x1b[" not in done.stderr
