"""`python -m robustlab.study FILE.yaml [options]` (or `robustlab study ...`): the product's
main command.

Exit status: 0 done; 1 the study ran but something after the results failed (the report);
2 bad input (study file, override, output folder, impossible resources, a damaged file that
cannot be rebuilt) with nothing written, or another run holds the output folder; 75 the disk
filled up (nothing is half-written: free space, then rerun with --resume to continue; 75 is
EX_TEMPFAIL of sysexits.h, "retry later"); 130 interrupted (rerun the same command to
continue). docs/faults.md lists every fault and what a rerun does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from robustlab.study.spec import SpecError

EPILOG = """\
examples:
  python -m robustlab.study studies/missing_modality.yaml
  python -m robustlab.study studies/noise.yaml --smoke --out /tmp/noise
  python -m robustlab.study studies/missing_modality.yaml --set budget.trials=4 --dry-run
  python -m robustlab.study studies/gate_ablation.yaml --address head:6379
  python -m robustlab.study --list        # methods, datasets, encoders, operators + plugins
  python -m robustlab.study --schema      # the study file's JSON Schema (for editors)

Results land in reports/<study name>/ (see --out): predictions.parquet, trials.parquet,
manifest.json, optuna.db and report.html. Rerunning the same command after a crash, Ctrl-C or
a full disk continues where it stopped (finished trials and final runs are kept; a damaged
one is redone). One run at a time may write a folder.

exit status: 0 done, 1 the report failed (results stand), 2 bad input or the folder is held
by another run, 75 the disk filled up (free space, rerun with --resume), 130 interrupted.
"""

DISK_FULL = 75  # sysexits.h EX_TEMPFAIL: retry later


PROG = "python -m robustlab.study"


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Tune every method of a study on equal budgets (Ray Tune + Optuna), "
                    "retrain the best configs on several seeds, evaluate them clean and "
                    "under every perturbation of the grid, and write the results + report.")
    p.add_argument("study", type=Path, nargs="?",
                   help="the study file (YAML), e.g. studies/noise.yaml")
    p.add_argument("--list", action="store_true",
                   help="list every registered method, dataset, encoder and perturbation with "
                        "where it comes from (built-in, or a plugin's distribution and "
                        "version) and exit; exit status 2 if a plugin cannot be used")
    p.add_argument("--schema", action="store_true",
                   help="print the JSON Schema of a study file (built-ins and the installed "
                        "plugins) and exit; the package ships the built-ins' as "
                        "robustlab/study/study.schema.json")
    p.add_argument("--smoke", action="store_true",
                   help="tiny budget for CI: <= 2 trials of <= 2 epochs, <= 2 seeds, FIFO, "
                        "plus the file's own `smoke:` overrides")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study key, validated like the file (repeatable), e.g. "
                        "--set budget.trials=4 --set methods.symile.negatives=n_squared")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: reports/<study name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the study in the output folder (an error if there is none); "
                        "rerunning without it continues too when the folder holds this study")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="join the Ray cluster whose head is at HOST:PORT (the address `ray "
                        "start --head` prints, e.g. head:6379; default: $RAY_ADDRESS, else "
                        "a local cluster)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate, print the resolved plan, the trial count and a rough "
                        "wall-time estimate (from timing a few training steps per method), "
                        "and exit without running")
    p.add_argument("--quiet", action="store_true",
                   help="no progress output (by default: live bars on a terminal, plain "
                        "lines with elapsed time and ETA otherwise)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    cli = parser(prog)
    args = cli.parse_args(argv)
    if args.list:
        return list_components()
    if args.schema:
        from robustlab.study.schema import schema_text

        print(schema_text(plugins=True), end="")
        return 0
    if args.study is None:
        cli.error("the study file is required (or --list)")
    from robustlab.study.load import describe_plan, load_plan

    try:
        plan = load_plan(args.study, smoke=args.smoke, overrides=args.overrides)
    except SpecError as err:
        return _fail(err)
    if args.dry_run:
        from robustlab.study.estimate import describe, estimate

        print(describe_plan(plan), flush=True)
        print("\n".join(describe(estimate(plan), plan)))
        return 0
    return _run(plan, args, list(argv) if argv is not None else sys.argv[1:])


def _run(plan: object, args: argparse.Namespace, command: list[str]) -> int:
    import optuna

    from robustlab.results import NO_SPACE, StorageError
    from robustlab.study.runner import RunOptions, run_study
    from robustlab.tune.cluster import ResourceError
    from robustlab.tune.tuner import TuningInterrupted

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI shows its own progress
    out = args.out or Path("reports") / plan.spec.name  # type: ignore[attr-defined]
    options = RunOptions(out=out, address=args.address or os.environ.get("RAY_ADDRESS"),
                         resume=args.resume, smoke=args.smoke,
                         progress=False if args.quiet else None, command=tuple(command))
    try:
        folder = run_study(plan, options)  # type: ignore[arg-type]
    except (SpecError, ResourceError) as err:
        return _fail(err)
    except (KeyboardInterrupt, TuningInterrupted):
        print(f"\ninterrupted; rerun the same command to continue in {out}", file=sys.stderr)
        return 130
    except StorageError as err:
        return _disk_full(str(err), out)
    except OSError as err:
        if err.errno not in NO_SPACE:
            raise
        return _disk_full(f"disk full: {err.strerror} (writing {err.filename})", out)
    return _finish(folder)


def _disk_full(what: str, out: Path) -> int:
    print(f"error: {what}. Nothing is half-written: free space on the filesystem of {out}, "
          f"then rerun with --resume to continue", file=sys.stderr)
    return DISK_FULL


def _finish(folder: Path) -> int:
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    report = manifest.get("report", {})
    print(f"results: {folder}")
    if report.get("status") == "written":
        print(f"report:  {report['path']}")
        return 0
    if report.get("status") == "skipped":
        print(f"report:  skipped ({report.get('reason')})")
        return 0
    print(f"report failed: {report.get('error')} (re-render: python -m robustlab.report "
          f"{folder})", file=sys.stderr)
    return 1


def list_components() -> int:
    """Print every registered component with its origin; 2 if a plugin cannot be used."""
    from robustlab.study.plugins import listing

    text, problems = listing()
    print(text)
    if problems:
        print(f"error: {problems} registered name(s) cannot be used (see ERROR above)",
              file=sys.stderr)
    return 2 if problems else 0


def _fail(err: Exception) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2
