"""The operator interface, its validation, and the per-example provenance record.

An operator is a frozen dataclass built by keyword from YAML values. Applying it is pure:

    op.apply(arrays, masks, example_ids, seed) -> Perturbed(arrays, masks, provenance)

Randomness comes in two phases (see hashing.py for the generator):
1. *selection* — which examples are touched: exactly round(fraction · N) of them, the ones
   whose key from (seed, op name, modality, example_id) ranks lowest. Needs the whole call's
   ids; invariant to their order; nested across fractions (0.25 picks a subset of 0.5).
2. *values* — what happens to a selected example: drawn from its own key from (seed, op
   identity without the fraction, example_id). Chunk-invariant *given the selection*: pass
   `selected=op.select(all_ids, seed)` to each chunk to reproduce the whole-split result.
Cross-example operators (swap_modality, signal_swap) also need the pool of selected rows in
the same call, so for them only order invariance holds (see `Operator.chunk_invariant`).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from perturbations.hashing import BLOCK_ROWS, example_keys, rank_select, stream_key
from perturbations.registry import Registry, check_frozen_subclass

PROVENANCE_COLUMNS = ("perturbed", "perturbed_modality", "op", "severity", "fraction")
NONE = "none"


@dataclass(frozen=True)
class Perturbed:
    """The result of applying an operator to N examples.

    arrays:     modality -> (N, d_m) new array for touched modalities; untouched modalities are
                the caller's arrays, shared (never mutated, never copied)
    masks:      modality -> (N,) bool, same sharing rule
    provenance: column -> (N,) array: perturbed (bool), perturbed_modality (str, "none" if
                untouched), op (str, "none"), severity (float, 0.0), fraction (float, 0.0);
                a Compose adds step<k>_perturbed/_modality/_op/_severity/_fraction, k = 1..
    """

    arrays: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    provenance: dict[str, np.ndarray]


class Operator(ABC):
    """Base of every operator. Subclasses are frozen, keyword-only dataclasses."""

    name: ClassVar[str]
    # Whether the result for an example is independent of the other examples in the call
    # once the selection is fixed (False for operators that trade rows between examples).
    chunk_invariant: ClassVar[bool] = True

    @property
    @abstractmethod
    def modalities(self) -> tuple[str, ...]:
        """The modalities this operator may touch."""

    @property
    @abstractmethod
    def level(self) -> float:
        """Position on a robustness curve: the severity, or the fraction for fraction-only ops."""

    @abstractmethod
    def describe(self) -> str:
        """A stable condition id, e.g. "missing(b, fraction=0.5)"."""

    @abstractmethod
    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        """(N,) bool: the examples this operator touches (round(fraction · N) of them)."""

    @abstractmethod
    def apply(
        self,
        arrays: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        example_ids: np.ndarray,
        seed: int,
        *,
        selected: np.ndarray | None = None,
    ) -> Perturbed:
        """Perturb; `selected` overrides the selection (pass one computed on the whole split)."""


def check_fraction(owner: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"{owner}.fraction: must be a number in (0, 1], got {value!r}")


def check_severity(owner: str, value: object, table: Mapping[int, float]) -> None:
    valid = f"{min(table)}..{max(table)}"
    if isinstance(value, bool) or not isinstance(value, int) or value not in table:
        raise ValueError(f"{owner}.severity: must be an integer in {valid}, got {value!r}")


def check_modality(owner: str, field: str, value: object) -> None:
    if not isinstance(value, str) or not value or value == NONE or "+" in value:
        raise ValueError(
            f"{owner}.{field}: must be a modality name (a non-empty string other than "
            f"'none', without '+'), got {value!r}"
        )


def affected_count(fraction: float, n: int) -> int:
    """How many of n examples an operator touches: Python's round(fraction · n)."""
    return min(n, round(fraction * n))


def select_examples(example_ids: np.ndarray, seed: int, fraction: float, *parts: str) -> np.ndarray:
    """(N,) bool: the round(fraction · N) ids whose key from (seed, *parts, id) ranks lowest."""
    ids = np.asarray(example_ids)
    keys = example_keys(ids, stream_key(seed, "select", *parts))
    count = affected_count(fraction, ids.shape[0])
    # distinct ids give distinct keys: no ties, so neither the chosen set nor a hash order
    # can depend on the order of the rows
    ordered = np.sort(ids)  # a sort, not np.unique: several times faster on 1M ids
    if ordered.shape[0] > 1 and not (ordered[1:] != ordered[:-1]).all():
        raise ValueError(f"{parts[0]}: example_ids must be unique within one call")
    return rank_select(keys, count)


def check_inputs(
    owner: str,
    arrays: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    example_ids: np.ndarray,
    modalities: tuple[str, ...],
) -> int:
    """Validate the touched modalities' shapes; returns N."""
    ids = np.asarray(example_ids)
    n = ids.shape[0] if ids.ndim == 1 else -1
    if n < 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{owner}: example_ids must be a 1-D integer array, got {ids.shape}")
    for m in modalities:
        if m not in arrays or m not in masks:
            raise ValueError(
                f"{owner}: modality {m!r} not in the data (arrays have {sorted(arrays)}, "
                f"masks have {sorted(masks)})"
            )
        x, mask = arrays[m], masks[m]
        if x.ndim != 2 or x.shape[0] != n or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{owner}: arrays[{m!r}] must be float (N={n}, d), got "
                             f"{x.dtype}{x.shape}")
        if mask.shape != (n,) or mask.dtype != np.bool_:
            raise ValueError(f"{owner}: masks[{m!r}] must be bool ({n},), got "
                             f"{mask.dtype}{mask.shape}")
    return n


