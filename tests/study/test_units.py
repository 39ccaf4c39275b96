"""The unit store, the output-folder lock and the checks a run makes before it trusts a folder,
in-process (no Ray): every kind of damage is found, named in one line, and never mistaken for
a finished unit; a second holder is refused and a dead one leaves nothing behind."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from robustlab.results import FileDigest, atomic_write_bytes, is_disk_full, remove_temp_files
from robustlab.study.folder import (
    LOCK_FILE,
    FolderBusy,
    StudyFolderError,
    check_free,
    check_optuna_db,
    check_study,
    hold,
)
from robustlab.study.units import UnitDamaged, UnitStore

FRAME = pl.DataFrame({"example_id": list(range(200)), "score": [i / 7 for i in range(200)]})
KEY = "finals/clip/seed0"


@pytest.fixture
def store(tmp_path: Path) -> tuple[UnitStore, list[str]]:
    warnings: list[str] = []
    unit_store = UnitStore(tmp_path / "parts", warnings.append)
    unit_store.write(KEY, {"val_metric": 0.25, "history": [0.1, float("nan")]},
                     {"predictions.parquet": FRAME, "embeddings.npy": b"\x00\x01" * 64})
    return unit_store, warnings


def test_a_written_unit_reads_back(store: tuple[UnitStore, list[str]]) -> None:
    units, warnings = store
    unit = units.read(KEY)
    assert unit is not None and warnings == []
    assert unit.record["val_metric"] == 0.25 and unit.record["history"][0] == 0.1
    assert unit.frame("predictions.parquet").equals(FRAME)
    assert unit.data("embeddings.npy") == b"\x00\x01" * 64
    assert sorted(p.name for p in (units.root / "finals" / "clip").iterdir()) == [
        "seed0.embeddings.npy", "seed0.json", "seed0.predictions.parquet"]
    assert units.read("finals/clip/seed1") is None and warnings == []  # never written: quiet


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


DAMAGE = {
    "truncated payload": ("seed0.predictions.parquet", _truncate,
                          r"\d+ bytes, \d+ recorded when it was written"),
    "bit-flipped payload": ("seed0.predictions.parquet", lambda p: _flip(p, 300),
                            "its sha256 differs from the one recorded when it was written"),
    "missing payload": ("seed0.embeddings.npy", Path.unlink, "missing"),
    "unparsable sidecar": ("seed0.json", _truncate, "not valid JSON"),
    "a value of the record changed": (
        "seed0.json", lambda p: p.write_text(p.read_text().replace("0.25", "0.75")),
        "its record differs from the checksum written with it"),
    "sidecar from before checksums": (
        "seed0.json", lambda p: p.write_text(json.dumps({"val_metric": 0.25})),
        "no checksums: written by an older robustlab"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_unit_is_absent_after_one_warning_naming_the_file(
    store: tuple[UnitStore, list[str]], damage: str
) -> None:
    units, warnings = store
    name, hurt, reason = DAMAGE[damage]
    path = units.root / "finals" / "clip" / name
    hurt(path)
    assert units.read(KEY) is None
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: {path}: damaged (")
    assert warnings[0].endswith(f"); {KEY} is redone")
    assert re.search(reason, warnings[0]), warnings[0]
    with pytest.raises(UnitDamaged, match="rerun with --resume to redo it") as err:
        units.load(KEY)
    assert err.value.path == path
    assert units.read(KEY) is None and len(warnings) == 1  # read again before it is redone


def test_rewriting_a_damaged_unit_repairs_it(store: tuple[UnitStore, list[str]]) -> None:
    units, warnings = store
    _truncate(units.root / "finals" / "clip" / "seed0.predictions.parquet")
    assert units.read(KEY) is None
    units.write(KEY, {"val_metric": 0.5}, {"predictions.parquet": FRAME})
    unit = units.read(KEY)
    assert unit is not None and unit.record == {"val_metric": 0.5} and len(warnings) == 1
    assert set(unit.files) == {"predictions.parquet"}  # the old embeddings are not listed


def test_names_are_checked(store: tuple[UnitStore, list[str]]) -> None:
    units, _ = store
    with pytest.raises(ValueError, match="payload name"):
        units.write(KEY, {}, {"../escape.parquet": FRAME})
    with pytest.raises(ValueError, match="unit key"):
        units.write("../outside", {})
    with pytest.raises(ValueError, match="unit key"):
        units.write("finals/clip/seed0.old", {})  # a dot would read as a payload's name
    with pytest.raises(TypeError, match="a DataFrame"):
        units.write(KEY, {}, {"predictions.csv": FRAME})


def test_atomic_write_returns_what_it_wrote_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    digest = atomic_write_bytes(path, b"abc")
    assert digest == FileDigest.of_file(path) and digest.size == 3
    assert digest.matches({"sha256": digest.sha256, "bytes": 3})
    assert not digest.matches({"sha256": digest.sha256, "bytes": 4})
    (tmp_path / ".x.bin.k2j3.tmp").write_bytes(b"half")  # what a killed write leaves
    assert remove_temp_files(tmp_path) == [tmp_path / ".x.bin.k2j3.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_disk_full_is_recognised_through_wrappers() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as inner:
            raise RuntimeError("commit failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert is_disk_full(RuntimeError("Traceback ...\nOSError: [Errno 28] No space left on "
                                     "device\n"))  # Ray's TuneError carries text
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_a_second_holder_is_refused_and_told_who_holds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with hold(out, ("study.yaml", "--out", str(out))):
        holder = json.loads((out / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["command"][0] == "study.yaml"
        with pytest.raises(FolderBusy) as err, hold(out):
            pass  # pragma: no cover - never reached
        assert str(err.value).startswith(
            f"{out}: another run is writing here (pid {os.getpid()} on {holder['host']}, "
            f"since {holder['started_at']}); wait for it")
        with pytest.raises(FolderBusy, match="another run is writing here"):
            check_free(out)  # the check made before anything else
    with hold(out):  # released on exit
        pass
    check_free(out)
    check_free(tmp_path / "never")  # no folder: free, and nothing is created
    assert not (tmp_path / "never").exists()


def test_a_run_failing_before_it_wrote_anything_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "new"
    with pytest.raises(RuntimeError, match="impossible"), hold(out):
        raise RuntimeError("impossible request")
    assert not out.exists()
    with pytest.raises(RuntimeError), hold(out):
        (out / "manifest.json").write_text("{}")  # something was written: the folder stays
        raise RuntimeError
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", LOCK_FILE]


def test_a_killed_holder_leaves_the_folder_free(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from robustlab.study.folder import hold
        with hold(Path({str(out)!r})):
            print("held", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"pid {child.pid} on "), hold(out):
            pass  # pragma: no cover - never reached
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert (out / LOCK_FILE).is_file()  # the file stays; the lock went with the process
    with hold(out):
        pass


def test_a_filesystem_without_locks_warns_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lustre mounted `noflock` refuses flock (no such filesystem here: flock is replaced)."""
    import fcntl

    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", refuse)
    warnings: list[str] = []
    with hold(tmp_path, warn=warnings.append):
        pass
    assert warnings == [f"warning: {tmp_path / LOCK_FILE}: this filesystem cannot lock files "
                        f"({os.strerror(errno.ENOLCK)}); a second run on this folder will not "
                        f"be stopped"]


