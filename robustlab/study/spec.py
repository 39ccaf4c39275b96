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
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from robustlab.study.discovery_spec import DiscoverySpec

__all__ = [
    "BudgetSpec",
    "ContrastSpec",
    "FinalSpec",
    "ReportSpec",
    "ResourcesSpec",
    "SliceSpec",
    "SpecError",
    "StudySpec",
    "TaskSpec",
    "UntilDecidedSpec",
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
    # A docstring under a field is its description: in the JSON Schema (an editor's hover
    # text) and in the generated study-file reference of the docs.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False,
                              use_attribute_docstrings=True)


class TaskSpec(_Strict):
    """What is evaluated: retrieval of one modality from the other two, or a linear probe."""

    protocol: Literal["retrieval", "probe"] = "retrieval"
    """`retrieval`: retrieve `target` from the other two modalities; `probe`: a linear probe
    (logistic regression) on frozen features predicts the label."""
    target: str = "a"
    """The retrieved modality (a name of the dataset's modalities)."""
    candidates: Literal["all"] | Annotated[int, Field(ge=2)] = "all"
    """`all`: every test item (or the dataset's fixed bank); K: the true item + K−1 sampled."""
    match: Literal["item", "label"] = "item"
    """`item`: a hit when the true item ranks first; `label`: when the top candidate has the
    query's class (Symile-M3's class-level retrieval; needs labels)."""

    @field_validator("candidates")
    @classmethod
    def _positive(cls, value: Literal["all"] | int) -> Literal["all"] | int:
        if isinstance(value, int) and value < 2:
            raise ValueError(f"must be 'all' or an int >= 2 (1 true + negatives), got {value}")
        return value


class BudgetSpec(_Strict):
    """Equal for every variant: trials, epochs per trial, scheduler, metric."""

    trials: int = Field(default=16, ge=1, le=100_000)
    """Optuna (TPE) trials per variant."""
    epochs: int = Field(default=20, ge=1, le=100_000)
    """Maximum training epochs per trial and per final run."""
    scheduler: Literal["asha", "fifo"] = "asha"
    """`asha` stops poor trials early; `fifo` runs every trial to the end."""
    metric: Literal["val_top1", "val_balanced_accuracy"] = "val_top1"
    """The validation metric tuned (retrieval: `val_top1`; probe: `val_balanced_accuracy`)."""
    grace_period: int = Field(default=1, ge=1)
    """ASHA: epochs before a trial may be stopped."""
    reduction_factor: int = Field(default=3, ge=2)
    """ASHA: the share of trials kept at each rung is 1/reduction_factor."""


class UntilDecidedSpec(_Strict):
    """Seeds until decided: after the initial seeds, the variants of still-undecided declared
    contrasts get `step` more seeds per look, up to `max_seeds`; α is spent across the looks
    (robustlab.stats.until_decided)."""

    max_seeds: int = Field(ge=2, le=1000)
    """The cap: seeds per variant at the last look."""
    step: int = Field(default=2, ge=1)
    """Seeds added per look to each variant of an undecided contrast."""
    spending: Literal["obrien_fleming", "pocock"] = "obrien_fleming"
    """The Lan–DeMets α-spending function: little α early (O'Brien–Fleming) or evenly."""


