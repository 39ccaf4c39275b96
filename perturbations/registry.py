"""A small generic registry: one instance per component kind, keyed by the YAML name.

It lives in `perturbations` (the bottom of the dependency graph) so that both packages share
one implementation; `robustlab.registry` re-exports it. It imports nothing of robustlab.

Two sources fill a registry:
- built-ins, registered by decorator when their module is imported;
- plugins: entry points of installed distributions in the registry's `group` (e.g.
  `robustlab.methods`), as pytest and Optuna find theirs. Discovery reads only metadata (no
  import); a plugin is imported the first time its name is looked up, then checked by the
  registry's `check` hook. A plugin that fails to import or to pass the check raises a
  `PluginError` naming the entry point and its distribution, when (and only when) that name
  is needed. A name claimed twice (a built-in and a plugin, or two plugins) is a warning at
  discovery and an error naming both when looked up.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def check_frozen_subclass(cls: object, base: type, base_path: str, fields: str,
                          abstract_suffix: str = "") -> None:
    """What makes a class usable as a registered options class (built-in or plugin); a
    TypeError says which rule it breaks: a subclass of `base` (named `base_path`), a frozen
    dataclass (its fields are the YAML `fields`), no abstract method left."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{cls!r} is not a subclass of {base_path}")
    if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} must be a frozen dataclass (its fields are the "
                        f"YAML {fields})")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise TypeError(f"{cls.__name__} does not implement the abstract method(s) "
                        f"{', '.join(missing)}{abstract_suffix}")


class RegistryError(ValueError):
    """An unknown or duplicate registry name. The message lists the closest valid names."""


class PluginError(RegistryError):
    """A plugin that cannot be used: it failed to import, failed its kind's check, or its
    name collides with a built-in or another plugin. The message names the entry point and
    the distribution(s)."""


class PluginWarning(UserWarning):
    """A plugin problem that does not stop the current work (it does not need that plugin)."""


@dataclass(frozen=True)
class Origin:
    """Where a registered name comes from: a built-in (`distribution` None) or a plugin's
    entry point (`value` = "module:attribute") in an installed distribution."""

    name: str
    value: str
    distribution: str | None = None
    version: str | None = None

    @property
    def builtin(self) -> bool:
        return self.distribution is None

    def __str__(self) -> str:
        if self.builtin:
            return f"the built-in {self.value}"
        return (f"entry point '{self.name} = {self.value}' of distribution "
                f"{self.distribution} {self.version}")


def _origin(ep: metadata.EntryPoint) -> Origin:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else None
    return Origin(ep.name, ep.value, name or "(unknown distribution)",
                  dist.version if dist is not None else "?")


def _builtin_origin(name: str, obj: object) -> Origin:
    target = obj if isinstance(obj, type) else type(obj)
    return Origin(name, f"{target.__module__}:{target.__qualname__}")


