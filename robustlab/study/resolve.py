"""From a validated `StudySpec` to a runnable plan: every registry name looked up, every
option dataclass built, the dataset built, the grid expanded. Errors are SpecErrors naming
the study file and the YAML path (e.g. `methods.gsn.use_nul: unknown option ...`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustlab.study.discovery_spec import check_discovery
from robustlab.study.grid import Condition, compose_train, expand_entry, expand_grid
from robustlab.study.options import build_options, field_names, lookup
from robustlab.study.slices import check_slices, slice_columns
from robustlab.study.spec import METRIC_OF_PROTOCOL, SpecError, StudySpec
from robustlab.tune.space import SearchSpace, narrow

# Train-config fields the study sets elsewhere (so one knob has one place).
_TRAIN_ELSEWHERE = {"epochs": "budget.epochs", "seed": "seed / final.seeds"}


@dataclass(frozen=True)
class Variant:
    """One named entry of `methods`: a registered method + options + its search space."""

    name: str
    method: str
    options: Any
    space: SearchSpace
    train_perturbation: Any | None = None  # the variant's own, else the study's


@dataclass(frozen=True)
class Plan:
    """A resolved study: what the runner executes."""

    spec: StudySpec
    source: Path
    data: Any  # the dataset's frozen options
    dataset: Any  # the TrimodalDataset built from them with the study seed
    encoder: Any
    task: Any  # robustlab.evaluate.Task
    train: Any  # robustlab.train.TrainConfig (epochs from the budget, seed from the study)
    variants: tuple[Variant, ...]
    conditions: tuple[Condition, ...]
    train_perturbation: Any | None
    modalities: tuple[str, ...]

    @property
    def total_trials(self) -> int:
        return self.spec.budget.trials * len(self.variants)

    @property
    def total_final_runs(self) -> int:
        return len(self.spec.final.seeds) * len(self.variants)


def resolve(spec: StudySpec, source: Path) -> Plan:
    """Look everything up and build the dataset (with the study seed).
    Raises SpecError prefixed with `source`."""
    try:
        return _resolve(spec, source)
    except SpecError as err:
        raise SpecError(f"{source}: {err}") from None


def _resolve(spec: StudySpec, source: Path) -> Plan:
    from robustlab.evaluate import Task
    from robustlab.methods.encoders import ENCODERS

    data = build_data(spec.data, source)
    dataset = build_dataset(data, spec.seed)
    modalities = tuple(dataset.modalities)
    _check_task(spec, modalities)
    _check_match(spec, dataset)
    task = build_options(Task, spec.task.model_dump(), "task")
    encoder_cls = lookup(ENCODERS, spec.encoder.get("kind"), "encoder.kind")
    encoder = build_options(encoder_cls, _without(spec.encoder, "kind"), "encoder")
    train = _train_config(spec)
    train_op = _train_perturbation(spec.train_perturbations, modalities, "train_perturbations")
    variants = tuple(_variant(spec, name, raw, modalities, train_op)
                     for name, raw in spec.methods.items())
    conditions = tuple(expand_grid(spec.eval_grid, modalities))
    _check_bank_target(task, dataset, conditions)
    check_slices(spec.report.slices, dataset, conditions)
    check_contrasts(spec, variants, conditions)
    check_discovery(spec.report.discovery, spec.methods, slice_columns(dataset, conditions))
    return Plan(spec=spec, source=source, data=data, dataset=dataset, encoder=encoder,
                task=task, train=train, variants=variants, conditions=conditions,
                train_perturbation=train_op, modalities=modalities)


def check_contrasts(spec: StudySpec, variants: tuple[Variant, ...],
                    conditions: tuple[Condition, ...]) -> None:
    """`report.contrasts` against the study's variants and conditions (robustlab.stats)."""
    from robustlab.stats.contrasts import ConditionInfo, ContrastError, resolve

    entries = [c.model_dump() for c in spec.report.contrasts]
    info = [ConditionInfo(c.id, c.op, c.modality, c.level) for c in conditions]
    try:
        resolve(entries, [v.name for v in variants], info)
    except ContrastError as err:
        raise SpecError(str(err)) from None


def build_data(raw: dict[str, Any], source: Path) -> Any:
    """The dataset's options; a relative `path` is resolved against the study file's folder."""
    from robustlab.data import DATASETS

    cls = lookup(DATASETS, raw.get("kind"), "data.kind")
    values = _without(raw, "kind")
    if isinstance(values.get("path"), str) and not Path(values["path"]).is_absolute():
        values["path"] = str((source.parent / values["path"]).resolve())
    return build_options(cls, values, "data")


def build_dataset(data: Any, seed: int) -> Any:
    try:
        return data.build(seed)
    except (ValueError, OSError) as err:
        raise SpecError(f"data: {err}") from None


def _check_task(spec: StudySpec, modalities: tuple[str, ...]) -> None:
    if spec.task.protocol == "retrieval" and spec.task.target not in modalities:
        raise SpecError(f"task.target: unknown modality {spec.task.target!r} "
                        f"(the dataset's modalities: {', '.join(modalities)})")
    if spec.task.match == "label" and spec.task.protocol != "retrieval":
        raise SpecError(f"task.match: 'label' is a retrieval option (class-level matching); "
                        f"the {spec.task.protocol} protocol always scores the label "
                        "(remove task.match)")
    want = METRIC_OF_PROTOCOL[spec.task.protocol]
    if spec.budget.metric != want:
        raise SpecError(f"budget.metric: the {spec.task.protocol} protocol reports {want!r}, "
                        f"got {spec.budget.metric!r}")


