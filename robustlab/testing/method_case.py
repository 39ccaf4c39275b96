"""The method battery's test case (a class, options, widths, an encoder, batches) and its
class rules: the rules about the class itself, checked once on its default options."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from perturbations.testing import RuleBroken, ensure
from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, Method, check_method_class, options_from
from robustlab.methods.encoders import Mlp
from robustlab.search_space import Choice, FloatRange, IntRange

DIMS = {"a": 5, "b": 6, "c": 7}
ENCODER = Mlp(dim=16, depth=2, hidden=16)


@dataclass(frozen=True)
class MethodCase:
    """A method class, option changes over its defaults, modality widths and an encoder."""

    cls: Any
    changes: Mapping[str, Any] = field(default_factory=dict)
    dims: Mapping[str, int] = field(default_factory=lambda: dict(DIMS))
    encoder: Any = ENCODER

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.dims)

    def options(self) -> Any:
        return dataclasses.replace(self.cls.Options(), **self.changes)

    def build(self, seed: int = 0) -> Method:
        return self.cls.build(self.options(), dict(self.dims), self.encoder, seed=seed)

    def batch(self, seed: int = 0, size: int = 8,
              missing: Mapping[str, Sequence[int]] | None = None) -> Batch:
        """Gaussian features; `missing` lists, per modality, rows whose mask is False (their
        values zeroed, as the data layer does)."""
        g = torch.Generator().manual_seed(seed)
        x = {m: torch.randn(size, d, generator=g) for m, d in self.dims.items()}
        mask = {m: torch.ones(size, dtype=torch.bool) for m in self.dims}
        for m, rows in (missing or {}).items():
            mask[m][list(rows)] = False
            x[m][list(rows)] = 0.0
        return Batch(x=x, mask=mask, index=torch.arange(size), label=torch.arange(size) % 2)

    def standard_batch(self) -> Batch:
        """Every modality missing on some rows, row 7 missing everything."""
        first, second, third = self.modalities[:3]
        return self.batch(0, missing={first: [0, 7], second: [1, 2, 7], third: [3, 7]})


# --- class rules


def _bad_value(hint: object) -> object:
    """A value of the wrong type or out of range for an option annotated `hint`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return "yes"
    if origin is typing.Literal or any(typing.get_origin(a) is typing.Literal for a in args):
        return "bogus"  # a Literal, or a union with one (e.g. bool | Literal["auto"])
    if hint is int or (type(None) in args and int in args):
        return -7
    if hint is float or (type(None) in args and float in args):
        return math.nan
    raise RuleBroken(f"no built-in bad value for an option annotated {hint!r}: pass one in "
                     f"bad_options")


def rule_options_validated(case: MethodCase, bad_options: Mapping[str, Any]) -> None:
    """Every option rejects a bad value with a ValueError naming `Options.field` and it."""
    cls = case.cls.Options
    default, hints = cls(), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        bad = bad_options[f.name] if f.name in bad_options else _bad_value(hints[f.name])
        try:
            dataclasses.replace(default, **{f.name: bad})
        except ValueError as err:
            ensure(f"{cls.__name__}.{f.name}: " in str(err) and repr(bad) in str(err),
                   f"{f.name}={bad!r}: the error must name '{cls.__name__}.{f.name}' and the "
                   f"value, got: {err}")
            continue
        raise RuleBroken(f"{cls.__name__}.{f.name} accepted the bad value {bad!r}")


def rule_unknown_option(case: MethodCase) -> None:
    """A misspelt option is an error with a "did you mean"; build refuses non-Options."""
    cls = case.cls.Options
    fields = [f.name for f in dataclasses.fields(cls)]
    if fields:
        typo = fields[0][:-1] + "x"
        try:
            options_from(cls, {typo: 1}, where="methods.v")
        except ValueError as err:
            ensure(f"methods.v.{typo}: unknown option" in str(err)
                   and f"did you mean {fields[0]!r}" in str(err), f"unclear error: {err}")
        else:
            raise RuleBroken(f"the unknown option {typo!r} was accepted")
    try:
        case.cls.build({}, dict(case.dims), case.encoder)
    except TypeError as err:
        ensure("options must be" in str(err), f"unclear error for a dict as options: {err}")
    else:
        raise RuleBroken("build accepted a dict instead of an Options instance")


def rule_search_space(case: MethodCase) -> None:
    """lr and weight_decay over the common ranges (equal footing); every other key is an
    option whose range ends are valid option values."""
    cls = case.cls
    space = cls.search_space()
    option_fields = {f.name for f in dataclasses.fields(cls.Options)}
    for key, dist in COMMON_SEARCH_SPACE.items():
        ensure(space.get(key) == dist, f"{key!r} must be searched over {dist} like every "
                                       f"method's, got {space.get(key)}")
    for key, dist in space.items():
        ensure(isinstance(dist, FloatRange | IntRange | Choice),
               f"{key!r}: {dist!r} is not a FloatRange, IntRange or Choice")
        ensure(key in set(COMMON_SEARCH_SPACE) | option_fields,
               f"{key!r} is neither lr/weight_decay nor an option of {cls.Options.__name__}")
        if key in option_fields:
            ends = dist.values if isinstance(dist, Choice) else (dist.low, dist.high)
            for value in ends:
                try:
                    cls.Options(**{key: value})
                except ValueError as err:
                    raise RuleBroken(f"{key!r}: the range end {value!r} is not a valid "
                                     f"option value: {err}") from None


def rule_build_validates_dims(case: MethodCase) -> None:
    """build rejects a non-positive modality width, naming it."""
    dims = dict.fromkeys(case.modalities, 3)
    dims[case.modalities[1]] = 0
    try:
        case.cls.build(case.options(), dims, case.encoder)
    except ValueError as err:
        ensure(f"dims[{case.modalities[1]!r}]: must be a positive int" in str(err),
               f"unclear error: {err}")
    else:
        raise RuleBroken("build accepted a modality of width 0")


def rule_interface(case: MethodCase) -> None:
    """A Method subclass, nothing abstract left, a frozen Options dataclass whose every field
    has a valid default (the registry checks plugins with the same function)."""
    check_method_class(case.cls)
