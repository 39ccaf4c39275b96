"""Search spaces: a method's declared space, narrowed or fixed by the study, to Optuna.

A method declares `search_space()` (name -> `robustlab.search_space` distribution). A study
may, per key:
  - fix it:     `lr: 0.001`                 (must lie inside the declared range / choices)
  - narrow it:  `lr: {low: 1e-4, high: 1e-3}` (a sub-range; `log` is kept from the method)
  - pick from:  `temperature: [0.05, 0.1]`    (a choice among values inside the declared space)
Everything stays free-of-Optuna until `suggest`, which the define-by-run function of
`OptunaSearch` calls.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from robustlab.search_space import Choice, Distribution, FloatRange, IntRange


@dataclass(frozen=True)
class SearchSpace:
    """What the tuner varies (`free`) and what the study pinned (`fixed`)."""

    free: dict[str, Distribution] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Define-by-run body: suggest every free key on an Optuna trial; return the fixed."""
        for name, dist in self.free.items():
            if isinstance(dist, FloatRange):
                trial.suggest_float(name, dist.low, dist.high, log=dist.log)
            elif isinstance(dist, IntRange):
                trial.suggest_int(name, dist.low, dist.high)
            else:
                trial.suggest_categorical(name, list(dist.values))
        return dict(self.fixed)

    def describe(self) -> dict[str, str]:
        """Human-readable summary for the plan and the manifest."""
        out = {k: _show(d) for k, d in self.free.items()}
        out.update({k: f"fixed {v!r}" for k, v in self.fixed.items()})
        return out


def narrow(
    declared: Mapping[str, Distribution], overrides: Mapping[str, Any], where: str
) -> SearchSpace:
    """Apply a study's `search` overrides to a declared space. Raises ValueError naming
    `where.<key>` for an unknown key or a value outside the declared space."""
    free = dict(declared)
    fixed: dict[str, Any] = {}
    for key, value in overrides.items():
        path = f"{where}.{key}"
        if key not in declared:
            valid = sorted(declared)
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{path}: not in this method's search space{hint} "
                             f"(valid: {', '.join(valid)})")
        dist = free.pop(key)
        if isinstance(value, Mapping):
            free[key] = _subrange(dist, value, path)
        elif isinstance(value, list):
            for v in value:
                _check_member(dist, v, path)
            free[key] = Choice(tuple(value))
        else:
            _check_member(dist, value, path)
            fixed[key] = value
    return SearchSpace(free=free, fixed=fixed)


def _subrange(dist: Distribution, value: Mapping[str, Any], path: str) -> Distribution:
    if isinstance(dist, Choice):
        raise ValueError(f"{path}: a choice cannot be narrowed to a range; give a list of "
                         f"values from {list(dist.values)}")
    unknown = set(value) - {"low", "high"}
    if unknown:
        raise ValueError(f"{path}: a range takes only 'low' and 'high', got {sorted(unknown)}")
    low, high = value.get("low", dist.low), value.get("high", dist.high)
    _check_member(dist, low, f"{path}.low")
    _check_member(dist, high, f"{path}.high")
    try:
        if isinstance(dist, FloatRange):
            return FloatRange(float(low), float(high), log=dist.log)
        return IntRange(int(low), int(high))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _check_member(dist: Distribution, value: Any, path: str) -> None:
    if isinstance(dist, Choice):
        if value not in dist.values:
            raise ValueError(f"{path}: {value!r} is not one of {list(dist.values)}")
        return
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(dist, IntRange) and not isinstance(value, int):
        numeric = False
    if not numeric or not dist.low <= value <= dist.high:
        raise ValueError(f"{path}: must be a number in the declared range "
                         f"{_show(dist)}, got {value!r}")


def _show(dist: Distribution) -> str:
    if isinstance(dist, Choice):
        return f"one of {list(dist.values)}"
    scale = " (log)" if isinstance(dist, FloatRange) and dist.log else ""
    return f"[{dist.low:g}, {dist.high:g}]{scale}"
