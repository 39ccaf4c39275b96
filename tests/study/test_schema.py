"""The study file's JSON Schema: the shipped file is what the generator makes now, every
shipped study names it and validates against it, and a bad key, option or value fails it —
each bad case also fails the study command itself, so the schema is never stricter than the
runtime check it helps an editor anticipate."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from robustlab.study import load_plan
from robustlab.study.cli import main
from robustlab.study.schema import SCHEMA_PATH, schema_text, study_schema
from robustlab.study.spec import SpecError, apply_override, load_raw

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [*sorted((ROOT / "studies").glob("*.yaml")), ROOT / "docs/examples/plugin/study.yaml"]
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)\n")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator: jsonschema.Draft7Validator, raw: Any) -> list[str]:
    """Every error as `path: message`, with those inside anyOf / if-then branches."""
    out, todo = [], list(validator.iter_errors(raw))
    while todo:
        error = todo.pop()
        out.append(f"{'.'.join(map(str, error.absolute_path))}: {error.message}")
        todo.extend(error.context or ())
    return out


def test_the_shipped_schema_is_what_the_generator_makes_now() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "robustlab/study/study.schema.json is stale: regenerate it with "
        "`python -m robustlab.study.schema`")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_study_names_the_schema_and_validates(
        path: Path, validator: jsonschema.Draft7Validator) -> None:
    text = path.read_text(encoding="utf-8")
    line = MODELINE.match(text)
    assert line, f"{path}: the first line must be the yaml-language-server $schema comment"
    assert (path.parent / line.group(1)).resolve() == SCHEMA_PATH.resolve()
    assert errors(validator, yaml.safe_load(text)) == []


# (override, where the schema says it is wrong) — each is also a SpecError of the study command
BAD = [
    ("budget.trails=4", "budget: Additional properties are not allowed ('trails'"),
    ("seeed=1", ": Additional properties are not allowed ('seeed'"),
    ("methods.gated_symile.use_nul=false", "methods.gated_symile: Additional properties"),
    ("methods.abl={method: gated_symile, neutral: zeros}", "methods.abl.neutral: 'zeros' is not"),
    ("methods.symile.negatives=n3", "methods.symile.negatives: 'n3' is not one of"),
    ("methods.clip.search={lr: {low: 1.0e-6}}", "methods.clip.search.lr"),
    ("methods.clip.search={temperature: 0.1}", "methods.clip.search: Additional properties"),
    ("search.lrr=0.001", "search: Additional properties are not allowed ('lrr'"),
    ("data.corruptoin=0.2", "data: Additional properties are not allowed ('corruptoin'"),
    ("encoder.width=64", "encoder: Additional properties are not allowed ('width'"),
    ("train.epochs=3", "train: Additional properties are not allowed ('epochs'"),
    ("train.perturbation_draw=twice", "train.perturbation_draw: 'twice' is not one of"),
    ("eval_grid.0.severity=[1, 6]", "eval_grid.0.severity.1: 6 is not one of [1, 2, 3, 4, 5]"),
    ("eval_grid.0.sevrity=2", "eval_grid.0: Additional properties are not allowed ('sevrity'"),
    ("eval_grid.0.fraction=1.5", "eval_grid.0.fraction"),
    ("eval_grid.0={op: signal_swap, modality: b}", "eval_grid.0: 'dims' is a required property"),
    ("eval_grid.0={compose: [{op: missing, modality: b}, {op: missing, modality: c, "
     "fraktion: 0.5}]}", "eval_grid.0.compose.1: Additional properties"),
    ("eval_grid.0={op: one_of, choices: [{op: missing, modality: b}, {op: missing, "
     "modality: [c]}]}", "eval_grid.0.choices.1.modality: ['c'] is not of type 'string'"),
    ("task.match=class", "task.match: 'class' is not one of"),
    ("report.correction=bonferroni", "report.correction: 'bonferroni' is not one of"),
    ("report.slices=[{column: site, bins: 1}]", "report.slices.0"),
    ("final.seeds=[]", "final.seeds: [] should be non-empty"),
]


@pytest.mark.parametrize("override,says", BAD, ids=[b[0].split("=")[0] for b in BAD])
def test_a_bad_key_or_value_fails_the_schema_and_the_study_command(
        override: str, says: str, validator: jsonschema.Draft7Validator) -> None:
    path = ROOT / "studies" / "noise.yaml"
    raw = apply_override(load_raw(path), override, "test")
    found = errors(validator, raw)
    assert any(e.startswith(says) or says in e for e in found), found
    with pytest.raises(SpecError, match=re.escape(override.split(".")[0].split("=")[0])):
        load_plan(path, smoke=True, overrides=[override])


def test_names_the_schema_does_not_know_are_left_to_the_plugin_check(
        validator: jsonschema.Draft7Validator) -> None:
    """A plugin's method, dataset or operator validates with any options; the study command
    still refuses it when no installed plugin has that name."""
    raw = load_raw(ROOT / "studies" / "noise.yaml")
    raw["data"] = {"kind": "mydata", "anything": 1}
    raw["methods"]["mine"] = {"method": "mymethod", "hidden": 64}
    raw["methods"]["their_method"] = {"width": 3}
    raw["eval_grid"].append({"op": "myop", "modality": "b", "level": [1, 2]})
    assert errors(validator, raw) == []
    # and the schema does list the built-ins, for completion
    schema = study_schema()
    assert "gated_symile" in schema["definitions"]["variant"]["properties"]["method"][
        "anyOf"][0]["enum"]


def test_every_study_key_has_a_description() -> None:
    """Editors show these on hover, and the docs' study-file reference prints them."""
    schema = study_schema()
    missing = [f"{where}.{key}" for where, node in
               [("(top)", schema), *schema["definitions"].items()]
               if where[:1].isupper() or where == "(top)"  # the pydantic models
               for key, prop in node.get("properties", {}).items()
               if not prop.get("description")]
    assert missing == [], "add a docstring under these fields in robustlab/study/spec.py"


def test_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    # with no plugin installed it is the shipped file; with plugins, a superset of it
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert set(shipped["definitions"]) <= set(printed["definitions"])
    assert printed["properties"].keys() == shipped["properties"].keys()


def test_the_yaml_language_server_comment_is_what_the_docs_show() -> None:
    """The modeline the docs tell users to copy is the one the shipped studies carry."""
    page = (ROOT / "docs" / "how-to" / "editor.md").read_text(encoding="utf-8")
    assert "# yaml-language-server: $schema=" in page
    assert os.path.relpath(SCHEMA_PATH, ROOT / "studies") in page


def test_the_readme_study_file_is_a_valid_study(
        tmp_path: Path, validator: jsonschema.Draft7Validator) -> None:
    """The annotated study file of the README validates against the schema and loads."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## A study file")[1].split("```yaml\n")[1].split("```")[0]
    assert MODELINE.match(block) and len(block.splitlines()) <= 22
    assert errors(validator, yaml.safe_load(block)) == []
    path = tmp_path / "my_study.yaml"
    path.write_text(block, encoding="utf-8")
    plan = load_plan(path, smoke=True)
    assert [v.name for v in plan.variants] == ["clip", "symile", "gated_symile",
                                               "gated_symile_no_null"]
