"""Finished units of work in `parts/`, written so a later run can trust what it reads back.

A unit is a JSON record plus named payload files, under a key such as `finals/clip/seed0`:

    parts/finals/clip/seed0.json                  the sidecar: the record and every checksum
    parts/finals/clip/seed0.predictions.parquet   payload "predictions.parquet"

`write` writes each payload atomically, then the sidecar, atomically and last: a unit whose
sidecar exists is complete. The sidecar holds the record, the sha256 of the record's
canonical JSON, and the sha256 and size of every payload as written.

`read` verifies all of it. A unit that was never finished (no sidecar) is absent. A damaged
one (a payload missing, truncated or with a flipped bit, a sidecar that does not parse or whose
record no longer matches its checksum, a sidecar from before checksums) is absent too, after
one warning line naming the file, so the runner redoes it. `load` is the same but raises
`UnitDamaged`, for callers that must not go on without the unit.

Payload names are file-name suffixes ("predictions.parquet", "embeddings.npy"); a payload is a
polars DataFrame (written as Parquet; its name must end in .parquet) or bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from robustlab.results import FileDigest, atomic_write_bytes, atomic_write_json, parquet_bytes
from robustlab.study.spec import SpecError

FORMAT = 1
_NAME = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
# no dot in a key: a sidecar is `<last part>.json`, a payload `<last part>.<name>`
_KEY = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")

Payload = pl.DataFrame | bytes


class UnitDamaged(SpecError):
    """A unit's file is damaged; `path` names it, `reason` says how."""

    def __init__(self, key: str, path: Path, reason: str) -> None:
        super().__init__(f"{path}: damaged ({reason}); rerun with --resume to redo it")
        self.key, self.path, self.reason = key, path, reason


@dataclass(frozen=True)
class Unit:
    """A verified unit: its record and the path of each payload."""

    key: str
    record: dict[str, Any]
    files: dict[str, Path]

    def frame(self, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.files[name])

    def data(self, name: str) -> bytes:
        return self.files[name].read_bytes()


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class UnitStore:
    """The units under `root` (the output folder's `parts/`)."""

    def __init__(self, root: Path, warn: Callable[[str], None] = _warn) -> None:
        self.root = root
        self.warn = warn
        self._warned: set[str] = set()  # a unit read twice before it is redone: one line

    def sidecar(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"unit key {key!r}: use names of letters, digits, _ and - "
                             f"joined by /")
        return self.root / f"{key}.json"

    def payload_path(self, key: str, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"payload name {name!r}: use a file-name suffix such as "
                             f"'predictions.parquet' (lower case, digits, _)")
        side = self.sidecar(key)
        return side.with_name(f"{side.stem}.{name}")

    def write(self, key: str, record: Mapping[str, Any],
              payloads: Mapping[str, Payload] | None = None) -> None:
        """Write the payloads, then the sidecar (last: it marks the unit finished)."""
        entries = {}
        for name, payload in (payloads or {}).items():
            path = self.payload_path(key, name)
            digest = atomic_write_bytes(path, _encode(name, payload))
            entries[name] = {"file": path.name, **digest.to_json()}
        text = _canonical(dict(record))
        atomic_write_json({"format": FORMAT, "record": json.loads(text),
                           "record_sha256": _sha256(text), "payloads": entries},
                          self.sidecar(key))

    def read(self, key: str) -> Unit | None:
        """The unit, or None when absent or damaged (damage: one warning line per unit)."""
        try:
            return self.load(key)
        except UnitDamaged as err:
            if key not in self._warned:
                self._warned.add(key)
                self.warn(f"warning: {err.path}: damaged ({err.reason}); {key} is redone")
            return None

    def load(self, key: str) -> Unit | None:
        """The unit, or None when absent; raises UnitDamaged when damaged."""
        side = self.sidecar(key)
        if not side.is_file():
            return None
        sidecar = _parse(key, side)
        files = {name: self._verify(key, side, name, entry)
                 for name, entry in sidecar["payloads"].items()}
        return Unit(key, sidecar["record"], files)

    def _verify(self, key: str, side: Path, name: str, entry: Any) -> Path:
        path = self.payload_path(key, name)
        if not (isinstance(entry, dict) and entry.get("file") == path.name):
            raise UnitDamaged(key, side, f"its entry for {name!r} is malformed")
        if not path.is_file():
            raise UnitDamaged(key, path, "missing")
        digest = FileDigest.of_file(path)
        if digest.size != entry.get("bytes"):
            raise UnitDamaged(key, path, f"{digest.size} bytes, {entry.get('bytes')} recorded "
                                         f"when it was written")
        if digest.sha256 != entry.get("sha256"):
            raise UnitDamaged(key, path, "its sha256 differs from the one recorded when it "
                                         "was written")
        return path


def _parse(key: str, side: Path) -> dict[str, Any]:
    try:
        sidecar = json.loads(side.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UnitDamaged(key, side, f"not valid JSON: {err}") from err
    if not isinstance(sidecar, dict) or "format" not in sidecar:
        raise UnitDamaged(key, side, "no checksums: written by an older robustlab")
    if sidecar["format"] != FORMAT:
        raise UnitDamaged(key, side, f"unknown format {sidecar['format']!r}")
    record, payloads = sidecar.get("record"), sidecar.get("payloads")
    if not (isinstance(record, dict) and isinstance(payloads, dict)):
        raise UnitDamaged(key, side, "its record or payload list is malformed")
    if _sha256(_canonical(record)) != sidecar.get("record_sha256"):
        raise UnitDamaged(key, side, "its record differs from the checksum written with it")
    return sidecar


def _encode(name: str, payload: Payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, pl.DataFrame) and name.endswith(".parquet"):
        return parquet_bytes(payload)
    raise TypeError(f"payload {name!r}: a DataFrame (name ending in .parquet) or bytes, "
                    f"got {type(payload).__name__}")


def _canonical(record: dict[str, Any]) -> str:
    """The record as the sidecar keeps it (what JSON cannot hold becomes its str), in one
    spelling, so the checksum of what is read back can be compared."""
    once = json.dumps(record, sort_keys=True, default=str)
    return json.dumps(json.loads(once), sort_keys=True, separators=(",", ":"))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
