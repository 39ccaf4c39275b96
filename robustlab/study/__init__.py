"""The study runner: `python -m robustlab.study FILE.yaml` (DESIGN §7–§9).

    from robustlab.study import load_plan, run_study, RunOptions
    plan = load_plan(Path("studies/noise.yaml"), smoke=True, overrides=["budget.trials=2"])
    run_study(plan, RunOptions(out=Path("reports/noise")))

Modules: `spec` (strict study-file models), `resolve` (registry lookups -> Plan), `grid`
(eval_grid -> conditions), `load` (file + smoke + --set -> Plan), `runner` (tune, finals,
results), `finals` (one final run), `units` (checksummed units of work in parts/), `folder`
(one writer per output folder, what a run checks before trusting it), `progress`, `manifest`,
`cli`.
"""

from robustlab.study.folder import StudyFolderError
from robustlab.study.load import describe_plan, load_plan
from robustlab.study.resolve import Plan, Variant
from robustlab.study.runner import RunOptions, run_study
from robustlab.study.spec import SpecError, StudySpec

__all__ = ["Plan", "RunOptions", "SpecError", "StudyFolderError", "StudySpec", "Variant",
           "describe_plan", "load_plan", "run_study"]
