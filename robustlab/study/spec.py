"""The study file, validated strictly (DESIGN §7).

A study file is YAML. Its structure is checked here by frozen pydantic models with
`extra="forbid"` (an unknown key is an error naming its YAML path and the closest valid key);
everything that needs a registry (method, dataset, encoder, operator names, option fields,
modalities) is checked by `robustlab.study.resolve`, which reports errors the same way.

Overrides (`--set budget.trials=4`, a study's own `smoke:` block) edit the raw YAML mapping
before validation, so they pass through exactly the same checks as the file itself.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from robustlab.study.discovery_spec import DiscoverySpec

__all__ = [
    "BudgetSpec",
    "FinalSpec",
    "ReportSpec",
    "ResourcesSpec",
    "SliceSpec",
    "SpecError",
    "StudySpec",
    "TaskSpec",
    "apply_override",
    "load_raw",
    "parse_spec",
    "smoke_overrides",
]

# Protocol -> the validation metric the trainer reports for it (higher is better).
METRIC_OF_PROTOCOL = {"retrieval": "val_top1", "probe": "val_balanced_accuracy"}


class SpecError(ValueError):
    """A bad study file or override; the message starts with the file and the YAML path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class TaskSpec(_Strict):
    protocol: Literal["retrieval", "probe"] = "retrieval"
    target: str = "a"
    candidates: Literal["all"] | int = "all"
    match: Literal["item", "label"] = "item"

    @field_validator("candidates")
    @classmethod
    def _positive(cls, value: Literal["all"] | int) -> Literal["all"] | int:
        if isinstance(value, int) and value < 2:
            raise ValueError(f"must be 'all' or an int >= 2 (1 true + negatives), got {value}")
        return value


class BudgetSpec(_Strict):
    """Equal for every variant: trials, epochs per trial, scheduler, metric."""

    trials: int = Field(default=16, ge=1, le=100_000)
    epochs: int = Field(default=20, ge=1, le=100_000)
    scheduler: Literal["asha", "fifo"] = "asha"
    metric: Literal["val_top1", "val_balanced_accuracy"] = "val_top1"
    grace_period: int = Field(default=1, ge=1)
    reduction_factor: int = Field(default=3, ge=2)


