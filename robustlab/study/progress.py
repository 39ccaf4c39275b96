"""Progress of a study on the terminal: per variant trials done / total, best so far and
elapsed time; then final runs. Drawn with rich on stderr when it is a terminal, silent
otherwise (CI logs and pipes stay clean; the results files carry everything).
"""

from __future__ import annotations

import math
import sys
from types import TracebackType
from typing import Any


class StudyProgress:
    """`with StudyProgress(enabled) as p:` then `p.start_tuning(...)`, `p.trial_done(...)`,
    `p.start_finals(...)`, `p.final_done(...)`, `p.note(...)`. Every call is a no-op when
    disabled."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._best: dict[str, float] = {}

    def __enter__(self) -> StudyProgress:
        if self.enabled:
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
                console=Console(stderr=True), transient=False)
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_tuning(self, variant: str, total: int, done: int = 0) -> None:
        self._add(f"tune {variant}", total, done)

    def trial_done(self, variant: str, record: dict[str, Any], metric: str) -> None:
        value = record.get(metric)
        if isinstance(value, float) and math.isfinite(value) and not record.get("diverged"):
            self._best[variant] = max(self._best.get(variant, -math.inf), value)
        best = self._best.get(variant)
        self._advance(f"tune {variant}", "" if best is None else f"best {metric} {best:.4f}")

    def start_finals(self, total: int, done: int = 0) -> None:
        self._add("final runs", total, done)

    def final_done(self, label: str) -> None:
        self._advance("final runs", label)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)

    def _add(self, key: str, total: int, done: int) -> None:
        if self._progress is not None:
            self._tasks[key] = self._progress.add_task(key, total=total, completed=done, best="")

    def _advance(self, key: str, text: str) -> None:
        if self._progress is not None and key in self._tasks:
            self._progress.update(self._tasks[key], advance=1, best=text)
