"""A small generic registry: one instance per component kind, keyed by the YAML name.

It lives in `perturbations` (the bottom of the dependency graph) so that both packages share
one implementation; `robustlab.registry` re-exports it.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(ValueError):
    """An unknown or duplicate registry name. The message lists the closest valid names."""


class Registry(Generic[T]):
    """Maps names to components (classes or factories) of one kind.

    >>> methods: Registry[type] = Registry("method")
    >>> @methods.register("clip")
    ... class Clip: ...
    >>> methods.get("clip") is Clip
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering an object under `name`; a duplicate name raises."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The entry called `name`; an unknown name raises with a "did you mean"."""
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        valid = ", ".join(sorted(self._entries)) or "(none registered)"
        close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (valid: {valid})"

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style pattern."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
