"""The options of slice discovery (`report.discovery` of a study file; docs/discovery.md).

A frozen dataclass that checks itself, so the report can rebuild it from a manifest with the
same rules the study file is validated by (`robustlab/study/discovery_spec.py` mirrors these
fields for pydantic, and a test keeps the two equal).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

Guarantee = Literal["holdout", "permutation"]
TargetKind = Literal["failure", "reversal"]
GUARANTEES: tuple[Guarantee, ...] = ("holdout", "permutation")
TARGETS: tuple[TargetKind, ...] = ("failure", "reversal")
MAX_CLUSTERS = 64


@dataclass(frozen=True)
class DiscoveryOptions:
    """enabled: run the search (the report's "Discovered slices");
    depth: largest number of conditions in a slice (1–3);
    top_k: candidates per target kind carried to confirmation (holdout) or shown (permutation);
    min_support: smallest slice, as a share of the test examples (of the discovery half);
    min_examples: … and at least this many examples of the half;
    guarantee: "holdout" (discover on one half, confirm the top_k on the other) or
        "permutation" (Westfall–Young max-T over every slice searched, all examples);
    correction: "holm" (family-wise error) or "bh" (false discovery rate) over the confirmed
        candidates (holdout only; max-T controls the family-wise error);
    permutations: replicates of the max-T null;
    clusters: k-means clusters per modality of the embeddings ("auto", or 0 for none);
    pca: principal components the clusters are fitted in;
    embeddings: the variant whose test embeddings define the clusters (None: the first
        variant with saved embeddings, in study order);
    bins: quantile bins of a numeric column;
    margin: a refinement must fail by this much more than each slice it refines (accuracy);
    columns: metadata columns searched (None: every metadata column, `label`, `observed`);
    targets: which questions to ask: "failure" (a variant on a slice vs the rest),
        "reversal" (a significant comparison that reverses on a slice)."""

    enabled: bool = True
    depth: int = 2
    top_k: int = 10
    min_support: float = 0.02
    min_examples: int = 10
    guarantee: Guarantee = "holdout"
    correction: Literal["holm", "bh"] = "holm"
    permutations: int = 999
    clusters: int | Literal["auto"] = "auto"
    pca: int = 8
    embeddings: str | None = None
    bins: int = 4
    margin: float = 0.02
    columns: tuple[str, ...] | None = None
    targets: tuple[TargetKind, ...] = TARGETS

    def __post_init__(self) -> None:
        checks = [
            ("depth", isinstance(self.depth, int) and 1 <= self.depth <= 3, "an int in 1..3"),
            ("top_k", _int(self.top_k) and 1 <= self.top_k <= 200, "an int in 1..200"),
            ("min_support", _num(self.min_support) and 0 < self.min_support <= 0.5,
             "a number in (0, 0.5]"),
            ("min_examples", _int(self.min_examples) and self.min_examples >= 2, "an int >= 2"),
            ("guarantee", self.guarantee in GUARANTEES, f"one of {list(GUARANTEES)}"),
            ("correction", self.correction in ("holm", "bh"), "one of ['holm', 'bh']"),
            ("permutations", _int(self.permutations) and 99 <= self.permutations <= 100_000,
             "an int in 99..100000"),
            ("clusters", self.clusters == "auto" or (_int(self.clusters)
                                                     and 0 <= self.clusters <= MAX_CLUSTERS),
             f"'auto' or an int in 0..{MAX_CLUSTERS}"),
            ("pca", _int(self.pca) and 1 <= self.pca <= 256, "an int in 1..256"),
            ("bins", _int(self.bins) and 2 <= self.bins <= 20, "an int in 2..20"),
            ("margin", _num(self.margin) and 0 <= self.margin < 1, "a number in [0, 1)"),
            ("targets", bool(self.targets) and set(self.targets) <= set(TARGETS)
             and len(set(self.targets)) == len(self.targets),
             f"a non-empty list of distinct names from {list(TARGETS)}"),
        ]
        for name, ok, valid in checks:
            if not ok:
                raise ValueError(f"{name}: must be {valid}, got {getattr(self, name)!r}")
        if not isinstance(self.enabled, bool):
            raise ValueError(f"enabled: must be true or false, got {self.enabled!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> DiscoveryOptions:
        """Options from a mapping (a manifest's `study.report.discovery`); ValueError names
        the key: unknown keys get the closest valid one."""
        valid = [f.name for f in fields(cls)]
        for key in raw:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{key}: unknown key{hint} (valid: {', '.join(valid)})")
        values = dict(raw)
        for key in ("columns", "targets"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        if values.get("columns") is not None and not all(
                isinstance(c, str) for c in values["columns"]):
            raise ValueError(f"columns: must be a list of column names, got {values['columns']!r}")
        return cls(**values)


def _int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _num(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)
