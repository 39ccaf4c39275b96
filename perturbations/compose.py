"""compose: an ordered sequence of operators, itself an operator; and building from YAML."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from perturbations.base import NONE, OPERATORS, PROVENANCE_COLUMNS, Operator, Perturbed


@OPERATORS.register("compose")
@dataclass(frozen=True)  # positional too: Compose((op1, op2)) or Compose(steps=(...))
class Compose(Operator):
    """Apply `steps` in order; each step sees the previous step's output.

    Every step gets the same seed, so a step selects and draws exactly what it would alone
    (conditions sharing a step are paired; two identical steps touch the same examples and
    draw the same values). Provenance: for each step k = 1.. the columns
    step<k>_perturbed, step<k>_modality, step<k>_op, step<k>_severity, step<k>_fraction
    (the step's own record); the main columns combine the steps that touched the example:
      perturbed           any step touched it
      op                  the touching steps' op names, "+"-joined in step order ("none")
      perturbed_modality  the touched modalities, deduplicated, "+"-joined in first-touch order
      severity, fraction  the maximum over the touching steps (0.0 if none)
    `select` returns a (K, N) bool array, one row per step (pass it back as `selected`).
    `level` is the first step's level (put the step a curve varies first).
    """

    name: ClassVar[str] = "compose"
    nested_fields: ClassVar[tuple[str, ...]] = ("steps",)

    steps: tuple[Operator, ...]

    def __post_init__(self) -> None:
        steps = self.steps
        if not isinstance(steps, tuple | list) or not steps:
            raise ValueError(f"compose.steps: must be a non-empty sequence of operators, "
                             f"got {steps!r}")
        for k, step in enumerate(steps, start=1):
            if not isinstance(step, Operator):
                raise ValueError(f"compose.steps[{k}]: must be an operator, got {step!r}")
        # nested compositions are flattened: provenance lists every leaf step, and a (K, N)
        # selection has one row per leaf
        flat = tuple(leaf for s in steps for leaf in (s.steps if isinstance(s, Compose) else (s,)))
        object.__setattr__(self, "steps", flat)
        object.__setattr__(self, "chunk_invariant", all(s.chunk_invariant for s in flat))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for s in self.steps for m in s.modalities))

    @property
    def level(self) -> float:
        return self.steps[0].level

    @property
    def op_names(self) -> str:
        """The step names joined with "+", e.g. "gaussian_noise+missing"."""
        return "+".join(s.name for s in self.steps)

    def describe(self) -> str:
        return " + ".join(s.describe() for s in self.steps)

    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        return np.stack([s.select(example_ids, seed) for s in self.steps])  # (K, N)

    def apply(
        self,
        arrays: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        example_ids: np.ndarray,
        seed: int,
        *,
        selected: np.ndarray | None = None,
    ) -> Perturbed:
        if selected is not None and (selected.ndim != 2 or selected.shape[0] != len(self.steps)):
            raise ValueError(f"compose: selected must be the ({len(self.steps)}, N) array "
                             f"Compose.select returns, got shape {selected.shape}")
        records = []
        out = Perturbed(dict(arrays), dict(masks), {})
        for k, step in enumerate(self.steps):
            sel = None if selected is None else selected[k]
            out = step.apply(out.arrays, out.masks, example_ids, seed, selected=sel)
            records.append(out.provenance)
        return Perturbed(out.arrays, out.masks, combine(records))


def factorize(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(codes, labels) of a column with few distinct values: one vectorised pass per label."""
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    labels: list[str] = []
    while (todo := np.flatnonzero(codes < 0)).shape[0]:
        labels.append(str(values[todo[0]]))
        codes[values == labels[-1]] = len(labels) - 1
    return codes, labels


def _join(columns: list[np.ndarray], touched: np.ndarray, dedupe: bool) -> np.ndarray:
    """"+"-join per-example strings of the touching steps without a per-example loop: factorise
    each step's column, combine the codes in mixed radix, build one label per combination."""
    combined = np.zeros(touched.shape[1], dtype=np.int64)
    tables = []
    for k, column in enumerate(columns):
        codes, labels = factorize(column)
        tables.append(["", *labels])  # code 0 = this step did not touch the example
        combined = combined * (len(labels) + 1) + np.where(touched[k], codes + 1, 0)
    uniques, inverse = np.unique(combined, return_inverse=True)  # few distinct combinations
    out = []
    for value in uniques.tolist():
        parts: list[str] = []
        for table in reversed(tables):  # undo the mixed radix, last step first
            value, digit = divmod(value, len(table))
            parts = table[digit].split("+") + parts if digit else parts
        parts = list(dict.fromkeys(parts)) if dedupe else parts
        out.append("+".join(parts) or NONE)
    return np.asarray(out, dtype=np.str_)[inverse]


def combine(records: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The composition's provenance from its steps' (see Compose's docstring)."""
    touched = np.stack([r["perturbed"] for r in records])  # (K, N)
    out: dict[str, np.ndarray] = {
        "perturbed": np.asarray(touched.any(axis=0)),
        "perturbed_modality": _join([r["perturbed_modality"] for r in records], touched, True),
        "op": _join([r["op"] for r in records], touched, dedupe=False),
    }
    for column in ("severity", "fraction"):
        values = np.stack([r[column] for r in records])  # (K, N)
        out[column] = np.where(touched, values, 0.0).max(axis=0)
    for k, record in enumerate(records, start=1):
        for column in PROVENANCE_COLUMNS:
            short = "modality" if column == "perturbed_modality" else column
            out[f"step{k}_{short}"] = record[column]
    return out


def build(spec: Mapping[str, Any], where: str = "op") -> Operator:
    """An operator from a YAML mapping: {"op": name, **fields}; compose takes "steps".

    Unknown names and fields raise ValueError naming `where` (the YAML path) and what is valid.
    """
    if not isinstance(spec, Mapping) or "op" not in spec:
        raise ValueError(f"{where}: must be a mapping with an 'op' key, got {spec!r}")
    name = spec["op"]
    if name not in OPERATORS:
        raise ValueError(f"{where}.op: {OPERATORS.unknown_message(name)}")
    cls = OPERATORS.get(name)
    fields = {k: v for k, v in spec.items() if k != "op"}
    valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for operator {name!r} "
                         f"(valid: {valid})")
    for field in getattr(cls, "nested_fields", ()):  # fields that hold operators
        nested = fields.get(field)
        if not isinstance(nested, list | tuple):
            raise ValueError(f"{where}.{field}: must be a list of operator mappings, "
                             f"got {nested!r}")
        fields[field] = tuple(build(s, f"{where}.{field}[{i}]") if isinstance(s, Mapping) else s
                              for i, s in enumerate(nested))
    try:
        return cls(**fields)
    except TypeError as err:  # a required field is missing
        raise ValueError(f"{where}: {err} (fields of {name!r}: {valid})") from None