class Registry(Generic[T]):
    """Maps names to components (classes or factories) of one kind.

    >>> methods: Registry[type] = Registry("method")
    >>> @methods.register("clip")
    ... class Clip: ...
    >>> methods.get("clip") is Clip
    True

    `group` names the entry-point group searched for plugins (None: built-ins only);
    `check(name, obj)` validates a loaded plugin (raise TypeError/ValueError saying what is
    wrong; it may set attributes such as the object's registry name) and returns it.
    """

    def __init__(self, kind: str, group: str | None = None,
                 check: Callable[[str, Any], T] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._entries: dict[str, T] = {}
        self._plugins: dict[str, list[metadata.EntryPoint]] | None = None  # None: not looked
        self._loaded: dict[str, T] = {}
        self._broken: dict[str, PluginError] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a built-in under `name`; a duplicate name raises."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The entry called `name` (importing a plugin on first use); an unknown name raises
        with a "did you mean", an unusable plugin raises PluginError."""
        if name in self._loaded:
            return self._loaded[name]
        claims = self._discover().get(name, []) if isinstance(name, str) else []
        if name in self._entries and not claims:
            return self._entries[name]
        if not claims:
            raise RegistryError(self.unknown_message(name))
        if name in self._entries or len(claims) > 1:
            raise PluginError(self._collision_message(name))
        if name not in self._broken:
            self._load(name, claims[0])
        if name in self._broken:
            raise self._broken[name]
        return self._loaded[name]

    def _load(self, name: str, ep: metadata.EntryPoint) -> None:
        where = f"{self.kind} {name!r}: {_origin(ep)}"
        try:
            obj = ep.load()
        except Exception as err:  # third-party import code can raise anything
            self._broken[name] = PluginError(
                f"{where} failed to import: {type(err).__name__}: {err}")
            return
        if self._entries.get(name) is obj:  # it registered itself by decorator on import
            del self._entries[name]
        try:
            self._loaded[name] = self._check(name, obj) if self._check else obj
        except (TypeError, ValueError) as err:
            self._broken[name] = PluginError(f"{where} is not a valid {self.kind}: {err}")

    def _collision_message(self, name: str) -> str:
        claims = [str(o) for o in self.origins(name)]
        return (f"{self.kind} name {name!r} is claimed {len(claims)} times: "
                f"{' and '.join(claims)}; rename the plugin's entry point (the YAML key)")

    def _discover(self) -> dict[str, list[metadata.EntryPoint]]:
        if self._plugins is None:
            found: dict[str, list[metadata.EntryPoint]] = {}
            if self.group is not None:
                for ep in metadata.entry_points(group=self.group):
                    found.setdefault(ep.name, []).append(ep)
            self._plugins = found
            for name, claims in found.items():
                if name in self._entries or len(claims) > 1:
                    warnings.warn(self._collision_message(name), PluginWarning, stacklevel=3)
        return self._plugins

    def origins(self, name: str) -> list[Origin]:
        """Every source claiming `name`: the built-in first, then plugin entry points."""
        out = [_builtin_origin(name, self._entries[name])] if name in self._entries else []
        return out + [_origin(ep) for ep in self._discover().get(name, [])]

    def origin(self, name: str) -> Origin:
        """Where the usable entry `name` comes from (raises like `get`)."""
        self.get(name)
        return self.origins(name)[0]

    def problem(self, name: str) -> PluginError | None:
        """Why `name` cannot be used (a collision, a failed import or check), or None."""
        try:
            self.get(name)
        except PluginError as err:
            return err
        return None

    def builtin(self, name: str) -> T:
        """The built-in registered as `name`, whatever plugins are installed (for what must
        not depend on them, e.g. the shipped JSON Schema of the study file)."""
        if name not in self._entries:
            raise RegistryError(f"no built-in {self.kind} {name!r} (built-ins: "
                                f"{', '.join(sorted(self._entries))})")
        return self._entries[name]

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, entry) for every usable name, loading every plugin; an unusable plugin is
        skipped with a PluginWarning (it is not needed by whoever iterates)."""
        for name in self.names():
            try:
                yield name, self.get(name)
            except PluginError as err:
                warnings.warn(str(err), PluginWarning, stacklevel=2)

    def refresh(self) -> None:
        """Forget the discovered plugins, so the next lookup reads the installed
        distributions again (after installing or removing one in a running process)."""
        importlib.invalidate_caches()
        self._plugins = None
        self._loaded.clear()
        self._broken.clear()

    def unknown_message(self, name: object) -> str:
        names = self.names()
        valid = ", ".join(names) or "(none registered)"
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (valid: {valid})"

    def names(self, pattern: str = "*", *, plugins: bool = True) -> list[str]:
        """Sorted registered names matching a shell-style pattern; with `plugins`, the names
        of installed plugins too (read from metadata: nothing is imported)."""
        every = set(self._entries)
        if plugins:
            every |= set(self._discover()) | set(self._loaded)
        return sorted(n for n in every if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries or (isinstance(name, str) and name in self.names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
