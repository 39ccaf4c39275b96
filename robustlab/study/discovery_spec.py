"""`report.discovery` of a study file: slice discovery's options (docs/discovery.md).

The fields mirror `robustlab.stats.discovery_options.DiscoveryOptions` (what the report
rebuilds from the manifest); a test keeps the two equal. `check_discovery` checks what needs
the study's variants and the dataset's columns.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from robustlab.results import OBSERVED_COLUMN

TargetName = Literal["failure", "reversal"]
TARGETS: tuple[TargetName, ...] = ("failure", "reversal")


class DiscoverySpec(BaseModel):
    """Slice discovery: slices nobody declared where a variant fails or a significant
    comparison reverses, each finding with its guarantee (docs/discovery.md)."""

    # a docstring under a field is its description (JSON Schema, the study-file reference)
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    enabled: bool = True
    """Search in every report; `false` turns the section off."""
    depth: int = Field(default=2, ge=1, le=3)
    """Largest number of conditions in a slice (`a = x ∧ b = y`: 2)."""
    top_k: int = Field(default=10, ge=1, le=200)
    """Candidates per kind (failure, reversal) carried to confirmation (holdout) or shown."""
    min_support: float = Field(default=0.02, gt=0, le=0.5)
    """Smallest slice, as a share of the examples the search ranks on."""
    min_examples: int = Field(default=10, ge=2)
    """... and at least this many examples."""
    guarantee: Literal["holdout", "permutation"] = "holdout"
    """`holdout`: rank on half the test examples, confirm on the other half; `permutation`:
    Westfall–Young max-T over every slice searched (small test sets)."""
    correction: Literal["holm", "bh"] = "holm"
    """Over the confirmed candidates: `holm` (family-wise error) or `bh` (false discovery
    rate)."""
    permutations: int = Field(default=999, ge=99, le=100_000)
    """Replicates of the max-T null (guarantee `permutation`)."""
    clusters: int | Literal["auto"] = "auto"
    """k-means clusters per modality of the test embeddings; 0: none."""
    pca: int = Field(default=8, ge=1, le=256)
    """Principal components the clusters are fitted in."""
    embeddings: str | None = None
    """The variant whose test embeddings define the clusters (default: the first that saved
    them)."""
    bins: int = Field(default=4, ge=2, le=20)
    """Quantile bins of a numeric metadata column."""
    margin: float = Field(default=0.02, ge=0, lt=1)
    """A refinement must beat each slice it refines by this much (accuracy)."""
    columns: list[str] | None = None
    """Metadata columns searched (default: every metadata column, `label`, `observed`)."""
    targets: list[TargetName] = Field(default_factory=lambda: list(TARGETS), min_length=1)
    """`failure`: a variant on a slice vs the rest; `reversal`: a significant comparison that
    reverses on a slice."""

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 64:
            raise ValueError(f"must be 'auto' or an int in 0..64, got {value}")
        return value

    @field_validator("targets")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"must name each target once, got {value}")
        return value


def check_discovery(spec: DiscoverySpec, variants: Iterable[str], columns: Iterable[str]
                    ) -> None:
    """SpecError naming `report.discovery.<key>` for an `embeddings` that is no variant or
    a `columns` entry that is no metadata column of the dataset (`columns`: the slice
    columns predictions.parquet will have)."""
    from robustlab.study.spec import SpecError  # spec.py imports this module

    names = list(variants)
    if spec.embeddings is not None and spec.embeddings not in names:
        raise SpecError(_unknown("report.discovery.embeddings", spec.embeddings, names,
                                 "variant"))
    metadata = [c for c in columns if c == OBSERVED_COLUMN or c == "label"
                or not _provenance(c)]
    for i, column in enumerate(spec.columns or []):
        if column not in metadata:
            raise SpecError(_unknown(f"report.discovery.columns.{i}", column, metadata,
                                     "metadata column"))


def _provenance(column: str) -> bool:
    from robustlab.study.slices import PROVENANCE

    return column in PROVENANCE or column.startswith("step")


def _unknown(where: str, value: Any, valid: list[str], what: str) -> str:
    close = difflib.get_close_matches(str(value), valid, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{where}: unknown {what} {value!r}{hint} (valid: {', '.join(valid) or 'none'})"
