"""Progress of a study while it runs, on stderr.

Three modes:
- `rich`: on a terminal, live bars per variant (trials done / total, best so far, elapsed),
  then the final runs;
- `lines`: when stderr is not a terminal (nohup, CI, a cluster job's log), plain lines, one
  per finished trial, finished tuning, final run and phase, each stamped with the time since
  the start and, for trials and final runs, the phase's ETA (its elapsed time per finished
  unit times the units left: rough while few have finished, as with any rate estimate);
- `off`: `--quiet`.
The results files carry everything; progress only talks.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TextIO

Mode = Literal["rich", "lines", "off"]


def choose_mode(enabled: bool | None, stream: TextIO) -> Mode:
    """None: rich on a terminal, lines elsewhere; False: off; True: rich."""
    if enabled is False:
        return "off"
    if enabled is True:
        return "rich"
    return "rich" if stream.isatty() else "lines"


def duration(seconds: float) -> str:
    """A duration for people: 42s, 3m05s, 1h02m."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class StudyProgress:
    """`with StudyProgress(enabled) as p:` then `p.start_study(...)`, `p.start_tuning(...)`,
    `p.trial_done(...)`, `p.tuning_done(...)`, `p.start_finals(...)`, `p.final_done(...)`,
    `p.note(...)`. Every call but `warn` is a no-op when off."""

    def __init__(self, enabled: bool | None = None, *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.mode: Mode = choose_mode(enabled, self.stream)
        self.enabled = self.mode != "off"
        self._clock = clock
        self._start = clock()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._best: dict[str, float] = {}
        self._phase: dict[str, Any] = {}  # lines mode: the running phase's counters
        self._tuning: dict[str, Any] = {"total": 0, "done": 0, "fresh": 0, "since": self._start}
        self._variant: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> StudyProgress:
        if self.mode == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=False)
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    # --- events ---------------------------------------------------------------------------

    def start_study(self, name: str, variants: int, trials: int, finals: int) -> None:
        self._tuning = {"total": variants * trials, "done": 0, "fresh": 0,
                        "since": self._clock()}
        self._line(f"study {name}: {variants} variants x {trials} trials = "
                   f"{variants * trials} tuning trials, then {finals} final runs")

    def start_tuning(self, variant: str, total: int, done: int = 0) -> None:
        self._add(f"tune {variant}", total, done)
        self._variant[variant] = {"total": total, "done": done, "since": self._clock()}
        self._tuning["done"] += done
        self._line(f"tuning {variant}: {total} trials"
                   + (f" (already done: {done})" if done else ""))

    def trial_done(self, variant: str, record: dict[str, Any], metric: str) -> None:
        value = record.get(metric)
        if isinstance(value, float) and math.isfinite(value) and not record.get("diverged"):
            self._best[variant] = max(self._best.get(variant, -math.inf), value)
        best = self._best.get(variant)
        self._advance(f"tune {variant}", "" if best is None else f"best {metric} {best:.4f}")
        if self.mode != "lines":
            return
        mine = self._variant.setdefault(variant, {"total": 0, "done": 0,
                                                  "since": self._clock()})
        mine["done"] += 1
        t = self._tuning
        t["done"] += 1
        t["fresh"] += 1
        status = ("failed" if record.get("failed") or record.get("diverged") else
                  f"{metric} {value:.4f}" if isinstance(value, float) else "done")
        self._line(f"{variant} trial {mine['done']}/{mine['total']}: {status}"
                   + (f", best {best:.4f}" if best is not None else "")
                   + f" · tuning {t['done']}/{t['total']}"
                   + self._eta(t["since"], t["fresh"], t["total"] - t["done"]))

    def trial_retried(self, variant: str, record: dict[str, Any]) -> None:
        self.warn(f"warning: tuning {variant}: trial {record['trial']} stopped with an error "
                  f"(its worker died, or it raised: Ray's message above); it runs again from "
                  f"its first epoch (retry {record['retry']} of {record['retries']})")

    def tuning_done(self, variant: str, wall_time_s: float) -> None:
        best = self._best.get(variant)
        self._line(f"tuning {variant} done in {duration(wall_time_s)}"
                   + (f" (best {best:.4f})" if best is not None else ""))

    def start_finals(self, total: int, done: int = 0) -> None:
        self._add("final runs", total, done)
        self._phase = {"total": total, "done": done, "fresh": 0, "since": self._clock()}
        self._line(f"final runs: {total}" + (f" (already done: {done})" if done else ""))

    def final_done(self, label: str) -> None:
        self._advance("final runs", label)
        if self.mode != "lines" or not self._phase:
            return
        p = self._phase
        p["done"] += 1
        p["fresh"] += 1
        self._line(f"final run {p['done']}/{p['total']} done: {label}"
                   + self._eta(p["since"], p["fresh"], p["total"] - p["done"]))

    def warn(self, text: str) -> None:
        """One line that must be seen (a damaged unit being redone): printed in every mode,
        --quiet included."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)
        self._line(text)

    # --- output ---------------------------------------------------------------------------

    def _eta(self, since: float, fresh: int, left: int) -> str:
        if left <= 0:
            return ""
        per_unit = (self._clock() - since) / max(fresh, 1)
        return f" · ETA {duration(per_unit * left)}"

    def _line(self, text: str) -> None:
        if self.mode == "lines":
            print(f"[{duration(self._clock() - self._start):>7}] {text}", file=self.stream,
                  flush=True)

    def _add(self, key: str, total: int, done: int) -> None:
        if self._progress is not None:
            self._tasks[key] = self._progress.add_task(key, total=total, completed=done, best="")

    def _advance(self, key: str, text: str) -> None:
        if self._progress is not None and key in self._tasks:
            self._progress.update(self._tasks[key], advance=1, best=text)