def _check_match(spec: StudySpec, dataset: Any) -> None:
    """`match: label` counts a hit by class, so every split needs labels, and the target's
    candidates must be the split's labelled items (not a fixed, unlabelled bank)."""
    if spec.task.match != "label":
        return
    unlabelled = [s for s, split in dataset.splits.items() if split.label is None]
    if unlabelled or dataset.num_classes is None:
        raise SpecError(f"task.match: 'label' needs a dataset with labels, and "
                        f"{dataset.name!r} has none (in {', '.join(unlabelled) or 'num_classes'}"
                        "); use match: item")
    if spec.task.target in dataset.candidate_banks:
        raise SpecError(f"task.match: 'label' needs labelled candidates, and "
                        f"{dataset.name!r} retrieves {spec.task.target!r} from a fixed "
                        "unlabelled bank; use match: item")


def _check_bank_target(task: Any, dataset: Any, conditions: tuple[Condition, ...]) -> None:
    """A retrieval target drawn from a fixed candidate bank (symile_xor's 2^d vectors) is
    never read from the test split, so a condition that perturbs it would change nothing
    while claiming to: an error, not a silent no-op."""
    if task.protocol != "retrieval" or task.target not in dataset.candidate_banks:
        return
    for condition in conditions[1:]:
        if task.target in getattr(condition.operator, "modalities", ()):
            context = [m for m in dataset.modalities if m != task.target]
            raise SpecError(
                f"eval_grid: condition {condition.id!r} perturbs the retrieval target "
                f"{task.target!r}, whose candidates are dataset {dataset.name!r}'s fixed bank "
                f"(perturbations do not reach it); perturb {' or '.join(context)} instead"
            )


def _train_config(spec: StudySpec) -> Any:
    from robustlab.train import TrainConfig

    for key, elsewhere in _TRAIN_ELSEWHERE.items():
        if key in spec.train:
            raise SpecError(f"train.{key}: set it in {elsewhere}, not here")
    values = {**spec.train, "epochs": spec.budget.epochs, "seed": spec.seed}
    return build_options(TrainConfig, values, "train")


def _train_perturbation(entries: Any, modalities: tuple[str, ...], where: str) -> Any | None:
    """A list of grid entries -> every cell composed in order (None for an empty list)."""
    if not isinstance(entries, list):
        raise SpecError(f"{where}: expected a list of grid entries, got {entries!r}")
    return compose_train([op for i, e in enumerate(entries)
                          for op in expand_entry(e, modalities, f"{where}.{i}")])


def _variant(spec: StudySpec, name: str, raw: dict[str, Any], modalities: tuple[str, ...],
             study_train_op: Any | None) -> Variant:
    from robustlab.methods import METHODS

    where = f"methods.{name}"
    method_name = raw.get("method", name)
    cls = lookup(METHODS, method_name, f"{where}.method" if "method" in raw else where)
    option_values = _without(raw, "method", "search", "train_perturbations")
    options = _for_protocol(cls, build_options(cls.Options, option_values, where),
                            spec.task.protocol, where)
    declared = dict(cls.search_space())
    # Options the variant pins in the file are not searched: the ablation fixes them.
    for key in option_values:
        declared.pop(key, None)
    overrides = {**_applicable(spec.search, declared), **(raw.get("search") or {})}
    _check_global_search(spec.search)
    try:
        space = narrow(declared, overrides, f"{where}.search")
    except ValueError as err:
        raise SpecError(str(err)) from None
    _check_space_fields(cls, space, where)
    train_op = (_train_perturbation(raw["train_perturbations"], modalities,
                                    f"{where}.train_perturbations")
                if "train_perturbations" in raw else study_train_op)
    return Variant(name=name, method=method_name, options=options, space=space,
                   train_perturbation=train_op)


def _for_protocol(cls: Any, options: Any, protocol: str, where: str) -> Any:
    """The variant's options with the choices its method leaves to the protocol made (e.g.
    `pair_views: auto` -> true for retrieval): what is tuned, built, shown by `--dry-run`
    and recorded in the manifest."""
    try:
        return cls.for_protocol(options, protocol)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: {err}") from None


def _applicable(search: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """Top-level `search` keys apply to every variant whose space has them."""
    return {k: v for k, v in search.items() if k in declared}


def _check_global_search(search: dict[str, Any]) -> None:
    if not search:  # nothing to check: no plugin needs importing
        return
    from robustlab.methods import METHODS

    # every usable method, plugins included; a broken plugin is a warning here, not an error
    known = {k for _, cls in METHODS.items() for k in cls.search_space()}
    for key in search:
        if key not in known:
            raise SpecError(f"search.{key}: in no method's search space "
                            f"(valid: {', '.join(sorted(known))})")


def _check_space_fields(cls: Any, space: SearchSpace, where: str) -> None:
    """Every searched key must be a TrainConfig field or a field of the method's Options."""
    from robustlab.train import TrainConfig

    valid = set(field_names(TrainConfig)) | set(field_names(cls.Options))
    for key in [*space.free, *space.fixed]:
        if key not in valid:
            raise SpecError(f"{where}: search key {key!r} of {cls.__name__} is neither a "
                            f"training field nor an option (a bug in the method's space)")


def _without(raw: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in keys}
