"""What a budget-adequacy rule returns (`Finding`, `Remedy`), a variant's `Verdict`, and the
rules' `Thresholds` (robustlab.stats.adequacy has the rules; docs/adequacy.md the reasons)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

RULES = ("under_trained", "search_boundary", "tuning_not_converged", "unstable", "near_chance")
LABELS = {"under_trained": "under-trained", "search_boundary": "search boundary",
          "tuning_not_converged": "tuning not converged", "unstable": "unstable",
          "near_chance": "near chance"}
Status = Literal["flagged", "ok", "not_assessed"]


@dataclass(frozen=True)
class Thresholds:
    """Every constant of the rules (docs/adequacy.md says why each has its value)."""

    tail_fraction: float = 0.2  # under-trained: best epoch in the last 20 % of the epochs
    min_tail: int = 3  # ... and the slope over the last max(3, 20 %) epochs
    min_epochs: int = 4  # shorter curves are not assessed
    noise_z: float = 2.0  # the tail's rise must exceed 2 noise SDs of the curve
    min_rise: float = 0.005  # ... and half an accuracy point
    edge_margin: float = 0.05  # search boundary: within 5 % of the range (its sampling scale)
    score_ceiling: float = 1.0 - 1e-9  # ... unless the best validation score is the maximum
    converged_tol: float = 0.01  # tuning: a rise of > 1 point in the last third is "improving"
    max_seed_sd: float = 0.05  # unstable: seed SD above 5 points whatever the other methods do
    val_gap_abs: float = 0.05  # unstable: a final's val score this far below the tuning's best
    val_gap_rel: float = 0.10  # ... or this share of the tuning's best, whichever is larger
    level: float = 0.95  # near chance: Clopper–Pearson interval level


DEFAULT = Thresholds()


@dataclass(frozen=True)
class Remedy:
    """What to change: a study-file field (`budget.epochs`, `search.lr`, …), a suggested
    value (None when the study file cannot fix it), and a sentence."""

    field: str
    value: Any
    text: str


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule for one variant."""

    rule: str
    status: Status
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remedies: tuple[Remedy, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.status == "flagged"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "status": self.status, "message": self.message,
                "evidence": _json_safe(dict(self.evidence)),
                "remedies": [{"field": r.field, "value": _json_safe(r.value), "text": r.text}
                             for r in self.remedies]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Finding:
        if raw.get("rule") not in RULES or raw.get("status") not in ("flagged", "ok",
                                                                       "not_assessed"):
            raise ValueError(f"not an adequacy finding: {dict(raw)!r}")
        remedies = tuple(Remedy(str(r["field"]), r.get("value"), str(r["text"]))
                         for r in raw.get("remedies", []))
        return cls(raw["rule"], raw["status"], str(raw.get("message", "")),
                   dict(raw.get("evidence", {})), remedies)


@dataclass(frozen=True)
class Verdict:
    """Every rule's finding for one variant, in `RULES` order."""

    variant: str
    findings: tuple[Finding, ...]

    @property
    def flagged(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.flagged)

    @property
    def adequate(self) -> bool:
        return not self.flagged

    def to_json(self) -> dict[str, Any]:
        return {"adequate": self.adequate, "flagged": [f.rule for f in self.flagged],
                "findings": [f.to_json() for f in self.findings]}

    @classmethod
    def from_json(cls, variant: str, raw: Mapping[str, Any]) -> Verdict:
        return cls(variant, tuple(Finding.from_json(f) for f in raw.get("findings", [])))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
