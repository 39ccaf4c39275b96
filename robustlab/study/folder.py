"""The output folder of a study: one writer at a time, and the checks a run makes before it
trusts what the folder holds (docs/faults.md).

One writer. `hold(out)` takes an exclusive `flock` on `out/study.lock` for the whole run and
writes the holder into it (pid, host, start time, command). The kernel releases the lock when
the process ends, however it ends (SIGKILL included), so a killed run leaves nothing to clean
up: the file stays, the lock does not. A second run on the folder fails at once, naming the
holder. Where the filesystem cannot lock (Lustre mounted `noflock`, some FUSE filesystems) the
run goes on with a warning; where its locks are local to one host (NFS mounted `nolock` or
`local_lock=flock|all`, Lustre `localflock`), runs on two hosts are not kept apart.

The study. `parts/study.json` records which study the folder holds; a damaged one stops the
run (nothing else says which study the parts belong to).

optuna.db. Optuna's own record of every tuning; nothing in the folder can rebuild it, so a
damaged one stops the run with what to do. The check is SQLite's own (`PRAGMA quick_check`
and Optuna's tables present): it catches a truncated file, a damaged header or page, not a
flipped bit inside a stored value.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from robustlab.study.spec import SpecError

LOCK_FILE = "study.lock"
MARKER = Path("parts") / "study.json"
OPTUNA_DB = "optuna.db"
# flock(2) on a filesystem without (whole-file) locks; EINVAL/ENOLCK also from NFS without lockd
_NO_LOCKS = (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL)


class StudyFolderError(SpecError):
    """The output folder holds a different study, nothing to resume, or a damaged file that
    cannot be rebuilt."""


class FolderBusy(StudyFolderError):
    """Another run holds the output folder."""


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def hold(out: Path, command: tuple[str, ...] = (),
         warn: Callable[[str], None] = _stderr) -> Iterator[None]:
    """Hold `out` for this process: raises FolderBusy when another process holds it; warns
    and goes on where the filesystem cannot lock. A run that fails before it wrote anything
    (an impossible resource request on a cluster it joined) leaves no folder behind."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    # Opened once and closed only at the end: with NFS's fcntl emulation of flock, closing
    # any descriptor of the file would drop the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if _lock(fd, out, warn):
            _record_holder(fd, command)
        try:
            yield
        except BaseException:
            if created and [p.name for p in out.iterdir()] == [LOCK_FILE]:
                path.unlink()  # still holding the lock, so no other run has it
                out.rmdir()
            raise
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int, out: Path, warn: Callable[[str], None] | None) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FolderBusy(f"{out}: another run is writing here ({holder(out)}); wait for it to "
                         f"finish or stop it, or choose another --out") from None
    except OSError as err:
        if err.errno not in _NO_LOCKS:
            raise
        if warn is not None:
            warn(f"warning: {out / LOCK_FILE}: this filesystem cannot lock files "
                 f"({os.strerror(err.errno or 0)}); a second run on this folder will not be "
                 f"stopped")
        return False
    return True


def _record_holder(fd: int, command: tuple[str, ...]) -> None:
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                       "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                       "command": list(command)}, indent=2) + "\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    os.fsync(fd)


def check_free(out: Path) -> None:
    """Raise FolderBusy when another process holds `out`, without taking it (nor creating
    anything): checked first, as a run that has just started holds a folder still empty."""
    try:
        fd = os.open(out / LOCK_FILE, os.O_RDWR)
    except OSError:
        return  # no lock file: nobody has held the folder
    try:
        _lock(fd, out, None)
    finally:
        os.close(fd)  # and our lock with it


def holder(out: Path) -> str:
    """Who holds `out`, as the lock file says ("pid 123 on host, since ...")."""
    try:
        info: Any = json.loads((out / LOCK_FILE).read_text())
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or "pid" not in info:
        return "a process that is just starting"
    return (f"pid {info.get('pid')} on {info.get('host', '?')}, since "
            f"{info.get('started_at', '?')}")


def check_study(out: Path, name: str, fingerprint: str, resume: bool) -> None:
    """Raise StudyFolderError unless `out` holds this study, or nothing yet (no --resume)."""
    marker = out / MARKER
    if not marker.is_file():
        if resume:
            raise StudyFolderError(f"{out}: --resume, but there is no study to resume here")
        return
    try:
        held = json.loads(marker.read_text(encoding="utf-8"))
        held_fingerprint, held_name = held["fingerprint"], held.get("name")
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as err:
        raise StudyFolderError(
            f"{marker}: damaged ({type(err).__name__}: {err}); it records which study the "
            f"folder holds. If {out} holds this very study ({name!r}, same file and --set), "
            f"delete {marker} and rerun; otherwise choose another --out") from err
    if held_fingerprint != fingerprint:
        raise StudyFolderError(
            f"{out}: holds a different study ({held_name!r}, other settings); "
            f"choose another --out, or remove the folder to start over")


def check_optuna_db(out: Path) -> None:
    """Raise StudyFolderError when `out/optuna.db` exists and SQLite finds it damaged."""
    path = out / OPTUNA_DB
    if not path.is_file():
        return
    problem = _sqlite_problem(path)
    if problem is not None:
        raise StudyFolderError(
            f"{path}: damaged ({problem}). It is Optuna's record of the tuning and nothing in "
            f"the folder rebuilds it: restore it from a backup, or move it aside and rerun "
            f"with --resume (finished tunings are kept from parts/tuning/, unfinished ones "
            f"start over, and the new optuna.db holds only the tunings run from then on)")


def _sqlite_problem(path: Path) -> str | None:
    try:
        # read-write, as Optuna opens it: a run killed mid-commit leaves a journal that
        # SQLite rolls back on open (read-only, that would read as damage)
        with contextlib.closing(sqlite3.connect(path)) as db:
            found = db.execute("PRAGMA quick_check").fetchall()
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as err:
        return f"SQLite: {err}"
    if found != [("ok",)]:
        return "SQLite: " + "; ".join(str(r[0]) for r in found[:3])
    if tables and "studies" not in tables:
        return "SQLite: not an Optuna database (no 'studies' table)"
    return None