class FinalSpec(_Strict):
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)

    @field_validator("seeds")
    @classmethod
    def _unique(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError(f"must be distinct non-negative ints, got {seeds}")
        return seeds


class ResourcesSpec(_Strict):
    """Per trial (and per final run): CPUs, GPUs ("auto" = a fraction if the cluster has
    GPUs, else 0), and how many trials run at once ("auto" = as many as fit the CPUs)."""

    cpu: float = Field(default=1.0, gt=0)
    gpu: float | Literal["auto"] = "auto"
    concurrency: int | Literal["auto"] = "auto"

    @field_validator("gpu")
    @classmethod
    def _gpu(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and value < 0:
            raise ValueError(f"must be 'auto' or a number >= 0, got {value}")
        return value

    @field_validator("concurrency")
    @classmethod
    def _concurrency(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"must be 'auto' or an int >= 1, got {value}")
        return value


class SliceSpec(_Strict):
    """One `report.slices` entry: a column name, or `{column: age, bins: 4}` to cut a numeric
    column into that many quantile bins (labelled by their ranges). A plain name stays a
    plain string in the resolved spec."""

    column: str = Field(min_length=1)
    bins: int | None = Field(default=None, ge=2, le=20)

    @model_validator(mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"column": value}
        if not isinstance(value, dict):
            raise ValueError("must be a column name or {column: NAME, bins: K}")
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        return self.column if self.bins is None else handler(self)


class ReportSpec(_Strict):
    slices: list[SliceSpec] = Field(default_factory=list)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "bh", "none"] = "holm"
    min_slice_size: int = Field(default=30, ge=1)
    discovery: DiscoverySpec = Field(default_factory=DiscoverySpec)  # docs/discovery.md


class StudySpec(_Strict):
    """One study file. Registry-dependent parts stay raw mappings here (see resolve.py)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(default=0, ge=0)
    data: dict[str, Any]
    task: TaskSpec = Field(default_factory=TaskSpec)
    methods: dict[str, dict[str, Any]] = Field(min_length=1)
    encoder: dict[str, Any] = Field(default_factory=lambda: {"kind": "mlp"})
    train: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Any] = Field(default_factory=dict)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    final: FinalSpec = Field(default_factory=FinalSpec)
    train_perturbations: list[dict[str, Any]] = Field(default_factory=list)
    eval_grid: list[dict[str, Any]] = Field(default_factory=list)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    smoke: dict[str, Any] = Field(default_factory=dict)

    @field_validator("methods")
    @classmethod
    def _variant_names(cls, methods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in methods:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"variant name {name!r} must be letters, digits and '_'")
        return methods


def load_raw(path: Path) -> dict[str, Any]:
    """The YAML mapping of a study file; a missing file or bad YAML raises SpecError."""
    if not path.is_file():
        raise SpecError(f"{path}: no such study file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a study file is a mapping of keys, got {type(raw).__name__}")
    return raw


def parse_spec(raw: Mapping[str, Any], where: str) -> StudySpec:
    """Validate the structure of `raw`; errors name `where` (the file) and the YAML path."""
    try:
        return StudySpec.model_validate(dict(raw))
    except ValidationError as err:
        lines = [_describe(e) for e in err.errors()]
        raise SpecError(f"{where}: " + "\n  ".join(lines)) from None


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(p) for p in error["loc"]]
    path = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{path}: unknown key{hint} (valid: {', '.join(valid)})"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f", got {value!r}"
    return f"{path}: {error['msg']}{shown}"


def _fields_at(loc: Sequence[str]) -> list[str]:
    model: Any = StudySpec
    for part in loc:
        if part.isdigit() and typing.get_origin(model) is list:  # a list item: its type
            model = typing.get_args(model)[0]
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return []
        model = fields[part].annotation
    return list(getattr(model, "model_fields", {}))


def apply_override(raw: dict[str, Any], assignment: str, where: str) -> dict[str, Any]:
    """A copy of `raw` with `key.path=value` applied (value parsed as YAML); list items are
    addressed by index (`eval_grid.0.fraction=[0.5]`). Bad syntax raises SpecError."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"{where}: expected key.path=value, got {assignment!r}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{where}: {key}: value {text!r} is not valid YAML: {err}") from None
    return set_path(raw, key.strip().split("."), value, where)


def set_path(raw: Any, parts: list[str], value: Any, where: str) -> Any:
    """Functional update of a nested mapping/list at `parts`; missing mappings are created
    (validation then reports an unknown key with its path)."""
    head, rest = parts[0], parts[1:]
    if isinstance(raw, list):
        if not head.isdigit() or int(head) >= len(raw):
            raise SpecError(f"{where}: {head!r} is not an index of a list of {len(raw)} items")
        copy: Any = list(raw)
        copy[int(head)] = set_path(raw[int(head)], rest, value, where) if rest else value
        return copy
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: cannot set {head!r} inside the value {raw!r}")
    copy = dict(raw)
    copy[head] = set_path(raw.get(head), rest, value, where) if rest else value
    return copy


def smoke_overrides(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`--smoke`: a tiny budget for CI. Built-in shrinking (at most 2 trials of 2 epochs with
    the FIFO scheduler, the first 2 final seeds), then the file's own `smoke:` block
    (`dotted.path: value`, usually a smaller `data.n`)."""
    out: dict[str, Any] = dict(raw)
    budget = out.get("budget") or {}
    if isinstance(budget, dict):  # anything else is reported by validation
        budget = dict(budget)
        for key, default in (("trials", 16), ("epochs", 20)):
            value = budget.get(key, default)
            budget[key] = min(value, 2) if isinstance(value, int) else value
        budget["scheduler"] = "fifo"  # ASHA over 2 epochs decides nothing; FIFO keeps CI exact
        out["budget"] = budget
    final = out.get("final") or {}
    if isinstance(final, dict) and isinstance(final.get("seeds", []), list):
        out["final"] = {**final, "seeds": list(final.get("seeds", [0, 1, 2]))[:2]}
    smoke = out.get("smoke") or {}
    if not isinstance(smoke, dict):
        raise SpecError(f"smoke: must be a mapping of dotted.path: value, got {smoke!r}")
    for key, value in smoke.items():
        out = set_path(out, str(key).split("."), value, f"smoke.{key}")
    return out
