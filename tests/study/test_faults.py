"""Faults a long study meets (issue 26, docs/faults.md), each injected for real into the tiny
study run through the CLI: damaged units, a damaged optuna.db, a second run on the folder, a
trial worker killed, the disk filling up in every phase. Each is checked for its exit status,
its message, and results equal to one undamaged run of the same study (`reference`). SIGKILL
of the driver at random points is in test_run.py."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from robustlab.study.units import UnitStore
from robustlab.tune.cluster import ray_temp_dir

from .conftest import ROOT, TINY, cli_env, descendants, fill, kill_tree, run_cli, write_study

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

TRIAL_COLUMNS = ["method", "trial_id", "config", "status", "metric", "epochs", "metric_history"]


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while another worker builds the reference
        yield


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study, in a folder the xdist workers share: `--dist loadgroup` does not keep
    this module on one worker under pytest 9.2 (pytest-xdist issue 1386), and the reference
    run below is then built once for all of them, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "faults"
    folder.mkdir(exist_ok=True)
    tiny = copy.deepcopy(TINY)
    tiny["final"] = {"seeds": [0]}  # 2 final runs
    with _exclusive(folder / "lock"):
        return write_study(folder, tiny)


@pytest.fixture(scope="session")
def reference(study: Path) -> Path:
    """One undamaged run: what every faulty run must end up equal to."""
    out = study.parent / "reference"
    with _exclusive(study.parent / "lock"):
        if not (out / "report.html").is_file():
            done = run_cli(str(study), "--out", str(out), "--quiet")
            assert done.returncode == 0, done.stderr[-3000:]
    return out


def _same_results(out: Path, reference: Path) -> None:
    a, b = (pl.read_parquet(d / "predictions.parquet") for d in (reference, out))
    assert a.equals(b), "the results differ from the undamaged run's"
    ta, tb = (pl.read_parquet(d / "trials.parquet").select(TRIAL_COLUMNS)
              for d in (reference, out))
    assert ta.equals(tb), "the trials differ from the undamaged run's"


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_damaged_units_are_redone_each_after_one_line(
    study: Path, reference: Path, tmp_path: Path
) -> None:
    out = Path(shutil.copytree(reference, tmp_path / "out"))
    parts = out / "parts"
    truncated = parts / "finals" / "clip" / "seed0.predictions.parquet"
    size = truncated.stat().st_size
    os.truncate(truncated, size // 2)  # a bad copy, a crash of the disk
    flipped = parts / "tuning" / "symile.trials.parquet"
    _flip(flipped)
    unparsable = parts / "finals" / "symile" / "seed0.json"
    unparsable.write_text(unparsable.read_text()[:40])
    kept = parts / "tuning" / "clip.trials.parquet"
    stamp = kept.stat().st_mtime_ns
    done = run_cli(str(study), "--out", str(out), "--resume", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings[:2] == [
        f"warning: {flipped}: damaged (its sha256 differs from the one recorded when it was "
        f"written); tuning/symile is redone",
        f"warning: {truncated}: damaged ({size // 2} bytes, {size} recorded when it was "
        f"written); finals/clip/seed0 is redone"]
    assert len(warnings) == 3 and re.fullmatch(
        rf"warning: {unparsable}: damaged \(not valid JSON: .*\); finals/symile/seed0 is "
        rf"redone", warnings[2]), warnings
    assert "Traceback" not in done.stderr
    assert kept.stat().st_mtime_ns == stamp, "a sound unit was redone"
    _same_results(out, reference)


def test_a_damaged_optuna_db_stops_the_run_naming_it(
    study: Path, reference: Path, tmp_path: Path
) -> None:
    out = Path(shutil.copytree(reference, tmp_path / "out"))
    db = out / "optuna.db"
    with db.open("r+b") as handle:
        handle.write(b"NOT SQLITE")  # the header
    def stamps() -> dict[Path, int]:  # but study.lock, which the refused run held
        return {p: p.stat().st_mtime_ns for p in out.rglob("*")
                if p.is_file() and p.name != "study.lock"}

    before = stamps()
    done = run_cli(str(study), "--out", str(out), "--resume", "--quiet")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"error: {db}: damaged (SQLite: file is not a database). It is Optuna's record of the "
        f"tuning and nothing in the folder rebuilds it: restore it from a backup, or move it "
        f"aside and rerun with --resume (finished tunings are kept from parts/tuning/, "
        f"unfinished ones start over, and the new optuna.db holds only the tunings run from "
        f"then on)")
    assert "Traceback" not in done.stderr
    assert stamps() == before, "the refused run wrote into the folder"


def test_a_second_run_on_the_folder_is_refused_at_once(
    study: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "robustlab.study", str(study), "--out",
                              str(out)], cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    assert first.stderr is not None
    try:
        # the first progress line comes once the run holds the folder; then it is frozen
        # (SIGSTOP), so the second runs certainly meet it still running
        assert "study tiny:" in first.stderr.readline()
        os.kill(first.pid, signal.SIGSTOP)
        holder = json.loads((out / "study.lock").read_text())
        assert holder["pid"] == first.pid
        refusal = (f"error: {out}: another run is writing here (pid {first.pid} on "
                   f"{holder['host']}, since {holder['started_at']}); wait for it to finish "
                   f"or stop it, or choose another --out")
        for how in (["--resume"], []):
            second = run_cli(str(study), "--out", str(out), "--quiet", *how)
            assert (second.returncode, second.stderr.strip()) == (2, refusal), how
        dry = run_cli(str(study), "--out", str(out), "--dry-run")  # takes no lock
        assert dry.returncode == 0, dry.stderr[-2000:]
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, rest = first.communicate(timeout=600)
    assert first.returncode == 0, rest[-3000:]
    _same_results(out, reference)


def test_killed_workers_are_retried(study: Path, reference: Path, tmp_path: Path) -> None:
    """A worker SIGKILLed while it trains a tuning trial, then one running a final run."""
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "robustlab.study", str(study), "--out",
                            str(out)], cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    killed: dict[bytes, int] = {}
    try:
        deadline = time.monotonic() + 600
        for title in (b"ray::ImplicitFunc.train", b"ray::final_run"):
            while title not in killed and run.poll() is None and time.monotonic() < deadline:
                if (pid := _kill_worker(run.pid, title)) is not None:
                    killed[title] = pid
                time.sleep(0.02)
        _, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            kill_tree(run, out)
    assert set(killed) == {b"ray::ImplicitFunc.train", b"ray::final_run"}, killed
    assert run.returncode == 0, err[-3000:]
    retried = [line for line in err.splitlines() if line.startswith("warning: tuning ")]
    assert len(retried) == 1 and re.fullmatch(
        r"warning: tuning (clip|symile): trial \1-000[12] stopped with an error \(its worker "
        r"died, or it raised: Ray's message above\); it runs again from its first epoch "
        r"\(retry 1 of 2\)", retried[0]), retried
    _same_results(out, reference)  # no trial became a failed one, no final run was lost


def _kill_worker(pid: int, title: bytes) -> int | None:
    """SIGKILL a Ray worker of the run `pid` whose process title starts with `title` (what
    Ray names a worker busy with a trial or task); its pid, or None."""
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(title):
            os.kill(child, signal.SIGKILL)
            return child
    return None


def _run_filling(args: list[str], fs: Path, trigger: str, keep: int) -> tuple[int, str]:
    """Run the CLI; the moment a progress line contains `trigger`, fill `fs` up to `keep`
    free bytes. Returns the exit status and stderr."""
    run = subprocess.Popen([sys.executable, "-m", "robustlab.study", *args], cwd=ROOT,
                           env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    assert run.stderr is not None
    lines = []
    for line in run.stderr:
        lines.append(line)
        if trigger in line and not (fs / "filler").exists():
            fill(fs, keep)
    run.wait(timeout=600)
    assert (fs / "filler").exists(), f"{trigger!r} never came: {''.join(lines)[-2000:]}"
    return run.returncode, "".join(lines)


def _whole(out: Path) -> None:
    """Nothing half-written: no temp file of ours, every unit verifies, every results file
    there reads."""
    assert not [p for p in [*out.glob(".*.tmp"), *out.rglob("parts/**/.*.tmp")]]
    store = UnitStore(out / "parts", warn=pytest.fail)
    for sidecar in (out / "parts").rglob("*.json"):
        key = str(sidecar.relative_to(out / "parts").with_suffix(""))
        if key != "study":
            assert store.load(key) is not None
    for name in ("predictions.parquet", "trials.parquet"):
        if (out / name).exists():
            pl.read_parquet(out / name)
    json.loads((out / "manifest.json").read_text())


def test_a_full_disk_in_each_phase_stops_in_one_line_and_resumes_to_the_same_results(
    study: Path, reference: Path, tmp_path: Path, tmpfs: Callable[[Path, str], Path]
) -> None:
    fs = tmpfs(tmp_path / "fs", "16m")
    out = fs / "out"
    assert not ray_temp_dir(out)[0].is_relative_to(fs)  # Ray's sockets stay off the full disk
    args = [str(study), "--out", str(out)]
    steps = [  # (the progress line at which the disk fills, bytes left, status, message)
        ("tuning symile: 2 trials", 0, 75, "error: disk full while tuning 'symile' ("),
        ("final runs: 2", 0, 75,
         f"error: disk full: No space left on device (writing {out}/parts/finals/"),
        ("final run 2/2 done", 0, 75,
         f"error: disk full: No space left on device (writing {out}/predictions.parquet). "
         f"Nothing is half-written: free space on the filesystem of {out}, then rerun with "
         f"--resume to continue"),
        ("predictions.parquet: ", 64 << 10, 1,  # the manifest fits, the report does not
         f"report failed: OSError: [Errno 28] No space left on device: '{out}/report.html' "
         f"(re-render: python -m robustlab.report {out})"),
    ]
    for trigger, keep, status, message in steps:
        code, err = _run_filling([*args, "--resume"] if out.exists() else args, fs, trigger,
                                 keep)
        assert code == status, (trigger, err[-3000:])
        assert err.splitlines()[-1].startswith(message), (trigger, err[-3000:])
        assert "Traceback" not in err, (trigger, err[-3000:])
        _whole(out)
        if trigger.startswith("tuning symile"):  # the variant's Ray folder is not trusted
            assert not (out / "ray" / "symile").exists() and (out / "ray" / "clip").is_dir()
        (fs / "filler").unlink()
    done = run_cli(*args, "--resume", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "report.html").is_file()
    _same_results(out, reference)