def _optuna_like(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
        db.executemany("INSERT INTO studies (study_name) VALUES (?)",
                       [(f"variant{i}" * 40,) for i in range(400)])  # several pages
    db.close()


@pytest.mark.parametrize(("hurt", "reason"), [
    (lambda p: p.write_bytes(b"XXXXXX" + p.read_bytes()[6:]), "file is not a database"),
    (_truncate, "database disk image is malformed"),
])
def test_a_damaged_optuna_db_is_an_error_naming_it(tmp_path: Path, hurt: object,
                                                   reason: str) -> None:
    path = tmp_path / "optuna.db"
    _optuna_like(path)
    check_optuna_db(tmp_path)  # sound: passes
    hurt(path)  # type: ignore[operator]
    with pytest.raises(StudyFolderError) as err:
        check_optuna_db(tmp_path)
    assert str(err.value).startswith(f"{path}: damaged (SQLite: {reason}). It is Optuna's "
                                     "record of the tuning")
    assert "move it aside and rerun with --resume" in str(err.value)


def test_a_damaged_study_marker_is_an_error_naming_it(tmp_path: Path) -> None:
    marker = tmp_path / "parts" / "study.json"
    marker.parent.mkdir()
    marker.write_text('{"name": "tiny", "finger')
    with pytest.raises(StudyFolderError, match=r"parts/study.json: damaged \(JSONDecodeError"):
        check_study(tmp_path, "tiny", "abc", resume=True)
    marker.write_text(json.dumps({"name": "tiny", "fingerprint": "abc"}))
    check_study(tmp_path, "tiny", "abc", resume=True)
    with pytest.raises(StudyFolderError, match="holds a different study"):
        check_study(tmp_path, "tiny", "xyz", resume=False)
