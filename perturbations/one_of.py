"""one_of: each touched example gets exactly one of several operators, chosen per example."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import (
    OPERATORS,
    PROVENANCE_COLUMNS,
    Operator,
    Perturbed,
    check_fraction,
    check_inputs,
    check_selected,
    select_examples,
)
from perturbations.compose import Compose, build
from perturbations.hashing import example_keys, integers, stream_key


@OPERATORS.register("one_of")
@dataclass(frozen=True, kw_only=True)
class OneOf(Operator):
    """round(fraction · N) examples are touched; each gets one of `choices`, uniformly per
    example. The XNOR benchmark's corruption is
    `one_of(choices=[signal_swap(b, dims), signal_swap(c, dims)], fraction=p)`: a share p of
    the examples has exactly one of b or c misaligned, 50/50.

    Each choice keeps fraction 1.0 (one_of's own fraction does the selecting) and is applied
    to the examples assigned to it, so swaps pair examples within one choice. Provenance is
    the chosen operator's (`op`, `perturbed_modality`, `severity`), with one_of's fraction.
    Level = fraction. Chunk-invariant given the selection when every choice is.
    """

    name: ClassVar[str] = "one_of"
    nested_fields: ClassVar[tuple[str, ...]] = ("choices",)

    choices: tuple[Operator, ...]
    fraction: float = 1.0

    def __post_init__(self) -> None:
        choices = self.choices
        if not isinstance(choices, tuple | list) or len(choices) < 2:
            raise ValueError(f"one_of.choices: must be >= 2 operators, got {choices!r}")
        # YAML gives mappings ({op: signal_swap, ...}); build them in place
        choices = tuple(build(c, f"one_of.choices[{k}]") if isinstance(c, Mapping) else c
                        for k, c in enumerate(choices))
        for k, op in enumerate(choices):
            if not isinstance(op, Operator) or isinstance(op, Compose):
                raise ValueError(f"one_of.choices[{k}]: must be a single operator (not a "
                                 f"composition), got {op!r}")
            if getattr(op, "fraction", 1.0) != 1.0:
                raise ValueError(f"one_of.choices[{k}].fraction: must be 1.0 (one_of's own "
                                 f"fraction selects the examples), got {op.fraction!r}")  # type: ignore[attr-defined]
        check_fraction(self.name, self.fraction)
        object.__setattr__(self, "choices", tuple(choices))  # YAML gives a list
        object.__setattr__(self, "chunk_invariant", all(c.chunk_invariant for c in choices))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for c in self.choices for m in c.modalities))

    @property
    def level(self) -> float:
        return float(self.fraction)

    def describe(self, *, with_fraction: bool = True) -> str:
        inner = " | ".join(c.describe() for c in self.choices)
        return f"{self.name}({inner}, fraction={float(self.fraction)!r})" if with_fraction \
            else f"{self.name}({inner})"

    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        identity = self.describe(with_fraction=False)
        return select_examples(example_ids, seed, self.fraction, self.name, identity)

    def assignment(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        """(N,) int: which choice each example gets if touched (independent of the fraction)."""
        stream = stream_key(seed, "values", self.describe(with_fraction=False))
        return integers(example_keys(example_ids, stream), 1, len(self.choices))[:, 0]

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
        assign = np.where(chosen, self.assignment(example_ids, seed), -1)  # (N,), -1 = untouched
        out = Perturbed(dict(arrays), dict(masks), {})
        records = []
        for k, op in enumerate(self.choices):
            out = op.apply(out.arrays, out.masks, example_ids, seed, selected=assign == k)
            records.append(out.provenance)
        provenance = {c: records[0][c].copy() for c in PROVENANCE_COLUMNS}
        for k, record in enumerate(records[1:], start=1):
            for c in PROVENANCE_COLUMNS:
                provenance[c] = np.where(assign == k, record[c], provenance[c])
        provenance["fraction"] = np.where(chosen, float(self.fraction), 0.0)
        return Perturbed(out.arrays, out.masks, provenance)
