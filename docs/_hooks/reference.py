"""MkDocs hook: the reference pages' tables, generated from the code at build time.

A page asks for a table with a marker line of its own, e.g. `<!-- generated: cli study -->`;
this hook replaces the line with Markdown made from the code itself, so the reference
cannot drift from it:

    cli NAME          an argparse parser (NAME: robustlab, study, report, list)
    study-keys        every study-file key: type, allowed values, default, meaning (from the
                      JSON Schema, itself made from robustlab.study.spec and the registries)
    train-keys        the `train:` keys (robustlab.train.TrainConfig, via the schema)
    search-keys       the `search:` keys (the built-in methods' search spaces)
    registry KIND     each built-in entry of a registry with its options (KIND: methods,
                      datasets, encoders, operators)

An unknown marker stops the build. The hook imports robustlab, so the docs build in the
project's environment (`nox -s docs`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from typing import Any

from mkdocs.exceptions import PluginError

MARKER = re.compile(r"^<!-- generated: ([a-z-]+)(?: ([a-z]+))? -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_uri}: unknown generated block {name!r} "
                              f"(known: {', '.join(GENERATORS)})")
        return GENERATORS[name](arg)

    return MARKER.sub(replace, markdown)


# --- Markdown helpers ---------------------------------------------------------------------

def cell(text: object) -> str:
    """Text for one table cell: one line, pipes escaped, `<` and `>` outside code spans
    escaped (a description's `reports/<name>/` must not become an HTML tag)."""
    parts = " ".join(str(text).split()).split("`")
    for i in range(0, len(parts), 2):  # the even parts are outside backticks
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(value: object) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


# --- CLI ----------------------------------------------------------------------------------

def _parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    from robustlab import cli as top
    from robustlab.report import cli as report
    from robustlab.study import cli as study

    def list_parser() -> argparse.ArgumentParser:
        return argparse.ArgumentParser(prog="robustlab list", description=top.COMMANDS["list"][1])

    return {"robustlab": top.parser, "study": study.parser, "report": report.parser,
            "list": list_parser}


def cli(name: str | None) -> str:
    parsers = _parsers()
    if name not in parsers:
        raise PluginError(f"cli: unknown parser {name!r} (known: {', '.join(parsers)})")
    p = parsers[name]()
    out = [f"```text\n{p.format_usage().strip()}\n```\n"]
    if p.description:
        out.append(p.description + "\n")
    rows = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            rows += [(f"`{choice.name}`" if hasattr(choice, "name") else f"`{choice.dest}`",
                      "", choice.help) for choice in action._choices_actions]
            continue
        flag = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
        if action.option_strings and action.nargs != 0:
            flag += f" `{action.metavar or action.dest.upper()}`"
        shown = action.default not in (None, False, argparse.SUPPRESS, [])
        rows.append((flag, code(str(action.default)) if shown else "", action.help or ""))
    out.append(table(["argument", "default", "meaning"], rows))
    if p.epilog:
        out.append(f"```text\n{p.epilog.strip()}\n```\n")
    return "\n".join(out)


# --- the study file (from the JSON Schema) ------------------------------------------------

def _schema() -> dict[str, Any]:
    from robustlab.study.schema import study_schema

    return study_schema()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def describe(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """A schema node as words: its type and allowed values."""
    if "$ref" in node:
        target = node["$ref"].rsplit("/", 1)[1]
        return _REF_WORDS.get(target, "mapping (below)")
    if "const" in node:
        return code(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(code(v) for v in node["enum"])
    if "anyOf" in node:
        parts = [describe(schema, n) for n in node["anyOf"]]
        return " or ".join(dict.fromkeys(parts))
    kind = node.get("type")
    if kind == "array":
        items = node.get("items", {})
        inner = ("(" + ", ".join(describe(schema, i) for i in items) + ")"
                 if isinstance(items, list) else describe(schema, items))
        size = f", ≥ {node['minItems']} items" if node.get("minItems", 0) > 1 else (
            ", not empty" if node.get("minItems") == 1 else "")
        return f"list of {inner}{size}"
    words = {"integer": "integer", "number": "number", "string": "string",
             "boolean": "`true` / `false`", "null": "`null`", "object": "mapping"}
    text = words.get(kind, "any") if isinstance(kind, str) else "any"
    return text + _bounds(node)


_REF_WORDS = {"SliceSpec": "a column name or `{column, bins}`", "grid": "list of grid entries",
              "operator": "operator (`{op: NAME, ...fields}`)",
              "data": "mapping: `kind` + options", "encoder": "mapping: `kind` + options",
              "train": "mapping (below)", "search": "mapping (below)"}


def _bounds(node: dict[str, Any]) -> str:
    low = ("≥", node["minimum"]) if "minimum" in node else (
        (">", node["exclusiveMinimum"]) if "exclusiveMinimum" in node else None)
    high = ("≤", node["maximum"]) if "maximum" in node else (
        ("<", node["exclusiveMaximum"]) if "exclusiveMaximum" in node else None)
    parts = [f"{b[0]} {b[1]:g}" for b in (low, high) if b is not None]
    if node.get("pattern"):
        parts.append(f"matching `{node['pattern']}`")
    if node.get("minLength"):
        parts.append("not empty")
    return (" " + ", ".join(parts)) if parts else ""


def key_rows(schema: dict[str, Any], node: dict[str, Any], prefix: str = "",
             skip: Iterable[str] = ()) -> list[tuple[str, str, str, str]]:
    node = _resolve(schema, node)
    rows = []
    required = set(node.get("required", ()))
    for key, prop in node.get("properties", {}).items():
        if key in skip:
            continue
        default = ("**required**" if key in required else
                   code(prop["default"]) if "default" in prop else "")
        rows.append((f"`{prefix}{key}`", describe(schema, prop), default,
                     prop.get("description", "")))
    return rows


HEADER = ["key", "type and allowed values", "default", "meaning"]


def study_keys(_: str | None) -> str:
    schema = _schema()
    out = ["## Top level\n", table(HEADER, key_rows(schema, schema))]
    for key, prop in schema["properties"].items():
        target = _resolve(schema, prop)
        if prop.get("$ref", "").split("/")[-1][:1].isupper():  # a spec model: its own table
            out += [f"## `{key}`\n", target.get("description", "") + "\n",
                    table(HEADER, key_rows(schema, target, f"{key}."))]
            out += _nested_models(schema, target, key)
    return "\n".join(out)


def _nested_models(schema: dict[str, Any], node: dict[str, Any], where: str) -> list[str]:
    out = []
    for key, prop in node.get("properties", {}).items():
        for ref in _refs(prop):
            name = ref.split("/")[-1]
            if name[:1].isupper():
                sub = schema["definitions"][name]
                # a model that also takes a plain value (`SliceSpec`: a column name) wraps
                # its object schema in anyOf
                sub = next((s for s in sub.get("anyOf", ()) if "properties" in s), sub)
                out += [f"### `{where}.{key}` entries\n", sub.get("description", "") + "\n",
                        table(HEADER, key_rows(schema, sub, f"{where}.{key}[]."))]
    return out


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def train_keys(_: str | None) -> str:
    from robustlab.train import TrainConfig

    schema = _schema()
    rows = key_rows(schema, schema["definitions"]["train"], "train.")
    return options_table(rows) + "\n" + _docstring(TrainConfig)


def search_keys(_: str | None) -> str:
    from robustlab.methods import METHODS

    rows = []
    for key in sorted(_schema()["definitions"]["search"]["properties"]):
        owners = [n for n in METHODS.names(plugins=False)
                  if key in METHODS.builtin(n).search_space()]
        spaces = {_show_space(METHODS.builtin(n).search_space()[key]) for n in owners}
        rows.append((f"`search.{key}`", "; ".join(sorted(spaces)),
                     ", ".join(f"`{n}`" for n in owners)))
    return table(["key", "declared space", "methods"], rows)


def _show_space(dist: Any) -> str:
    from robustlab.tune.space import _show

    return _show(dist)


# --- registries ---------------------------------------------------------------------------

def registry(kind: str | None) -> str:
    from robustlab.study.schema import entries

    found = entries()
    makers: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
        "methods": _methods, "datasets": _kind_entries("dataset"),
        "encoders": _kind_entries("encoder"),
        "operators": _operators}
    if kind not in makers:
        raise PluginError(f"registry: unknown kind {kind!r} (known: {', '.join(makers)})")
    return makers[kind](getattr(found, kind), _schema())


def _intro(cls: Any) -> str:
    from robustlab.study.schema import _summary

    where = f"`{cls.__module__}.{cls.__qualname__}`"
    return f"{_summary(cls)}\n\nDefined in {where}.\n"


def _options_table(schema: dict[str, Any], definition: str, skip: Iterable[str]) -> str:
    rows = key_rows(schema, schema["definitions"][definition], skip=skip)
    if not rows:
        return "No options.\n"
    return options_table(rows, "option")


def options_table(rows: list[tuple[str, str, str, str]], first: str = "key") -> str:
    """The rows as a table; the meaning column only when some row has one (an options
    dataclass documents its fields in its docstring, shown above the table)."""
    if any(row[3] for row in rows):
        return table([first, "type and allowed values", "default", "meaning"], rows)
    return table([first, "type and allowed values", "default"], [row[:3] for row in rows])


def _docstring(cls: Any) -> str:
    """A class's own docstring, as Markdown paragraphs ('' if it has none)."""
    import inspect

    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) + "\n" if doc else ""


def _methods(found: dict[str, Any], schema: dict[str, Any]) -> str:
    out = []
    for name, cls in sorted(found.items()):
        space = cls.search_space()
        out += [f"## `{name}`\n", _intro(cls), _docstring(cls.Options),
                _options_table(schema, f"method.{name}", ("method", "search",
                                                          "train_perturbations")),
                "Searched by the tuner (a study's `search:` narrows or fixes these):\n",
                table(["key", "declared space"],
                      [(f"`{k}`", _show_space(d)) for k, d in space.items()])]
    return "\n".join(out)


def _kind_entries(section: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    """The page of a registry whose entries a study picks by `kind` (datasets, encoders):
    each entry's intro and its options under `<section>.<name>` of the schema."""
    def page(found: dict[str, Any], schema: dict[str, Any]) -> str:
        out = []
        for name, cls in sorted(found.items()):
            out += [f"## `{name}`\n", _intro(cls),
                    _options_table(schema, f"{section}.{name}", ("kind",))]
        return "\n".join(out)
    return page


def _operators(found: dict[str, Any], schema: dict[str, Any]) -> str:
    from robustlab.study.schema import NOT_AN_OP_ENTRY

    out = []
    for name, cls in sorted(found.items()):
        out += [f"## `{name}`\n", _intro(cls)]
        if name in NOT_AN_OP_ENTRY:
            out.append("In a study file: a grid entry `{compose: [step, step, ...]}`; each "
                       "step is a grid entry of its own and the composition crosses their "
                       "cells.\n")
            continue
        table_ = getattr(cls, "severities", None)
        if table_:
            out.append("Severity table: " + ", ".join(f"{k} → {v:g}"
                                                      for k, v in sorted(table_.items()))
                       + ".\n")
        out.append(_options_table(schema, f"op.{name}", ("op",)))
    return "\n".join(out)


GENERATORS: dict[str, Callable[[str | None], str]] = {
    "cli": cli, "study-keys": study_keys, "train-keys": train_keys,
    "search-keys": search_keys, "registry": registry,
}
