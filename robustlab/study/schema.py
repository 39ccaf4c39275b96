"""The JSON Schema of a study file, generated from the spec models and the registries.

    python -m robustlab.study --schema        # print it (built-ins + installed plugins)

The schema ships in the package as `study.schema.json` (built-ins only, so it does not depend
on what is installed; a test keeps it equal to `schema_text()`), and every shipped study names
it in a first-line comment for YAML language servers (VS Code's YAML extension, ...):

    # yaml-language-server: $schema=../robustlab/study/study.schema.json

Where it comes from: the top-level keys and `task`, `budget`, `final`, `resources`, `report`
are the pydantic models of `robustlab.study.spec` (descriptions from their field docstrings,
so keys added there appear here by themselves); `data`, `encoder`, `methods.<variant>`,
`train`, `search` and the `eval_grid` / `train_perturbations` entries come from the
registries' option dataclasses. Each registry entry is one `if`/`then` branch keyed on
`kind`, `method` or `op`, so an editor completes and checks the options of exactly the entry
named. JSON Schema draft-07, what editors' YAML servers read.

Plugins cannot be known statically: a name the schema does not list (`method: mine`,
`kind: mydata`, `op: myop`, or a variant named after a plugin method) is accepted with any
options — the study command still checks it against the installed plugins. Regenerate the
schema with the plugins installed (`--schema`) to have their options checked too. Value
ranges that only an options class's `__post_init__` knows are checked when the study loads.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from robustlab.search_space import Choice, Distribution, FloatRange, IntRange
from robustlab.study.grid import AXES
from robustlab.study.spec import StudySpec

SCHEMA_PATH = Path(__file__).with_name("study.schema.json")
DRAFT = "http://json-schema.org/draft-07/schema#"
# Train-config fields a study sets elsewhere (resolve.py refuses them under `train`).
TRAIN_ELSEWHERE = ("epochs", "seed")
# Registered under `compose`, but a study composes with `{compose: [...]}` entries.
NOT_AN_OP_ENTRY = ("compose",)
_VARIANT_KEYS = ("method", "search", "train_perturbations")


@dataclasses.dataclass(frozen=True)
class Entries:
    """The registry entries a schema describes: name -> class, per kind."""

    methods: dict[str, Any]
    datasets: dict[str, Any]
    encoders: dict[str, Any]
    operators: dict[str, Any]


def entries(*, plugins: bool = False) -> Entries:
    """Built-ins only (what ships), or every usable entry with the installed plugins."""
    from perturbations import OPERATORS
    from robustlab.data import DATASETS
    from robustlab.methods import ENCODERS, METHODS

    def pick(registry: Any) -> dict[str, Any]:
        if plugins:
            return dict(registry.items())
        return {n: registry.builtin(n) for n in registry.names(plugins=False)}

    return Entries(methods=pick(METHODS), datasets=pick(DATASETS), encoders=pick(ENCODERS),
                   operators=pick(OPERATORS))


def study_schema(*, plugins: bool = False) -> dict[str, Any]:
    """The study file's JSON Schema (a draft-07 mapping)."""
    found = entries(plugins=plugins)
    schema = _spec_schema()
    defs: dict[str, Any] = schema["definitions"]
    props: dict[str, Any] = schema["properties"]
    defs.update(_method_defs(found.methods))
    defs.update(_kind_defs("dataset", found.datasets))
    defs.update(_kind_defs("encoder", found.encoders))
    defs.update(_operator_defs(found.operators))
    defs["train"] = _train_def()
    defs["search"] = _search_def(found.methods.values(), close=True)
    refine = {
        "data": _ref("data"), "encoder": _ref("encoder"), "methods": _methods_prop(found),
        "train": _ref("train"), "search": _ref("search"),
        "train_perturbations": _ref("grid"), "eval_grid": _ref("grid"), "smoke": _smoke(),
    }
    for key, detail in refine.items():  # keep the model's description and default
        kept = {k: v for k, v in props[key].items() if k in ("description", "default")}
        props[key] = {**detail, **kept}
    return schema


