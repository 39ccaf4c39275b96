"""Plugins seen from the study command: `--list` (every registered name of every kind, with
where it comes from) and the record of the plugins a study uses (for manifest.json).

A plugin is an installed distribution declaring entry points in one of the groups
`robustlab.methods`, `robustlab.datasets`, `robustlab.encoders`, `robustlab.perturbations`;
see `robustlab.registry` for discovery, lazy loading and the errors.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from robustlab.registry import Origin, Registry


def registries() -> dict[str, Registry[Any]]:
    """Kind -> registry, in the order `--list` prints them."""
    from perturbations import OPERATORS
    from robustlab.data import DATASETS
    from robustlab.methods import ENCODERS, METHODS

    return {"methods": METHODS, "datasets": DATASETS, "encoders": ENCODERS,
            "perturbations": OPERATORS}


def _where(origin: Origin) -> str:
    if origin.builtin:
        return f"built-in ({origin.value})"
    return f"plugin {origin.distribution} {origin.version} ({origin.value})"


def listing() -> tuple[str, int]:
    """The `--list` text and how many names cannot be used (a plugin that fails to import or
    to pass its check, or a name claimed twice). Imports every plugin."""
    lines: list[str] = []
    problems = 0
    for kind, registry in registries().items():
        lines.append(f"{kind} (plugins: entry-point group {registry.group}):")
        for name in registry.names():
            origins = " and ".join(_where(o) for o in registry.origins(name))
            lines.append(f"  {name:<22} {origins}")
            error = registry.problem(name)
            if error is not None:
                problems += 1
                lines.append(f"  {'':<22} ERROR: {error}")
    return "\n".join(lines), problems


def _operator_names(op: Any) -> set[str]:
    """The registry names of an operator and of every operator nested in its fields
    (a composition's steps, one_of's choices)."""
    from perturbations import Operator

    names = {op.name}
    for field in dataclasses.fields(op):
        value = getattr(op, field.name)
        for inner in value if isinstance(value, tuple) else (value,):
            if isinstance(inner, Operator):
                names |= _operator_names(inner)
    return names


def plugins_used(plan: Any) -> list[dict[str, str]]:
    """One record per plugin the plan uses (kind, name, distribution, version, entry point),
    sorted; built-ins are not listed."""
    used = {("methods", v.method) for v in plan.variants}
    used |= {("datasets", plan.spec.data["kind"]), ("encoders", plan.spec.encoder["kind"])}
    ops = [c.operator for c in plan.conditions] + [plan.train_perturbation]
    ops += [v.train_perturbation for v in plan.variants]
    used |= {("perturbations", n) for op in ops if op is not None for n in _operator_names(op)}
    records = []
    for kind, name in sorted(used):
        origin = registries()[kind].origin(name)
        if not origin.builtin:
            records.append({"kind": kind, "name": name, "distribution": str(origin.distribution),
                            "version": str(origin.version),
                            "entry_point": f"{name} = {origin.value}"})
    return records
