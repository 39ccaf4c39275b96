"""Building frozen option dataclasses from YAML mappings, with errors that name the YAML path.

Every registry entry (dataset, encoder, method options, operator) is a frozen dataclass built
by keyword. Unknown keys get a "did you mean"; a `ValueError`/`TypeError` raised by the
dataclass's own validation is re-raised as a SpecError prefixed with the YAML path.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from robustlab.registry import Registry, RegistryError
from robustlab.study.spec import SpecError


def field_names(cls: type) -> list[str]:
    """Constructor keywords of an options dataclass (init fields only)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    return [f.name for f in dataclasses.fields(cls) if f.init]


def did_you_mean(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def build_options(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """`cls(**values)`; an unknown key or a rejected value raises SpecError naming `where`."""
    valid = field_names(cls)
    for key in values:
        if key not in valid:
            raise SpecError(
                f"{where}.{key}: unknown option of {cls.__name__}"
                f"{did_you_mean(str(key), valid)} (valid: {', '.join(valid) or 'none'})"
            )
    try:
        return cls(**{k: _frozen(v) for k, v in values.items()})
    except (ValueError, TypeError) as err:
        raise SpecError(f"{where}: {err}") from None


def lookup(registry: Registry[Any], name: object, where: str) -> Any:
    """The registry entry `name`; unknown names raise SpecError with the registry's hint."""
    if not isinstance(name, str):
        raise SpecError(f"{where}: expected a {registry.kind} name, got {name!r}")
    try:
        return registry.get(name)
    except RegistryError as err:
        raise SpecError(f"{where}: {err}") from None


def _frozen(value: Any) -> Any:
    """YAML lists become tuples so frozen dataclasses stay hashable (e.g. `dims: [0, 48]`)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
