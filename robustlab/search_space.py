"""Search-space declarations, free of any tuning library.

Each method declares `search_space()` returning name -> distribution; names are fields of the
training config (`lr`, `weight_decay`, ...) or of the method's own options. The tuner
(`robustlab.tune`) turns these into Optuna distributions; a study file may narrow a range or
fix a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"FloatRange needs low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale FloatRange needs low > 0, got {self.low}")


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"IntRange needs low <= high, got [{self.low}, {self.high}]")


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("Choice needs at least one value")


Distribution = FloatRange | IntRange | Choice