class FinalSpec(_Strict):
    """The final runs: each variant's best config retrained on every seed."""

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    """Distinct non-negative training seeds of the final runs (5–10 for a claim)."""
    until_decided: UntilDecidedSpec | None = None
    """Add seeds where a declared contrast is still undecided (a group-sequential design)."""

    @field_validator("seeds")
    @classmethod
    def _unique(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError(f"must be distinct non-negative ints, got {seeds}")
        return seeds

    @model_validator(mode="after")
    def _cap(self) -> FinalSpec:
        if self.until_decided is not None and self.until_decided.max_seeds <= len(self.seeds):
            raise ValueError(f"until_decided.max_seeds ({self.until_decided.max_seeds}) must "
                             f"exceed the {len(self.seeds)} initial seeds")
        return self


class ResourcesSpec(_Strict):
    """Per trial (and per final run): CPUs, GPUs ("auto" = a fraction if the cluster has
    GPUs, else 0), and how many trials run at once ("auto" = as many as fit the CPUs)."""

    cpu: float = Field(default=1.0, gt=0)
    """CPUs per trial and per final run."""
    gpu: float | Literal["auto"] = "auto"
    """GPUs (or a fraction) per trial; `auto` shares the cluster's GPUs, 0 without any."""
    concurrency: int | Literal["auto"] = "auto"
    """Trials at once; `auto`: as many as fit the CPUs."""

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
    """A column of predictions.parquet (provenance, `observed`, or a metadata column)."""
    bins: int | None = Field(default=None, ge=2, le=20)
    """Cut a numeric column into this many quantile bins."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core: Any, handler: GetJsonSchemaHandler) -> Any:
        # the before-validator also takes a plain column name
        return {"anyOf": [{"type": "string", "minLength": 1}, handler(core)]}

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


class ContrastSpec(_Strict):
    """One `report.contrasts` entry: a declared question (robustlab.stats.contrasts). Exactly
    one of `pairs`, `twins`, `versus` (with `each`); `conditions`: "all" or selectors (a
    condition id, or {op, modality, level}). Names are checked against the study's variants
    and conditions when the study is resolved."""

    question: str | None = Field(default=None, min_length=1)
    """The question these contrasts answer, as the report's heading."""
    pairs: list[list[str]] | None = Field(default=None, min_length=1)
    """Explicit [a, b] pairs: Δ = acc(a) − acc(b)."""
    twins: str | None = Field(default=None, min_length=1)
    """A suffix: each variant `<x><suffix>` against its twin `<x>`."""
    versus: str | list[str] | None = None
    """The reference variant(s) the `each` variants are compared with."""
    each: Literal["all"] | str | list[str] | None = None
    """With `versus`: the variants compared (default: all the others)."""
    conditions: Literal["all"] | list[str | dict[str, Any]] = "all"
    """`all`, or condition ids / {op, modality, level} selectors."""

    @model_validator(mode="after")
    def _one_kind(self) -> ContrastSpec:
        kinds = [k for k in ("pairs", "twins", "versus") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"exactly one of pairs, twins, versus (got "
                             f"{', '.join(kinds) or 'none'})")
        if self.each is not None and self.versus is None:
            raise ValueError("each: goes with versus (each listed variant against it)")
        for i, pair in enumerate(self.pairs or []):
            if len(pair) != 2:
                raise ValueError(f"pairs.{i}: a pair is [a, b], got {pair}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}


class ReportSpec(_Strict):
    """What the report computes and how it decides (read again from the manifest when it is
    re-rendered)."""

    slices: list[SliceSpec] = Field(default_factory=list)
    """Slice columns; empty: `perturbed_modality`, `observed` and the metadata columns."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """Significance level of every test and interval."""
    correction: Literal["holm", "bh", "none"] = "holm"
    """Error control of the confirmatory tests: `holm` or `bh` hold the declared contrasts'
    family-wise error at alpha (Bonferroni: three-way verdicts admit no step-down) and
    correct the hidden-failure search by that name; `none` tests each contrast at alpha."""
    min_slice_size: int = Field(default=30, ge=1)
    """Smallest slice searched for hidden failures."""
    contrasts: list[ContrastSpec] = Field(default_factory=list)
    """The study's questions: the confirmatory family; empty: each variant vs the first."""
    margin: float = Field(default=0.02, gt=0, lt=1)
    """δ (accuracy units): two variants within ±δ of each other count as equivalent."""
    seed_variance: Literal["pooled", "separate"] = "pooled"
    """`pooled`: seed variances share strength across variants where the data allow."""
    discovery: DiscoverySpec = Field(default_factory=DiscoverySpec)
    """Automatic slice discovery (docs/discovery.md): search, confirm on held-out examples."""


class StudySpec(_Strict):
    """One study file. Registry-dependent parts stay raw mappings here (see resolve.py)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The study's name; results land in `reports/<name>/`."""
    seed: int = Field(default=0, ge=0)
    """Seeds the data split, the perturbed test set and the tuner."""
    data: dict[str, Any]
    """The dataset: `kind` (a registered dataset) and its options."""
    task: TaskSpec = Field(default_factory=TaskSpec)
    """The evaluation protocol."""
    methods: dict[str, dict[str, Any]] = Field(min_length=1)
    """Variant name -> options; `method:` picks the registered method (default: the name)."""
    encoder: dict[str, Any] = Field(default_factory=lambda: {"kind": "mlp"})
    """The backbone every method builds for each modality: `kind` and its options."""
    train: dict[str, Any] = Field(default_factory=dict)
    """Training settings shared by every trial and final run (epochs: `budget.epochs`)."""
    search: dict[str, Any] = Field(default_factory=dict)
    """Narrow (`{low, high}`), restrict (a list) or fix (a value) searched keys, for every
    variant whose search space has them."""
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    """The tuning budget, the same for every variant."""
    final: FinalSpec = Field(default_factory=FinalSpec)
    """The final runs."""
    train_perturbations: list[dict[str, Any]] = Field(default_factory=list)
    """Grid entries composed in order and applied to every training batch."""
    eval_grid: list[dict[str, Any]] = Field(default_factory=list)
    """Test conditions: each entry crosses an operator's `modality`, `severity` and
    `fraction` lists (or composes steps with `compose:`); `clean` is always evaluated."""
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    """Per-trial resources."""
    report: ReportSpec = Field(default_factory=ReportSpec)
    """The report's statistics."""
    smoke: dict[str, Any] = Field(default_factory=dict)
    """`--smoke` overrides, `dotted.path: value` (e.g. `data.n: 1000`)."""

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
    the FIFO scheduler, the first 2 final seeds and, with `until_decided`, one more look of one
    seed), then the file's own `smoke:` block
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
        if isinstance(final.get("until_decided"), dict):  # one extra look, one seed
            out["final"]["until_decided"] = {**final["until_decided"], "max_seeds": 3,
                                             "step": 1}
    smoke = out.get("smoke") or {}
    if not isinstance(smoke, dict):
        raise SpecError(f"smoke: must be a mapping of dotted.path: value, got {smoke!r}")
    for key, value in smoke.items():
        out = set_path(out, str(key).split("."), value, f"smoke.{key}")
    return out
