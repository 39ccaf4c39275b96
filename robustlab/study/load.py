"""Load a study file into a runnable Plan (smoke shrinking and `--set` overrides included),
and describe a plan for `--dry-run`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from robustlab.study.resolve import Plan, resolve
from robustlab.study.spec import apply_override, load_raw, parse_spec, smoke_overrides


def load_plan(path: Path, *, smoke: bool = False, overrides: Sequence[str] = ()) -> Plan:
    """Read, shrink (`smoke`), override, validate and resolve a study file. Raises SpecError
    naming the file and the YAML path of the first problem."""
    where = str(path)
    raw = load_raw(path)
    shrunk = smoke_overrides(raw)
    if not smoke:
        parse_spec(shrunk, f"{where} (smoke block)")  # a typo there fails now, not in CI
    else:
        raw = shrunk
    for assignment in overrides:
        raw = apply_override(raw, assignment, f"{where}: --set {assignment}")
    spec = parse_spec(raw, where)
    return resolve(spec, path.resolve())


def describe_plan(plan: Plan) -> str:
    """The resolved plan, for `--dry-run`."""
    spec, data = plan.spec, plan.dataset
    sizes = ", ".join(f"{k} {len(s)}" for k, s in data.splits.items())
    lines = [f"study {spec.name!r} from {plan.source}",
             f"data: {data.name} ({sizes}); modalities {', '.join(plan.modalities)}",
             f"task: {spec.task.protocol}, target {spec.task.target}, "
             f"candidates {spec.task.candidates}",
             f"encoder: {short(plan.encoder)}",
             f"methods ({len(plan.variants)} variants, each tuned on the same budget):"]
    for v in plan.variants:
        lines.append(f"  {v.name}: {v.method} {short(v.options)}")
        if v.train_perturbation is not plan.train_perturbation:
            lines.append(f"      trained under: {_describe_op(v.train_perturbation)}")
        for key, what in v.space.describe().items():
            lines.append(f"      {key}: {what}")
    b = spec.budget
    lines += [f"budget per variant: {b.trials} trials x {b.epochs} epochs, scheduler {b.scheduler}"
              f", metric {b.metric}, TPE seed {spec.seed}",
              f"estimated tuning trials: {plan.total_trials} "
              f"(<= {plan.total_trials * b.epochs} epochs)",
              f"final runs: {plan.total_final_runs} "
              f"({len(plan.variants)} variants x seeds {spec.final.seeds})" + _until(plan),
              f"train-time perturbation: {_describe_op(plan.train_perturbation)}",
              f"grid: {len(plan.conditions)} conditions (clean + {len(plan.conditions) - 1})"]
    lines += [f"  {c.id}" for c in plan.conditions[1:]]
    lines += _describe_contrasts(plan)
    rows = plan.total_final_runs * len(plan.conditions) * len(data.split("test"))
    r = spec.resources
    lines += [f"plugins: {_describe_plugins(plan)}",
              f"predictions: about {rows} rows",
              f"resources per trial: cpu {r.cpu:g}, gpu {r.gpu}, concurrency {r.concurrency} "
              f"(checked against the cluster at start)"]
    return "\n".join(lines)


def _until(plan: Plan) -> str:
    """", then seeds until decided: …" for a sequential final phase."""
    u = plan.spec.final.until_decided
    if u is None:
        return ""
    from robustlab.study.sequential import design_of

    design = design_of(plan)
    assert design is not None
    looks = design.looks()
    extra = (looks[-1] - looks[0]) * len(plan.variants)
    return (f", then seeds until decided: looks at {', '.join(map(str, looks))} seeds, "
            f"{u.spending} spending, at most {extra} more runs")


def _describe_contrasts(plan: Plan) -> list[str]:
    """The confirmatory family: its questions and size, and the level each contrast gets."""
    from robustlab.stats.contrasts import ConditionInfo, resolve

    report = plan.spec.report
    info = [ConditionInfo(c.id, c.op, c.modality, c.level) for c in plan.conditions]
    family = resolve([c.model_dump() for c in report.contrasts], [v.name for v in plan.variants],
                     info)
    if not family:
        return ["confirmatory contrasts: none (fewer than two variants)"]
    level = (f"each at α/{len(family)} = {report.alpha / len(family):.2g} (Bonferroni)"
             if report.correction != "none" else f"each at α = {report.alpha:g} (uncorrected)")
    lines = [f"confirmatory contrasts: {len(family)}, {level}; margin ±{report.margin:g}"]
    questions: dict[str, int] = {}
    for c in family:
        for q in c.questions:
            questions[q] = questions.get(q, 0) + 1
    return lines + [f"  {n} x {q}" for q, n in questions.items()]


def short(value: object) -> str:
    """A dataclass (options) as `Name(field=value, ...)` with floats to 3 significant digits:
    `logit_scale_init=2.66`, not `2.659260036932778` (the manifest keeps them whole)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(f"{f.name}={short(getattr(value, f.name))}"
                           for f in dataclasses.fields(value))
        return f"{type(value).__name__}({fields})"
    if isinstance(value, float):
        text = f"{value:.3g}"  # 2.66, 0.1, 1e-06; and 1.0 stays a float
        return text if any(c in text for c in ".en") else f"{text}.0"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(short(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _describe_op(op: object) -> str:
    return "none" if op is None else op.describe()  # type: ignore[attr-defined]


def _describe_plugins(plan: Plan) -> str:
    from robustlab.study.plugins import plugins_used

    used = plugins_used(plan)
    return "; ".join(f"{p['name']} ({p['kind']}) from {p['distribution']} {p['version']}"
                     for p in used) or "none (built-ins only)"
