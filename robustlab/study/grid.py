"""The perturbation grid: `eval_grid` entries -> conditions (DESIGN §6, §7).

An entry names one operator and the axes to cross:

    {op: missing, modality: [b, c], fraction: [0.25, 0.5, 1.0]}   -> 2 x 3 = 6 cells
    {op: gaussian_noise, modality: b, severity: [1, 3, 5]}         -> 3 cells
    {op: signal_swap, modality: [b, c], fraction: 0.5, dims: [0, 48]}  (other keys = the
                                                                    operator's own fields)
    {compose: [{op: missing, modality: b, fraction: 0.5},          -> the product of the
               {op: gaussian_noise, modality: c, severity: [1, 3]}]}  steps' cells, each one
                                                                    ordered composition

Only `modality`, `severity` and `fraction` are axes (a scalar or a list); every other key is
passed to the operator as is. Each cell becomes a `Condition` whose id is the operator's
`describe()`; "clean" is always the first condition.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from robustlab.study.options import build_options, lookup
from robustlab.study.spec import SpecError

AXES = ("modality", "severity", "fraction")


@dataclass(frozen=True)
class Condition:
    """One cell of the grid (or clean). `operator` is None for clean.

    id:       stable condition id ("clean", or the operator's `describe()`)
    op:       operator name ("+"-joined for a composition; "clean")
    modality: targeted modality ("+"-joined for a composition; "none" for clean)
    level:    x value on its robustness curve (severity, or fraction for fraction-only ops)
    """

    id: str
    op: str
    modality: str
    level: float
    operator: Any | None = None


CLEAN = Condition(id="clean", op="clean", modality="none", level=0.0)


def expand_grid(
    entries: Sequence[Mapping[str, Any]], modalities: Sequence[str], where: str = "eval_grid"
) -> list[Condition]:
    """`clean` followed by every cell of every entry, in file order; duplicates are errors."""
    conditions = [CLEAN]
    seen = {CLEAN.id: "clean"}
    for i, entry in enumerate(entries):
        for op in expand_entry(entry, modalities, f"{where}.{i}"):
            condition = to_condition(op)
            if condition.id in seen:
                raise SpecError(f"{where}.{i}: condition {condition.id!r} already comes from "
                                f"{seen[condition.id]}")
            seen[condition.id] = f"{where}.{i}"
            conditions.append(condition)
    return conditions


def expand_entry(
    entry: Mapping[str, Any], modalities: Sequence[str], where: str
) -> list[Any]:
    """The operators (one per cell) of one grid entry."""
    if not isinstance(entry, Mapping):
        raise SpecError(f"{where}: a grid entry is a mapping with 'op' or 'compose', got {entry!r}")
    if "compose" in entry:
        return _expand_compose(entry, modalities, where)
    return _expand_single(entry, modalities, where)


def _expand_single(entry: Mapping[str, Any], modalities: Sequence[str], where: str) -> list[Any]:
    from perturbations import OPERATORS

    if "op" not in entry:
        raise SpecError(f"{where}: missing key 'op' (an operator name: {', '.join(OPERATORS)})")
    cls = lookup(OPERATORS, entry["op"], f"{where}.op")
    fixed = {k: v for k, v in entry.items() if k != "op" and k not in AXES}
    axes = {k: _as_list(entry[k], f"{where}.{k}") for k in AXES if k in entry}
    for m in axes.get("modality", []):
        if m not in modalities:
            raise SpecError(f"{where}.modality: unknown modality {m!r} "
                            f"(the dataset's modalities: {', '.join(modalities)})")
    ops = []
    for values in itertools.product(*axes.values()):
        cell = dict(zip(axes, values, strict=True))
        op = build_options(cls, {**fixed, **cell}, where)
        _check_touches(op, modalities, where)
        ops.append(op)
    return ops


def _expand_compose(entry: Mapping[str, Any], modalities: Sequence[str], where: str) -> list[Any]:
    from perturbations import Compose

    extra = sorted(set(entry) - {"compose"})
    if extra:
        raise SpecError(f"{where}.{extra[0]}: a compose entry has only the key 'compose'")
    steps = entry["compose"]
    if not isinstance(steps, list) or len(steps) < 2:
        raise SpecError(f"{where}.compose: expected a list of >= 2 steps, got {steps!r}")
    per_step = [expand_entry(s, modalities, f"{where}.compose.{j}") for j, s in enumerate(steps)]
    try:
        return [Compose(tuple(ops)) for ops in itertools.product(*per_step)]
    except (ValueError, TypeError) as err:
        raise SpecError(f"{where}.compose: {err}") from None


def _as_list(value: Any, where: str) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(f"{where}: an empty list gives no conditions")
    if len(set(map(repr, values))) != len(values):
        raise SpecError(f"{where}: repeated values in {values}")
    return values


def _check_touches(op: Any, modalities: Sequence[str], where: str) -> None:
    touched = getattr(op, "modalities", ())
    for m in touched:
        if m not in modalities:
            raise SpecError(f"{where}: operator touches unknown modality {m!r} "
                            f"(the dataset's modalities: {', '.join(modalities)})")


def to_condition(op: Any) -> Condition:
    """The Condition of one operator (or composition)."""
    steps = getattr(op, "steps", None) or getattr(op, "ops", None)
    if steps:
        name = "+".join(s.name for s in steps)
        modality = "+".join(str(getattr(s, "modality", "any")) for s in steps)
    else:
        name, modality = op.name, str(getattr(op, "modality", None) or "any")
    return Condition(id=op.describe(), op=name, modality=modality, level=float(op.level),
                     operator=op)


def compose_train(ops: Sequence[Any]) -> Any | None:
    """The train-time perturbation: None, the single operator, or their composition."""
    if not ops:
        return None
    if len(ops) == 1:
        return ops[0]
    from perturbations import Compose

    return Compose(tuple(ops))