def schema_text(*, plugins: bool = False) -> str:
    """The schema as the shipped file holds it (sorted keys, 2-space indent, final newline)."""
    return json.dumps(study_schema(plugins=plugins), indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the shipped file (built-ins only)."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


# --- the pydantic part --------------------------------------------------------------------

def _spec_schema() -> dict[str, Any]:
    raw = StudySpec.model_json_schema(ref_template="#/definitions/{model}")
    defs = raw.pop("$defs", {})
    _fill_defaults(raw, StudySpec)
    models = _models(StudySpec)
    for name, sub in defs.items():
        if name in models:
            _fill_defaults(sub, models[name])
    schema = {"$schema": DRAFT, "title": "robustlab study file",
              **_clean(raw), "definitions": {k: _clean(v) for k, v in defs.items()}}
    schema["description"] = ("A robustlab study file: `python -m robustlab.study FILE` (or "
                             "`robustlab study FILE`) tunes, trains, evaluates and reports.")
    return schema


def _models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from `model`'s fields, by class name."""
    found: dict[str, type[BaseModel]] = {}
    todo = [model]
    while todo:
        current = todo.pop()
        for field in current.model_fields.values():
            for arg in _flatten(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel) \
                        and arg.__name__ not in found:
                    found[arg.__name__] = arg
                    todo.append(arg)
    return found


def _flatten(annotation: Any) -> Iterable[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _flatten(arg)


def _fill_defaults(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """pydantic leaves out defaults made by a factory (`final.seeds: [0, 1, 2]`); add them."""
    from pydantic_core import to_jsonable_python

    for name, field in model.model_fields.items():
        prop = schema.get("properties", {}).get(name)
        if prop is None or "default" in prop or field.is_required():
            continue
        prop["default"] = to_jsonable_python(field.get_default(call_default_factory=True))


def _clean(node: Any, keyword: bool = True) -> Any:
    """Drop pydantic's generated titles; tuples' `prefixItems` (2020-12) -> draft-07 `items`."""
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if keyword and key == "title":
            continue
        named = keyword and key in ("properties", "definitions", "patternProperties")
        out[key] = ({k: _clean(v) for k, v in value.items()} if named else _clean(value))
    if keyword and "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out.setdefault("additionalItems", False)
    return out


# --- registry entries ---------------------------------------------------------------------

def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def _name_prop(names: Iterable[str], what: str) -> dict[str, Any]:
    """A registry name: the known ones for completion, any string for plugins."""
    return {"anyOf": [{"enum": sorted(names)}, {"type": "string"}],
            "description": f"a registered {what} (built-in or plugin)"}


def _branches(key: str, names: Iterable[str], prefix: str) -> list[dict[str, Any]]:
    return [{"if": {"properties": {key: {"const": n}}, "required": [key]},
             "then": _ref(f"{prefix}.{n}")} for n in sorted(names)]


def _kind_defs(kind: str, found: dict[str, Any]) -> dict[str, Any]:
    """`data` / `encoder`: `kind` picks the entry whose options the other keys are."""
    key = "data" if kind == "dataset" else kind
    defs = {f"{kind}.{n}": _options(cls, extra={"kind": {"const": n}}, required=("kind",))
            for n, cls in found.items()}
    defs[key] = {"type": "object", "required": ["kind"],
                 "properties": {"kind": _name_prop(found, kind)},
                 "allOf": _branches("kind", found, kind)}
    return defs


def _method_defs(found: dict[str, Any]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for name, cls in found.items():
        extra = {"method": {"const": name},
                 "search": _search_def([cls], close=True),
                 "train_perturbations": {**_ref("grid"),
                                         "description": "this variant's own (replaces the "
                                                        "study's train_perturbations)"}}
        defs[f"method.{name}"] = _options(cls.Options, extra=extra, doc=cls)
        # a variant named after the method, without `method:`, is that method
        defs[f"variant.{name}"] = {"if": {"required": ["method"]}, "then": _ref("variant"),
                                   "else": _ref(f"method.{name}")}
    defs["variant"] = {"type": "object", "properties": {"method": _name_prop(found, "method")},
                       "allOf": _branches("method", found, "method")}
    return defs


def _methods_prop(found: Entries) -> dict[str, Any]:
    return {"type": "object", "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"},
            "properties": {n: _ref(f"variant.{n}") for n in sorted(found.methods)},
            "additionalProperties": _ref("variant")}


def _train_def() -> dict[str, Any]:
    from robustlab.train import TrainConfig

    return _options(TrainConfig, skip=TRAIN_ELSEWHERE)


def _smoke() -> dict[str, Any]:
    return {"type": "object",
            "propertyNames": {"pattern": "^[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*$"}}


# --- perturbation operators ---------------------------------------------------------------

def _operator_defs(found: dict[str, Any]) -> dict[str, Any]:
    ops = {n: cls for n, cls in found.items() if n not in NOT_AN_OP_ENTRY}
    defs: dict[str, Any] = {}
    for name, cls in ops.items():
        defs[f"op.{name}"] = _options(cls, extra={"op": {"const": name}}, required=("op",),
                                      field=_operator_field(cls, axes=False))
        defs[f"grid.{name}"] = _options(cls, extra={"op": {"const": name}}, required=("op",),
                                        field=_operator_field(cls, axes=True))
    single = {"type": "object", "required": ["op"],
              "properties": {"op": _name_prop(ops, "perturbation operator")}}
    defs["operator"] = {**single, "allOf": _branches("op", ops, "op")}
    defs["grid.single"] = {**single, "allOf": _branches("op", ops, "grid")}
    defs["grid.compose"] = {
        "type": "object", "required": ["compose"], "additionalProperties": False,
        "properties": {"compose": {"type": "array", "minItems": 2,
                                   "items": _ref("grid.entry"),
                                   "description": "steps applied in order; the product of "
                                                  "their cells"}}}
    defs["grid.entry"] = {"if": {"required": ["compose"]}, "then": _ref("grid.compose"),
                          "else": _ref("grid.single")}
    defs["grid"] = {"type": "array", "items": _ref("grid.entry")}
    return defs


def _operator_field(cls: Any, *, axes: bool) -> Callable[[str, Any], dict[str, Any] | None]:
    """Operator fields that plain types do not say: the severity table, the fraction's
    range, nested operators; in a grid entry the axes take a value or a list of values."""
    table = getattr(cls, "severities", None) or {}
    nested = getattr(cls, "nested_fields", ())

    def field(name: str, hint: Any) -> dict[str, Any] | None:
        if name in nested:
            return {"type": "array", "items": _ref("operator"), "minItems": 1}
        if name == "severity" and table:
            one: dict[str, Any] = {"enum": sorted(table)}
        elif name == "fraction":
            one = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
        else:
            one = _type_schema(hint)
        if axes and name in AXES:
            return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}
        return one

    return field


# --- options dataclasses -> object schemas ------------------------------------------------

def _options(cls: Any, *, extra: dict[str, Any] | None = None, required: Iterable[str] = (),
             skip: Iterable[str] = (), doc: Any = None,
             field: Callable[[str, Any], dict[str, Any] | None] | None = None,
             ) -> dict[str, Any]:
    """An options dataclass as a closed object: one property per init field, with its type,
    default and allowed values; fields without a default are required."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a plugin's annotations may not resolve here: types left open
        hints = {}
    props: dict[str, Any] = dict(extra or {})
    need = list(required)
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        hint = hints.get(f.name, Any)
        prop = (field(f.name, hint) if field else None) or _type_schema(hint)
        default = _default(f)
        if default is not dataclasses.MISSING:
            prop = {**prop, "default": default}
        elif f.name not in need:
            need.append(f.name)
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "additionalProperties": False}
    if need:
        out["required"] = need
    text = _summary(doc if doc is not None else cls)
    if text:
        out["description"] = text
    return out


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return dataclasses.MISSING
    value = _jsonable(value)
    return dataclasses.MISSING if value is _UNSHOWABLE else value


_UNSHOWABLE = object()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        items = [_jsonable(v) for v in value]
        return _UNSHOWABLE if _UNSHOWABLE in items else items
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _UNSHOWABLE
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _UNSHOWABLE


def _type_schema(hint: Any) -> dict[str, Any]:
    """A Python annotation as JSON Schema, for the types options use; anything else: open."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    simple = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "string",
              type(None): "null"}
    if hint in simple:
        return {"type": simple[hint]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin in (tuple, list) and args:
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", "items": _type_schema(args[0])}
        return {"type": "array", "items": [_type_schema(a) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    return {}


def _summary(obj: Any) -> str:
    """The first paragraph of a class's own docstring (else its module's), on one line."""
    doc = obj.__dict__.get("__doc__") or inspect.getdoc(inspect.getmodule(obj)) or ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


# --- search spaces ------------------------------------------------------------------------

def _search_def(methods: Iterable[Any], *, close: bool) -> dict[str, Any]:
    """`search`: each key of the methods' spaces, as a fixed value, a `{low, high}` sub-range
    or a list of values within the declared space."""
    spaces: dict[str, list[Distribution]] = {}
    for cls in methods:
        for key, dist in cls.search_space().items():
            spaces.setdefault(key, []).append(dist)
    props = {key: _search_value(dists) for key, dists in sorted(spaces.items())}
    return {"type": "object", "properties": props, "additionalProperties": not close}


def _search_value(dists: list[Distribution]) -> dict[str, Any]:
    if all(isinstance(d, Choice) for d in dists):
        values = sorted({v for d in dists for v in d.values  # type: ignore[union-attr]
                         }, key=repr)
        one: dict[str, Any] = {"enum": values}
        return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}
    if not all(isinstance(d, FloatRange | IntRange) for d in dists):
        return {}
    kind = "integer" if all(isinstance(d, IntRange) for d in dists) else "number"
    low = min(d.low for d in dists)  # type: ignore[union-attr]
    high = max(d.high for d in dists)  # type: ignore[union-attr]
    one = {"type": kind, "minimum": low, "maximum": high}
    return {"anyOf": [one,
                      {"type": "object", "properties": {"low": one, "high": one},
                       "additionalProperties": False, "minProperties": 1},
                      {"type": "array", "items": one, "minItems": 1}],
            "description": f"searched in [{low:g}, {high:g}]; a value fixes it, "
                           "{low, high} narrows it, a list restricts it to those values"}


if __name__ == "__main__":  # python -m robustlab.study.schema: regenerate the shipped file
    print(write_schema())