def check_selected(owner: str, selected: np.ndarray | None, n: int) -> None:
    if selected is not None and (selected.shape != (n,) or selected.dtype != np.bool_):
        raise ValueError(f"{owner}: selected must be a bool array of shape ({n},), got "
                         f"{selected.dtype}{selected.shape}")


def row_blocks(rows: np.ndarray, n: int) -> Iterator[slice | np.ndarray]:
    """Blocks of the selected rows: slices when every row is selected (no gather/scatter)."""
    full = rows.shape[0] == n
    for start in range(0, rows.shape[0], BLOCK_ROWS):
        yield slice(start, min(start + BLOCK_ROWS, n)) if full else rows[start : start + BLOCK_ROWS]


@dataclass(frozen=True, kw_only=True)
class ModalityOperator(Operator):
    """An operator that touches one named modality of a `fraction` of the examples.

    Subclasses set `name`, optionally `severities` (the table) and implement `perturb_rows`.
    """

    modality: str
    fraction: float = 1.0

    severities: ClassVar[Mapping[int, float]] = {}

    def __post_init__(self) -> None:
        check_modality(self.name, "modality", self.modality)
        check_fraction(self.name, self.fraction)

    @property
    def modalities(self) -> tuple[str, ...]:
        return (self.modality,)

    @property
    def level(self) -> float:
        return float(self.fraction)

    @property
    def severity_value(self) -> float:
        """The severity recorded in provenance (0.0 for operators without a severity)."""
        return 0.0

    def describe(self, *, with_fraction: bool = True) -> str:
        parts = [self.modality]
        names = [f.name for f in dataclasses.fields(self) if f.name not in ("modality", "fraction")]
        names = sorted(names, key=lambda f: f != "severity")  # severity first, then the rest
        parts += [f"{k}={getattr(self, k)!r}" for k in names if getattr(self, k) is not None]
        if with_fraction:
            parts.append(f"fraction={float(self.fraction)!r}")
        return f"{self.name}({', '.join(parts)})"

    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        return select_examples(example_ids, seed, self.fraction, self.name, self.modality)

    def value_keys(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        """(N,) uint64 keys for the values; independent of the fraction and of the selection."""
        stream = stream_key(seed, "values", self.describe(with_fraction=False))
        return example_keys(example_ids, stream)

    def apply(
        self,
        arrays: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        example_ids: np.ndarray,
        seed: int,
        *,
        selected: np.ndarray | None = None,
    ) -> Perturbed:
        n = check_inputs(self.name, arrays, masks, example_ids, self.modalities)
        check_selected(self.name, selected, n)
        chosen = self.select(example_ids, seed) if selected is None else selected
        x, mask = arrays[self.modality].copy(), masks[self.modality].copy()
        rows = np.flatnonzero(chosen)
        if rows.shape[0]:
            self.perturb_rows(x, mask, rows, self.value_keys(example_ids, seed))
        out_x, out_m = dict(arrays), dict(masks)
        out_x[self.modality], out_m[self.modality] = x, mask
        return Perturbed(out_x, out_m, self.provenance(chosen))

    @abstractmethod
    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        """Change rows `rows` of x (N, d) and mask (N,) in place (both are private copies)."""

    def provenance(self, chosen: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "perturbed": chosen.copy(),
            "perturbed_modality": np.where(chosen, self.modality, NONE),
            "op": np.where(chosen, self.name, NONE),
            "severity": np.where(chosen, self.severity_value, 0.0),
            "fraction": np.where(chosen, float(self.fraction), 0.0),
        }


@dataclass(frozen=True, kw_only=True)
class SeverityOperator(ModalityOperator):
    """A ModalityOperator with an integer severity looked up in its class-level table."""

    severity: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_severity(self.name, self.severity, self.severities)

    @property
    def level(self) -> float:
        return float(self.severity)

    @property
    def severity_value(self) -> float:
        return float(self.severity)

    @property
    def amount(self) -> float:
        """The table entry for this severity."""
        return self.severities[self.severity]


def check_operator_class(cls: object) -> None:
    """What makes a class usable as an operator (built-in or plugin); a TypeError says which
    rule it breaks: an `Operator` subclass, a frozen dataclass, no abstract method left."""
    check_frozen_subclass(cls, Operator, "perturbations.Operator", "fields")


def _plugin_operator(name: str, cls: Any) -> type[Operator]:
    """The registry's check of a plugin; its `name` (used in provenance and condition ids)
    is its entry point's."""
    check_operator_class(cls)
    own = cls.__dict__.get("name", name)
    if own != name:
        raise ValueError(f"{cls.__name__}.name is {own!r} but its entry point is {name!r}")
    cls.name = name
    return cls


#: YAML `op:` -> operator class: built-ins and plugins (entry-point group
#: `robustlab.perturbations`, owned by this package; imported on first lookup).
OPERATORS: Registry[type[Operator]] = Registry("perturbation operator",
                                               "robustlab.perturbations", _plugin_operator)
